"""One headless ComfyUI per test session, with the pack linked into custom_nodes/ and a
generated thin SD1.5 checkpoint (never committed)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from tests.comfy_support.comfy_server import start_test_server

    srv = start_test_server(tmp_path_factory.mktemp("comfy_server"))
    yield srv
    srv.stop()

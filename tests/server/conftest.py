"""One headless ComfyUI per test session, with the pack linked into custom_nodes/ and a
generated thin SD1.5 checkpoint (never committed)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "comfy_support"
THIN = "thin_sd15.safetensors"


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from tests.comfy_support import generated
    from tests.comfy_support.comfy_server import ComfyServer

    work = tmp_path_factory.mktemp("comfy_server")
    srv = ComfyServer(work, threads=int(os.environ.get("ADVANCHOR_TEST_THREADS", "1")))
    srv.prepare()
    generated.link_into(srv.checkpoints, "checkpoint.py", THIN)
    srv.add_custom_nodes(SUPPORT / "tiny_nodes")  # Flux's text encoder (tests/test_flow_server.py)
    srv.start()
    yield srv
    srv.stop()

"""Suite-wide switch: ADVANCHOR_FLOOR_RUN=1 (scripts/test.sh's second run, on the oldest ComfyUI
the pack supports) leaves out the tests whose result does not depend on ComfyUI (tests/core,
tests/lab, tests/test_rooms.py: they already ran once) and the browser test (it checks the newest frontend)."""
from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FLOOR_SKIPS = [TESTS / "core", TESTS / "lab", TESTS / "test_rooms.py", TESTS / "workflows" / "test_browser.py"]


def left_out(path) -> bool:
    path = Path(path).resolve()
    return os.environ.get("ADVANCHOR_FLOOR_RUN") == "1" and \
        any(path == p or path.is_relative_to(p) for p in FLOOR_SKIPS)


def pytest_ignore_collect(collection_path, config):
    return True if left_out(collection_path) else None


def pytest_collection_modifyitems(config, items):
    """Test files named on the command line are collected even when ignored: deselect them."""
    dropped = [i for i in items if left_out(i.path)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]

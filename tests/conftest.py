"""Suite-wide switch: ADVANCHOR_COMFYUI_TESTS_ONLY=1 leaves out the tests that never import
ComfyUI (tests/core, tests/lab). scripts/test.sh sets it for its second run, on ComfyUI 0.12.1:
those tests already ran once, and their result does not depend on ComfyUI."""
from __future__ import annotations

import os
from pathlib import Path

COMFYUI_FREE = [Path(__file__).resolve().parent / name for name in ("core", "lab")]


def pytest_ignore_collect(collection_path, config):
    if os.environ.get("ADVANCHOR_COMFYUI_TESTS_ONLY") != "1":
        return None
    path = Path(collection_path).resolve()
    if any(path == d or path.is_relative_to(d) for d in COMFYUI_FREE):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    """Test files named on the command line are collected even when ignored: deselect them."""
    if os.environ.get("ADVANCHOR_COMFYUI_TESTS_ONLY") != "1":
        return
    free = [i for i in items if any(Path(i.path).resolve().is_relative_to(d) for d in COMFYUI_FREE)]
    if free:
        config.hook.pytest_deselected(items=free)
        items[:] = [i for i in items if i not in free]

"""In-process fixtures: ComfyUI imported once per session on the CPU, the pack loaded as
ComfyUI loads a custom node folder, tiny seeded SD1.5-layout models."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from comfy_support import runtime  # noqa: E402

# Tiny models: one thread is fastest, and on a shared machine extra threads thrash.
torch.set_num_threads(int(os.environ.get("ADVANCHOR_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def output_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("comfy_output")


@pytest.fixture(scope="session")
def comfy(output_dir):
    runtime.bootstrap(str(output_dir))
    return runtime.comfyui_dir()


@pytest.fixture(scope="session")
def pack(comfy):
    return runtime.load_pack()


@pytest.fixture(scope="session")
def tiny(comfy):
    from comfy_support import tiny as t

    return {"model": t.tiny_model(0), "clip": t.tiny_clip(1), "vae": t.tiny_vae(2)}

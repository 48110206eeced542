"""The example workflows in workflows/, run the way a user runs them: one headless ComfyUI
(the pack in custom_nodes/, a generated thin SD1.5 checkpoint), each workflow converted from
its UI format with the server's own /object_info, shrunk to test sizes, then queued."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
WORKFLOWS = REPO / "workflows"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(REPO / "scripts"))   # ui_format: the UI-format reader the build script uses too
from ui_format import set_widget  # noqa: E402

THIN = "thin_sd15.safetensors"

# Test sizes: each entry must name an existing widget (a renamed input fails here, loudly).
SHRINK = {
    "CheckpointLoaderSimple": {"ckpt_name": THIN},
    "EmptyLatentImage": {"width": 64, "height": 64},
    "KSampler": {"steps": 2},
    "AdvAnchorUnlearn": {"iterations": 2, "lr": 1e-3, "sample_size": 64, "sample_count": 1,
                         "sample_steps": 2, "anchor_steps": 2},
    "AdvAnchorSearchAnchor": {"draws": 1, "steps": 2, "sample_size": 64, "sample_count": 1,
                              "sample_steps": 2},
    "AdvAnchorConceptSensitivity": {"sample_size": 64, "probe_latents": 1},
    "AdvAnchorAttackErasure": {"steps": 2, "sample_size": 64, "sample_count": 1, "sample_steps": 2},
    "AdvAnchorMeasureErasure": {"width": 64, "height": 64, "steps": 2, "samples": 1},
}


def workflow_names() -> list[str]:
    return sorted(p.stem for p in WORKFLOWS.glob("*.json"))


def load_workflow(name: str) -> dict:
    return json.loads((WORKFLOWS / f"{name}.json").read_text())


def shrink(workflow: dict, object_info: dict, lora: str | None = None) -> dict:
    """A copy of a UI workflow on the thin checkpoint with test sizes (and a given LoRA file)."""
    wf = copy.deepcopy(workflow)
    for node in wf["nodes"]:
        changes = dict(SHRINK.get(node["type"], {}))
        if node["type"] in ("LoraLoader", "LoraLoaderModelOnly") and lora:
            changes["lora_name"] = lora
        for name, value in changes.items():
            set_widget(node, object_info[node["type"]], name, value)
    return wf


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from comfy_support.comfy_server import ComfyServer

    work = tmp_path_factory.mktemp("comfy_workflows")
    srv = ComfyServer(work, threads=int(os.environ.get("ADVANCHOR_TEST_THREADS", "1")))
    srv.prepare()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(TESTS / "comfy_support" / "checkpoint.py"),
                    str(srv.checkpoints / THIN)], check=True, env=env, capture_output=True)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def object_info(server) -> dict:
    return server.get("/object_info")

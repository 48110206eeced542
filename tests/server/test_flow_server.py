"""SD3 in the headless server, loaded the way SD3 users load it: the transformer with
UNETLoader, the text encoder with CLIPLoader (type sd3), the VAE with VAELoader — thin files
ComfyUI itself detects (tests/comfy_support/checkpoint_dit.py). Erase → sample the original and
the erased model at one seed → save the erasure as a LoRA → a fresh graph loads it with
LoraLoaderModelOnly and samples what the erased model sampled. Flux has no thin file ComfyUI
detects (24 heads of 128 channels are fixed), so it is tested in process only."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import graphs  # noqa: E402
from comfy_support.comfy_server import messages, succeeded  # noqa: E402

SUPPORT = Path(__file__).resolve().parents[1] / "comfy_support"
sys.path.insert(0, str(SUPPORT))
from checkpoint_dit import FILES  # noqa: E402


@pytest.fixture(scope="module")
def sd3_files(server):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, str(SUPPORT / "checkpoint_dit.py"), str(server.base / "models")],
                   check=True, env=env, capture_output=True)
    return FILES


def loaders() -> dict:
    return {"1": {"class_type": "UNETLoader", "inputs": {"unet_name": FILES["diffusion_models"],
                                                          "weight_dtype": "default"}},
            "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": FILES["text_encoders"],
                                                          "type": "sd3"}},
            "3": {"class_type": "VAELoader", "inputs": {"vae_name": FILES["vae"]}},
            "5": graphs.encode(["2", 0], "Van Gogh painting"),
            "7": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64,
                                                                   "batch_size": 1}}}


def sampled(model: list, prefix: str, first: int) -> dict:
    """KSampler (one step, seed 7) → VAEDecode → SaveImage, node ids from `first`."""
    a, b, c = (str(first + i) for i in range(3))
    return {a: graphs.sample(model, ["5", 0], ["5", 0], ["7", 0], steps=1),
            b: {"class_type": "VAEDecode", "inputs": {"samples": [a, 0], "vae": ["3", 0]}},
            c: {"class_type": "SaveImage", "inputs": {"images": [b, 0], "filename_prefix": prefix}}}


def image(server, entry, node_id: str) -> np.ndarray:
    f = entry["outputs"][node_id]["images"][0]
    return np.asarray(Image.open(server.output / f["subfolder"] / f["filename"]), dtype=np.int16)


def test_sd3_from_separate_loaders_erases_and_its_lora_reloads(server, sd3_files):
    graph = loaders() | {
        "4": graphs.concept(),
        "6": graphs.unlearn(["1", 0], ["2", 0], ["4", 0], iterations=2, anchor_steps=1, lr=1e-2,
                            parameters="xattn-kv"),
        "20": {"class_type": "AdvAnchorSaveErasure", "inputs": {
            "erasure": ["6", 1], "format": "LoRA", "rank": 1024, "filename_prefix": "sd3_erasure"}},
    } | sampled(["1", 0], "sd3_original", 10) | sampled(["6", 0], "sd3_erased", 13)
    entry = server.run(graph, timeout=300)
    assert succeeded(entry), json.dumps(messages(entry, "execution_error"))[:3000] + server.log_text()[-3000:]
    assert "SD3" in server.log_text()                     # ComfyUI's own detection
    original, erased = image(server, entry, "12"), image(server, entry, "15")
    assert np.abs(original - erased).max() > 0            # the erasure changes the sample
    lora = entry["outputs"]["20"]["advanchor_files"][0]
    name = os.path.relpath(os.path.join(lora["subfolder"], lora["filename"]), "loras")
    reload = loaders() | {"8": {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["1", 0], "lora_name": name, "strength_model": 1.0}}} | sampled(["8", 0], "sd3_lora", 10)
    entry = server.run(reload, timeout=300)
    assert succeeded(entry), json.dumps(messages(entry, "execution_error"))[:3000]
    assert np.abs(image(server, entry, "12") - erased).max() <= 1

"""The pack in the headless server on thin checkpoints ComfyUI itself detects as SDXL (Segmind
Vega layout, two text encoders) and SD2.x (v-prediction): erase → sample → save; the saved SDXL
checkpoint reloads and differs from its input only in the preset's tensors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from tests.server import graphs
from tests.comfy_support import generated
from tests.comfy_support.comfy_server import messages, succeeded

SUPPORT = Path(__file__).resolve().parents[1] / "comfy_support"
THIN = {"sdxl": "thin_sdxl.safetensors", "sd2": "thin_sd2_v.safetensors"}


@pytest.fixture(scope="module")
def family_checkpoints(server):
    for family, name in THIN.items():
        generated.link_into(server.checkpoints, "checkpoint.py", name, "0", family)
    return THIN


def erase_graph(name: str, prefix: str, parameters: str) -> dict:
    """Loader → Concept → Unlearn → KSampler → VAEDecode → SaveImage, + Save Erased Checkpoint.
    One CLIPTextEncode feeds both sides of the sampler: text encoding dominates on a CPU."""
    return {
        "1": graphs.loader(name),
        "2": graphs.concept(),
        "4": graphs.unlearn(["1", 0], ["1", 1], ["2", 0], iterations=2, anchor_steps=1,
                            parameters=parameters),
        "5": graphs.encode(["1", 1], "Van Gogh painting"),
        "7": graphs.empty_latent(),
        "8": graphs.sample(["4", 0], ["5", 0], ["5", 0], ["7", 0], steps=1),
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": prefix}},
        "11": {"class_type": "AdvAnchorSaveErasedCheckpoint", "inputs": {
            "model": ["4", 0], "clip": ["1", 1], "vae": ["1", 2], "filename_prefix": prefix}},
    }


def error_text(entry) -> str:
    return json.dumps(messages(entry, "execution_error"))


def saved(entry, node_id) -> dict:
    out = entry["outputs"][node_id]
    return (out.get("advanchor_files") or out.get("images"))[0]


def test_sdxl_erase_sample_save_and_reload(server, family_checkpoints):
    entry = server.run(erase_graph(THIN["sdxl"], "xl", "xattn"), timeout=400)
    assert succeeded(entry), error_text(entry) + server.log_text()[-3000:]
    log = server.log_text()
    assert "Segmind_Vega" in log or "SDXL" in log         # ComfyUI's own detection
    image = saved(entry, "10")
    assert (server.output / image["subfolder"] / image["filename"]).is_file()
    ckpt = saved(entry, "11")["filename"]
    differ = []
    with safe_open(str(server.checkpoints / THIN["sdxl"]), "pt") as a, \
            safe_open(str(server.output / "checkpoints" / ckpt), "pt") as b:
        unet = [k for k in a.keys() if k.startswith("model.diffusion_model.")]
        assert set(unet) <= set(b.keys())
        assert any(k.startswith("conditioner.embedders.1.") for k in b.keys())   # both encoders kept
        for k in a.keys():
            if k in b.keys() and not torch.equal(a.get_tensor(k).float(), b.get_tensor(k).float()):
                differ.append(k)
    attn2 = [k for k in unet if ".attn2." in k]
    assert attn2 and sorted(differ) == sorted(attn2)
    reload = {"1": graphs.loader(ckpt), "2": graphs.encode(["1", 1], ""), "3": graphs.empty_latent(),
              "4": graphs.sample(["1", 0], ["2", 0], ["2", 0], ["3", 0], steps=1),
              "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
              "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "xl_reload"}}}
    entry = server.run(reload, timeout=300)
    assert succeeded(entry), error_text(entry)


def test_sd2_v_prediction_erase_and_sample(server, family_checkpoints):
    graph = erase_graph(THIN["sd2"], "sd2", "xattn-kv")
    del graph["11"]
    entry = server.run(graph, timeout=300)
    assert succeeded(entry), error_text(entry) + server.log_text()[-3000:]
    assert "model_type V_PREDICTION" in server.log_text()
    image = saved(entry, "10")
    assert (server.output / image["subfolder"] / image["filename"]).is_file()

"""The example workflows in workflows/, run the way a user runs them: one headless ComfyUI
(the pack in custom_nodes/, generated thin SD1.5 and SD3 files), each workflow converted from
its UI format with the server's own /object_info, shrunk to test sizes, then queued.

Loaders with no thin file ComfyUI would detect are swapped (it builds these models at full
size only): SD3's TripleCLIPLoader (CLIP-G 1.4 GB, T5-XXL 9 GB) becomes a CLIPLoader of a thin
CLIP-L (type sd3, which SD3 runs on), and Flux's DualCLIPLoader a test node of
`comfy_support/tiny_nodes` (a small Flux text encoder built from ComfyUI's own classes). Flux's
transformer and VAE load from thin files through UNETLoader and VAELoader where ComfyUI detects
a thin Flux (0.12.1); on 0.3.75, which fixes Flux at 3072 channels, test nodes build them too.
Chroma, Z-Image, Qwen-Image and Flux.2 get test nodes for all three loaders (`FAMILY_NODES`).
Every node after the loaders runs as the workflow has it."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from scripts.workflow_graph import Node
from scripts.ui_format import input_specs, is_widget, set_widget, widget_names
from tests.comfy_support.checkpoint_dit import FILES as SD3_FILES, FLUX_FILE

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
WORKFLOWS = REPO / "workflows"

THIN = "thin_sd15.safetensors"
THIN_BY_FAMILY = {"sd3": SD3_FILES["checkpoints"]}  # a checkpoint name containing the key
SWAPS = {
    "TripleCLIPLoader": ("CLIPLoader", {"clip_name": SD3_FILES["text_encoders"], "type": "sd3"}),
    "DualCLIPLoader": ("AdvAnchorTestTinyFluxClip", {}),
}
# where this ComfyUI cannot load a thin Flux file (0.3.75), its transformer and VAE loaders too
NO_FLUX_FILE_SWAPS = {"UNETLoader": ("AdvAnchorTestTinyFlux", {}),
                      "VAELoader": ("AdvAnchorTestTinyVAE16", {})}
THIN_FILES = {"UNETLoader": {"unet_name": FLUX_FILE, "weight_dtype": "default"},
              "VAELoader": {"vae_name": SD3_FILES["vae"]}}
# the newer families (no thin file ComfyUI detects), by the transformer file a workflow loads:
# test nodes for its UNETLoader, CLIPLoader and VAELoader
FAMILY_NODES = {
    "Chroma1-HD.safetensors": ("AdvAnchorTestTinyChroma", "AdvAnchorTestTinyChromaClip", "AdvAnchorTestTinyVAE16"),
    "z_image_turbo_bf16.safetensors": ("AdvAnchorTestTinyZImage", "AdvAnchorTestTinyZImageClip",
                                       "AdvAnchorTestTinyVAE16"),
    "qwen_image_fp8_e4m3fn.safetensors": ("AdvAnchorTestTinyQwenImage", "AdvAnchorTestTinyQwenImageClip",
                                          "AdvAnchorTestTinyVAE16"),
    "flux-2-klein-4b.safetensors": ("AdvAnchorTestTinyFlux2", "AdvAnchorTestTinyFlux2Clip",
                                    "AdvAnchorTestTinyVAE128"),
}

# Test sizes: each entry must name an existing widget (a renamed input fails here, loudly).
SHRINK = {
    "EmptyLatentImage": {"width": 64, "height": 64},
    "EmptySD3LatentImage": {"width": 64, "height": 64},
    "EmptyFlux2LatentImage": {"width": 64, "height": 64},
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


def thin_checkpoint(name: str) -> str:
    return next((thin for key, thin in THIN_BY_FAMILY.items() if key in name), THIN)


def swap(node: dict, kind: str, values: dict, info: dict) -> None:
    """Make `node` a `kind` node (same id, links and outputs) with these widget values."""
    defaults = {n: Node.default(s) for n, s in input_specs(info) if is_widget(s)}
    node["type"] = kind
    node["widgets_values"] = [v for name, control in widget_names(info)
                              for v in ([values.get(name, defaults[name])] + (["fixed"] if control else []))]


def flux_file_loads(object_info: dict) -> bool:
    """Whether the server lists the thin Flux file (written only where its ComfyUI loads it)."""
    return FLUX_FILE in object_info["UNETLoader"]["input"]["required"]["unet_name"][0]


def shrink(workflow: dict, object_info: dict, lora: str | None = None) -> dict:
    """A copy of a UI workflow on thin models with test sizes (and a given LoRA file)."""
    wf = copy.deepcopy(workflow)
    swaps = SWAPS | ({} if flux_file_loads(object_info) else NO_FLUX_FILE_SWAPS)
    unet = next((n["widgets_values"][0] for n in wf["nodes"] if n["type"] == "UNETLoader"), None)
    if unet in FAMILY_NODES:
        model, clip, vae = FAMILY_NODES[unet]
        swaps = swaps | {"UNETLoader": (model, {}), "CLIPLoader": (clip, {}), "VAELoader": (vae, {})}
    for node in wf["nodes"]:
        if node["type"] in swaps:
            kind, values = swaps[node["type"]]
            swap(node, kind, values, object_info[kind])
        changes = dict(SHRINK.get(node["type"], {})) | ({} if unet in FAMILY_NODES else THIN_FILES.get(node["type"], {}))
        if node["type"] == "CheckpointLoaderSimple":
            changes["ckpt_name"] = thin_checkpoint(node["widgets_values"][0])
        if node["type"] in ("LoraLoader", "LoraLoaderModelOnly") and lora:
            changes["lora_name"] = lora
        for name, value in changes.items():
            set_widget(node, object_info[node["type"]], name, value)
    return wf


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from tests.comfy_support.comfy_server import start_test_server

    srv = start_test_server(tmp_path_factory.mktemp("comfy_workflows"), dit_models=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def object_info(server) -> dict:
    return server.get("/object_info")

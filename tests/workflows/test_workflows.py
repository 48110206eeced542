"""Every workflow in workflows/ runs end to end in a headless ComfyUI and writes its outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from tests.workflows.conftest import FLUX_FILE, WORKFLOWS, flux_file_loads, load_workflow, shrink, workflow_names
from tests.comfy_support.comfy_server import messages, succeeded
from tests.comfy_support.generated import tests_newer_families
from scripts.ui_format import ui_to_api

NEWER_FAMILY_WORKFLOWS = {"erase_chroma_compare", "erase_zimage_compare", "erase_qwen_image_compare",
                          "erase_flux2_compare"}
SAVING_NODES = {"SaveImage", "AdvAnchorSaveErasedCheckpoint", "AdvAnchorSaveErasure"}
EXPECTED = {"apply_erasure_lora", "erase_artist_style_compare", "erase_nudity_save_checkpoint",
            "erase_two_concepts_save", "inspect_sensitivity_then_unlearn", "erase_attack_measure",
            "erase_flux_compare", "erase_sd3_compare", "erase_three_concepts_closed_form",
            "erase_chroma_compare", "erase_zimage_compare", "erase_qwen_image_compare", "erase_flux2_compare"}


def written(server, entry: dict, node_id: str) -> list[Path]:
    out = entry["outputs"].get(node_id, {})
    files = (out.get("images") or []) + (out.get("advanchor_files") or [])
    assert files, f"node {node_id} reported no file: {out}"
    paths = []
    for f in files:
        assert f["type"] == "output"
        path = server.output / f["subfolder"] / f["filename"]
        assert path.is_file() and path.stat().st_size > 0, path
        paths.append(path)
    return paths


class Runs:
    """Each workflow run once per session, in the order users would (the LoRA workflow uses the
    LoRA that the style workflow saved)."""

    def __init__(self, server, object_info):
        self.server, self.object_info, self.done = server, object_info, {}

    def get(self, name: str):
        if name in NEWER_FAMILY_WORKFLOWS and not tests_newer_families():
            pytest.skip(f"{name}: the newer families are tested on ComfyUI 0.33.0")
        if name not in self.done:
            lora = None
            if name == "apply_erasure_lora":
                _, entry, prompt = self.get("erase_artist_style_compare")
                save = next(k for k, v in prompt.items() if v["class_type"] == "AdvAnchorSaveErasure")
                lora = written(self.server, entry, save)[0].name
            prompt = ui_to_api(shrink(load_workflow(name), self.object_info, lora), self.object_info)
            entry = self.server.run(prompt, timeout=300)
            assert succeeded(entry), json.dumps(messages(entry, "execution_error"))[:3000]
            self.done[name] = (name, entry, prompt)
        return self.done[name]


@pytest.fixture(scope="module")
def runs(server, object_info):
    return Runs(server, object_info)


def halves(path: Path, gap: int) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    w = (img.shape[1] - gap) // 2
    return img[:, :w], img[:, w + gap:]


def test_the_expected_workflows_and_previews_are_there():
    assert set(workflow_names()) >= EXPECTED
    for name in workflow_names():
        wf = load_workflow(name)
        assert wf["nodes"] and wf["links"] and wf["groups"], name
        assert all("widgets_values" in n for n in wf["nodes"]), name
        assert (WORKFLOWS / f"{name}.png").is_file(), f"{name} has no PNG preview"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_workflow_runs_and_writes_its_outputs(runs, server, name):
    _, entry, prompt = runs.get(name)
    savers = [k for k, v in prompt.items() if v["class_type"] in SAVING_NODES]
    assert savers
    for node_id in savers:
        written(server, entry, node_id)
    # the real checkpoint name and sizes were replaced: the file the workflow names would not load
    assert all(v["inputs"]["ckpt_name"].startswith("thin_")
               for v in prompt.values() if v["class_type"] == "CheckpointLoaderSimple")


def test_defaults_are_for_a_real_sd15_checkpoint():
    for name in workflow_names():
        for node in load_workflow(name)["nodes"]:
            if node["type"] == "CheckpointLoaderSimple":
                assert node["widgets_values"][0].endswith(".safetensors")
                assert "thin" not in node["widgets_values"][0]
            if node["type"] == "EmptyLatentImage":
                assert node["widgets_values"][:2] == [512, 512]


@pytest.mark.parametrize("name", ["erase_artist_style_compare", "apply_erasure_lora",
                                  "erase_flux_compare", "erase_sd3_compare",
                                  "erase_three_concepts_closed_form", "erase_chroma_compare",
                                  "erase_zimage_compare", "erase_qwen_image_compare",
                                  "erase_flux2_compare"])
def test_before_and_after_differ_side_by_side(runs, server, name):
    _, entry, prompt = runs.get(name)
    stitch = next(v for v in prompt.values() if v["class_type"] == "ImageStitch")
    save = next(k for k, v in prompt.items() if v["class_type"] == "SaveImage")
    path = written(server, entry, save)[0]
    left, right = halves(path, stitch["inputs"]["spacing_width"])
    assert left.shape == right.shape == (64, 64, 3)
    # A and B share one seed (a linked primitive): the only difference is the erasure
    seeds = [json.dumps(v["inputs"]["seed"]) for v in prompt.values()
             if v["class_type"] == "KSampler" and isinstance(v["inputs"]["seed"], list)]
    assert len(seeds) == 2 and len(set(seeds)) == 1
    assert np.abs(left - right).mean() > 0.5


@pytest.mark.parametrize("name", ["erase_zimage_compare", "erase_flux2_compare"])
def test_distilled_models_train_on_concept_images_their_own_sampler_draws(runs, server, name):
    _, _, prompt = runs.get(name)
    unlearn = next(v for v in prompt.values() if v["class_type"] == "AdvAnchorUnlearn")
    source = prompt[unlearn["inputs"]["latent"][0]]
    assert source["class_type"] == "KSampler" and source["inputs"]["cfg"] == 1.0


def checkpoint_erasures(path: Path) -> list[dict]:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["advanchor.erasures"])


def saved_checkpoint(runs, server, name) -> Path:
    _, entry, prompt = runs.get(name)
    node = next(k for k, v in prompt.items() if v["class_type"] == "AdvAnchorSaveErasedCheckpoint")
    return written(server, entry, node)[0]


def test_nudity_checkpoint_carries_the_attribute_preset(runs, server):
    erasures = checkpoint_erasures(saved_checkpoint(runs, server, "erase_nudity_save_checkpoint"))
    assert len(erasures) == 1
    assert json.loads(erasures[0]["concepts"]) == ["nudity"]
    settings = json.loads(erasures[0]["settings"])
    assert settings["config"]["parameters"] == "noxattn"
    attributes = settings["concepts"][0]["attributes"]
    assert len(attributes) >= 8 and all(float(w) > 0 for _, w in attributes)


def test_two_concepts_are_erased_in_one_run_and_one_checkpoint(runs, server):
    erasures = checkpoint_erasures(saved_checkpoint(runs, server, "erase_two_concepts_save"))
    assert [json.loads(e["concepts"]) for e in erasures] == [["Van Gogh", "Claude Monet"]]


def test_three_painters_are_erased_in_one_closed_form_solve(runs, server):
    _, entry, prompt = runs.get("erase_three_concepts_closed_form")
    node = next(k for k, v in prompt.items() if v["class_type"] == "AdvAnchorSaveErasure")
    with safe_open(str(written(server, entry, node)[0]), framework="pt") as f:
        meta = f.metadata()
        assert f.keys() and all(".attn2.to_k." in k or ".attn2.to_v." in k for k in f.keys())
    assert json.loads(meta["concepts"]) == ["Van Gogh", "Picasso", "Salvador Dali"]
    assert json.loads(meta["settings"])["preserve"] == ["Claude Monet", "Rembrandt", "a photo of a cat"]


def test_sensitive_layers_are_the_only_ones_erased(runs, server):
    _, entry, prompt = runs.get("inspect_sensitivity_then_unlearn")
    sens = next(v for v in prompt.values() if v["class_type"] == "AdvAnchorConceptSensitivity")
    node = next(k for k, v in prompt.items() if v["class_type"] == "AdvAnchorSaveErasure")
    path = written(server, entry, node)[0]
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    # top_k layers chosen, each a cross-attention block: its weights and nothing else
    assert keys and all("attn2" in k for k in keys), keys[:8]
    layers = {k.split("attn2")[0] for k in keys}
    assert 1 <= len(layers) <= sens["inputs"]["top_k"], sorted(layers)


def previewed_json(entry: dict, prompt: dict, title_type: str, source_type: str) -> dict:
    """The JSON report a Preview Any node showed, for the node fed by `source_type`."""
    node = next(k for k, v in prompt.items() if v["class_type"] == title_type
                and prompt[v["inputs"]["source"][0]]["class_type"] == source_type)
    (text,) = entry["outputs"][node]["text"]
    return json.loads(text)


def test_erase_attack_measure_reports_the_attack_and_the_drift(runs, server):
    _, entry, prompt = runs.get("erase_attack_measure")
    attack = previewed_json(entry, prompt, "PreviewAny", "AdvAnchorAttackErasure")
    assert attack["space"] == "conditioning" and len(attack["loss_curve"]) == 2
    assert attack["held_out_gap"]["plain_prompt"] > 0
    measure = previewed_json(entry, prompt, "PreviewAny", "AdvAnchorMeasureErasure")
    kinds = [r["kind"] for r in measure["grid"]["rows"]]
    assert kinds == ["target", "target", "preserve", "preserve", "attack"]
    assert measure["scores"]["pixel_drift"]["preserve_mean"] > 0    # the erased model moved
    save = next(k for k, v in prompt.items() if v["class_type"] == "SaveImage")
    grid = np.asarray(Image.open(written(server, entry, save)[0]))
    assert grid.shape[:2] == (5 * 64 + 4 * 4, 2 * 64 + 2 * 4)


def test_the_flux_workflow_loads_a_thin_flux_file_where_comfyui_detects_one(runs, server, object_info):
    """ComfyUI 0.12.1 loads the thin Flux transformer through UNETLoader (and its VAE through
    VAELoader); 0.3.75, which fixes Flux at 3072 channels, gets the test loader nodes."""
    _, _, prompt = runs.get("erase_flux_compare")
    kinds = {v["class_type"]: v["inputs"] for v in prompt.values()}
    if flux_file_loads(object_info):
        assert kinds["UNETLoader"]["unet_name"] == FLUX_FILE
        assert "VAELoader" in kinds and "AdvAnchorTestTinyFlux" not in kinds
        assert "FLUX" in server.log_text()  # ComfyUI's own detection named the model type
    else:
        assert "UNETLoader" not in kinds and "AdvAnchorTestTinyFlux" in kinds
    assert "DualCLIPLoader" not in kinds and "AdvAnchorTestTinyFluxClip" in kinds

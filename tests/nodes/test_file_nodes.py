"""Save Erasure, Apply Erasure and Save Erased Checkpoint in process: what they write loads back
with ComfyUI's own loaders, and nothing lands outside the output folder."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open

from tests.comfy_support.inprocess import assert_untouched, effective_unet_state, eps, run_node


def test_save_erasure_then_apply_reproduces_the_erased_model(n, unlearned, tiny, output_dir):
    (path,) = run_node(n["save"], erasure=unlearned["erasure"], filename_prefix="tests/diff")
    full = os.path.join(output_dir, path)
    assert path.startswith(os.path.join("erasures", "tests")) and os.path.isfile(full)
    assert not [f for f in os.listdir(os.path.dirname(full)) if f.endswith(".tmp")]
    with safe_open(full, "pt") as f:
        assert set(f.keys()) == set(unlearned["erasure"].tensors)
        assert json.loads(f.metadata()["concepts"]) == ["Van Gogh"]
    name = os.path.relpath(path, "erasures")
    from advanchor_pack.nodes import files

    assert name in files.erasure_files()
    (applied,) = run_node(n["apply"], model=tiny["model"], erasure_file=name, strength=1.0)
    want, got = effective_unet_state(unlearned["model"]), effective_unet_state(applied)
    assert all(torch.equal(want[k], got[k]) for k in want)
    (none,) = run_node(n["apply"], model=tiny["model"], erasure_file=name, strength=0.0)
    orig, got0 = unlearned["before"]["weights"], effective_unet_state(none)
    assert all(torch.allclose(orig[k], got0[k], atol=0, rtol=0) for k in orig)
    assert_untouched(tiny["model"], unlearned["before"] | {"weights": effective_unet_state(tiny["model"])})


def test_apply_erasure_refuses_a_mismatched_model(n, unlearned, tiny, errors, output_dir):
    from tests.comfy_support import tiny as t

    (path,) = run_node(n["save"], erasure=unlearned["erasure"], filename_prefix="mismatch")
    other = t.tiny_model(0, dict(t.UNET_SMALL, model_channels=64))
    with pytest.raises(errors.AdvAnchorError, match="does not fit|does not have|shape"):
        run_node(n["apply"], model=other, erasure_file=os.path.relpath(path, "erasures"))


def test_lora_from_save_erasure_loads_with_comfyui_lora_loader(n, unlearned, tiny, output_dir):
    import folder_paths
    import nodes as comfy_nodes

    (path,) = run_node(n["save"], erasure=unlearned["erasure"], format="LoRA", rank=768,
                       filename_prefix="lora_full")
    assert path.startswith("loras")
    assert os.path.relpath(path, "loras") in folder_paths.get_filename_list("loras")  # Load LoRA lists it
    with torch.inference_mode():
        lora_model, _ = comfy_nodes.LoraLoader().load_lora(
            tiny["model"], tiny["clip"], os.path.relpath(path, "loras"), 1.0, 0.0)
    want = effective_unet_state(unlearned["model"])
    got = effective_unet_state(lora_model)
    for k in want:
        assert torch.allclose(want[k], got[k], atol=1e-5), k
    a, b = eps(unlearned["model"], tiny["clip"], "Van Gogh painting"), eps(lora_model, tiny["clip"], "Van Gogh painting")
    assert torch.allclose(a, b, atol=1e-4)


def test_save_erased_checkpoint_writes_the_erased_weights(n, unlearned, tiny, output_dir):
    (path,) = run_node(n["ckpt"], model=unlearned["model"], clip=tiny["clip"], vae=tiny["vae"],
                       filename_prefix="erased/tiny")
    full = os.path.join(output_dir, path)
    assert path.startswith(os.path.join("checkpoints", "erased")) and os.path.isfile(full)
    want = effective_unet_state(unlearned["model"])
    with safe_open(full, "pt") as f:
        meta = f.metadata()
        for k, v in want.items():
            assert torch.equal(f.get_tensor("model.diffusion_model." + k), v), k
        assert any(k.startswith("cond_stage_model.") for k in f.keys())
        assert any(k.startswith("first_stage_model.") or "taesd" in k for k in f.keys())
    assert json.loads(json.loads(meta["advanchor.erasures"])[0]["concepts"]) == ["Van Gogh"]
    effective_unet_state(tiny["model"])
    assert_untouched(tiny["model"], unlearned["before"])


def test_save_erased_checkpoint_keeps_a_patch_on_the_clip(n, unlearned, tiny, output_dir):
    """A LoRA's text-encoder part is in the saved CLIP: written by ComfyUI itself where it bakes
    the CLIP's patches in (≥ 0.12.3), by the pack where ComfyUI loses the CLIP (0.12.0-0.12.2)
    or writes the loaded weights (older)."""
    from advanchor_pack.nodes.files import encoder_and_vae_keys

    clip = tiny["clip"].clone()
    key, weight = next((k, v) for k, v in clip.get_sd().items() if k.endswith("fc1.weight"))
    clip.add_patches({key: (torch.full_like(weight, 0.25),)}, 1.0)
    (path,) = run_node(n["ckpt"], model=unlearned["model"], clip=clip, vae=tiny["vae"],
                       filename_prefix="erased/patched_clip")
    with safe_open(os.path.join(output_dir, path), "pt") as f:
        saved = f.get_tensor(next(k for k in f.keys() if k.endswith(key.split(".", 1)[1])))
    assert torch.allclose(saved.float(), weight.float() + 0.25, atol=1e-3)
    assert (encoder_and_vae_keys(unlearned["model"], clip, tiny["vae"]) == {}) == \
        hasattr(clip, "state_dict_for_saving")


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/abs/escape", "", "..\\x"])
def test_filename_prefix_cannot_leave_the_output_folder(n, unlearned, tiny, errors, output_dir, prefix):
    before = sorted(p for p, _, fs in os.walk(output_dir) for _ in fs)
    with pytest.raises(errors.AdvAnchorError, match="filename_prefix"):
        run_node(n["save"], erasure=unlearned["erasure"], filename_prefix=prefix)
    with pytest.raises(errors.AdvAnchorError, match="filename_prefix"):
        run_node(n["ckpt"], model=unlearned["model"], clip=tiny["clip"], vae=tiny["vae"],
                 filename_prefix=prefix)
    assert sorted(p for p, _, fs in os.walk(output_dir) for _ in fs) == before
    assert not os.path.exists(os.path.join(os.path.dirname(str(output_dir)), "escape"))


def test_apply_erasure_reads_only_safetensors(n, tiny, errors, output_dir):
    folder = os.path.join(output_dir, "erasures")
    os.makedirs(folder, exist_ok=True)
    torch.save({"x": torch.zeros(1)}, os.path.join(folder, "evil.pt"))
    from advanchor_pack.nodes import files

    assert "evil.pt" not in files.erasure_files()
    with pytest.raises(errors.AdvAnchorError, match="safetensors"):
        run_node(n["apply"], model=tiny["model"], erasure_file="evil.pt")


def test_apply_erasure_file_name_cannot_reach_outside_its_folders(n, tiny, errors):
    with pytest.raises(errors.AdvAnchorError, match="was not found"):
        run_node(n["apply"], model=tiny["model"], erasure_file="../../checkpoints/x.safetensors")

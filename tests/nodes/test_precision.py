"""Erasing in the precision users load: fp16, bf16 and fp8-stored UNets through ComfyUI's loaders.

Each run is compared with an fp32 run of the *same stored values* (the low-precision weights
upcast to fp32), so the comparison isolates what the training path does with the precision:
- stored in fp16/bf16/fp8, computed in fp32 (ComfyUI's manual cast, what a CPU and fp8 on most
  GPUs do): the forward is the fp32 forward exactly, so the erasure must agree to float32
  rounding;
- stored *and* computed in fp16/bf16 (what a GPU does with a half checkpoint): every activation
  is rounded, and Adam's per-element normalisation turns the rounding noise in small gradients
  into sign flips of their entries, so δ agrees only in direction (measured cosine: fp16 0.75,
  bf16 0.94); what sampling with the erased model sees agrees closely in fp16 (0.99).

bf16 storage loses part of any small erasure *when ComfyUI applies it*: ComfyUI rounds a patched
weight to the nearest bf16 value (it rounds stochastically only for fp8), and a bf16 step at
|w| ≈ 0.05 is 2.4e-4, as large as the whole erasure here. Measured on this model: the erased
model's ε shift keeps its direction (cosine 0.89) at 35% of the fp32 twin's size. The bounds
below are set under the measured values with a margin; they fail on an empty erasure.
"""
from __future__ import annotations

import pytest
import torch
from tests.comfy_support.inprocess import run_node, unet_state

# The reference's anchor (adv1, alternating, lr 1e-4), with which the agreement bounds below were
# measured: precision is a property of the weight path, not of the anchor loss. (With the keep
# default the true-bf16 erasure still agrees with its fp32 twin's in direction, but the erased
# models' shifts measured in bf16 agree at cosine 0.18 only, under the 0.3 bound.)
FAST = dict(method="adversarial", iterations=3, anchor_steps=2, latent_source="noise", sample_size=64, lr=1e-4, seed=5,
            anchor_loss="adv1", schedule="alternating", anchor_lr=1e-4)
STORED = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp8_e4m3fn": torch.float8_e4m3fn,
          "fp8_e5m2": torch.float8_e5m2}


@pytest.fixture(scope="module")
def unet_file(comfy, tmp_path_factory):
    """A thin SD1.5 UNet (detected by ComfyUI's loaders) saved alone, fp32, seeded."""
    import comfy.utils
    from tests.comfy_support import checkpoint, tiny

    with torch.inference_mode():
        base = tiny.sd15_config(checkpoint.THIN_UNET).get_model({})
        tiny.init_weights(base.diffusion_model, 11)
        for name, p in base.diffusion_model.named_parameters():
            if name.startswith("out.2."):
                p.mul_(0.1)
        sd = {k: v.contiguous() for k, v in base.diffusion_model.state_dict().items()}
    folder = tmp_path_factory.mktemp("diffusion_models")
    comfy.utils.save_torch_file(sd, str(folder / "thin_unet.safetensors"))
    return folder / "thin_unet.safetensors"


def load(path, dtype=None):
    """The UNet through ComfyUI's own loaders, stored in `dtype`: UNETLoader for fp8 (its
    weight_dtype menu), the function it calls for fp16/bf16 (which the menu does not offer)."""
    import comfy.sd
    import folder_paths
    import nodes

    with torch.inference_mode():
        if dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            folder_paths.add_model_folder_path("diffusion_models", str(path.parent))
            name = {torch.float8_e4m3fn: "fp8_e4m3fn", torch.float8_e5m2: "fp8_e5m2"}[dtype]
            return nodes.UNETLoader().load_unet(path.name, name)[0]
        return comfy.sd.load_diffusion_model(str(path), model_options={} if dtype is None else {"dtype": dtype})


def fp32_twin(path, dtype):
    """The same UNet in fp32 holding exactly the values `dtype` stores."""
    model = load(path)
    with torch.inference_mode():
        for p in model.model.diffusion_model.parameters():
            p.copy_(p.to(dtype).float())
    return model


def erase(n, model, clip, concept):
    return run_node(n["unlearn"], model=model, clip=clip, concept=concept, **FAST)


def flat(erasure) -> torch.Tensor:
    return torch.cat([v.float().flatten() for _, v in sorted(erasure.tensors.items())])


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


@pytest.mark.parametrize("stored", list(STORED))
def test_low_precision_storage_trains_as_fp32_does(n, tiny, concept, unet_file, stored):
    model = load(unet_file, STORED[stored])
    assert model.model.get_dtype() == STORED[stored]
    before = unet_state(model)
    out, erasure, _ = erase(n, model, tiny["clip"], concept)
    assert all(v.dtype == torch.float32 and v.abs().amax() > 0 for v in erasure.tensors.values())
    after = unet_state(model)
    assert all(torch.equal(before[k], after[k]) and after[k].dtype == before[k].dtype for k in before)
    twin = fp32_twin(unet_file, STORED[stored])
    erased_ref, reference, _ = erase(n, twin, tiny["clip"], concept)
    d, r = flat(erasure), flat(reference)
    assert (d - r).norm() <= 1e-4 * r.norm(), f"{stored}: {(d - r).norm() / r.norm():.2e}"
    s_low = concept_shift(model, out, tiny["clip"], concept.prompt)
    s_ref = concept_shift(twin, erased_ref, tiny["clip"], concept.prompt)
    if stored == "bf16":   # rounded to nearest by ComfyUI's patching (see the module docstring)
        assert cosine(s_low, s_ref) > 0.7 and s_low.norm() > 0.15 * s_ref.norm()
    else:
        assert cosine(s_low, s_ref) > 0.99
        assert 0.8 < float(s_low.norm() / s_ref.norm()) < 1.25


def concept_shift(original, erased, clip, prompt) -> torch.Tensor:
    """How the erasure moves ε for `prompt` at fixed (x_t, t), as sampling with it sees it."""
    from advanchor_pack.nodes.bridge.denoiser import ComfyDenoiser
    from advanchor_pack.nodes.bridge.text import ComfyTextEncoder

    cond = ComfyTextEncoder(clip).encode([prompt]).expand(4, -1, -1)
    g = torch.Generator().manual_seed(0)
    x_t, t = torch.randn((4, 4, 8, 8), generator=g), torch.tensor([100, 400, 700, 900])
    with torch.inference_mode():
        before = ComfyDenoiser(original).prepare()(x_t, t, cond)
        after = ComfyDenoiser(erased).prepare()(x_t, t, cond)
    return (after - before).flatten()


@pytest.mark.parametrize("stored", ["fp16", "bf16"])
def test_true_half_precision_agrees_in_direction(n, tiny, concept, unet_file, stored):
    """Stored and computed in half precision, as on a GPU (ComfyUI's set_model_compute_dtype)."""
    half = load(unet_file, STORED[stored]).clone()
    half.set_model_compute_dtype(STORED[stored])
    erased, erasure, _ = erase(n, half, tiny["clip"], concept)
    twin = fp32_twin(unet_file, STORED[stored])
    erased_ref, reference, _ = erase(n, twin, tiny["clip"], concept)
    d, r = flat(erasure), flat(reference)
    s_half = concept_shift(half, erased, tiny["clip"], concept.prompt)
    s_ref = concept_shift(twin, erased_ref, tiny["clip"], concept.prompt)
    assert all(v.abs().amax() > 0 for v in erasure.tensors.values())
    assert cosine(d, r) > 0.6 and 0.8 < float(d.norm() / r.norm()) < 1.25
    assert cosine(s_half, s_ref) > (0.95 if stored == "fp16" else 0.3)


def test_save_erased_checkpoint_keeps_the_models_dtype(n, tiny, concept, unet_file, output_dir):
    """An fp16 model is saved as fp16, as ComfyUI's own checkpoint save does, with the erasure
    merged in, and ComfyUI's diffusion-model loader reads it back."""
    import comfy.sd
    import comfy.utils

    model = load(unet_file, torch.float16)
    original = unet_state(model)   # read before: the live weights are the last loaded clone's
    erased, erasure, _ = erase(n, model, tiny["clip"], concept)
    rel = run_node(n["ckpt"], model=erased, clip=tiny["clip"], vae=tiny["vae"],
                   filename_prefix="precision/fp16")[0]
    sd = comfy.utils.load_torch_file(str(output_dir / rel))
    unet = {k[len("model.diffusion_model."):]: v for k, v in sd.items()
            if k.startswith("model.diffusion_model.")}
    assert unet.keys() == original.keys() and all(v.dtype == torch.float16 for v in unet.values())
    for k, d in erasure.tensors.items():
        assert torch.equal(unet[k], (original[k].float() + d).half()), k
    assert all(torch.equal(unet[k], original[k]) for k in original if k not in erasure.tensors)
    with torch.inference_mode():
        reloaded = comfy.sd.load_diffusion_model_state_dict(unet, model_options={"dtype": torch.float16})
    assert reloaded.model.get_dtype() == torch.float16

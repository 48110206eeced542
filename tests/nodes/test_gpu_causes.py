"""What fails only on an NVIDIA GPU, reproduced at its cause on the CPU.

- A GPU load moves each weight made under inference mode with `Module.to`, outside inference
  mode: the Parameter gets new data and is no longer an inference tensor, yet still has no
  version counter, and autograd refuses to save it ("Inference tensors do not track version
  counter"). Here the same move is made on the CPU.
- cuDNN attention, which ComfyUI 0.33 asks torch to prefer, need not recompute with the metadata
  of its forward pass under gradient checkpointing ("Recomputed values … have different
  metadata"). cuDNN does not run on a CPU: what is checked is that a checkpointed block runs and
  is recomputed with it left out, ComfyUI's own backend priority included.
- ComfyUI's trainer tells models a training run is on (`in_training`, ComfyUI ≥ 0.16).
"""
from __future__ import annotations

import pytest
import torch
from tests.comfy_support import tiny as models
from tests.comfy_support.inprocess import run_node

FAST = dict(method="adversarial", iterations=2, anchor_steps=2, latent_source="noise",
            sample_size=64, lr=1e-3, seed=3)


def moved_as_on_a_gpu():
    """A fresh tiny MODEL whose UNet weights were moved as a GPU load moves them."""
    model = models.tiny_model(0)
    with torch.inference_mode(False):
        model.model.diffusion_model._apply(lambda t: t.clone())  # Module.to: param.data = the copy
    return model


def test_a_weight_moved_outside_inference_mode_has_no_version_counter(comfy):
    weight = next(moved_as_on_a_gpu().model.diffusion_model.parameters())
    assert not weight.is_inference()
    with pytest.raises(RuntimeError, match="version counter"):
        weight._version  # noqa: B018


def test_unlearn_trains_weights_a_gpu_load_moved(n, tiny, concept):
    model = moved_as_on_a_gpu()
    _, erasure, _ = run_node(n["unlearn"], model=model, clip=tiny["clip"], concept=concept,
                             **(FAST | dict(method="esd")))
    _, plain, _ = run_node(n["unlearn"], model=models.tiny_model(0), clip=tiny["clip"], concept=concept,
                           **(FAST | dict(method="esd")))
    assert all(torch.equal(erasure.tensors[k], plain.tensors[k]) for k in plain.tensors)


def test_checkpointed_blocks_run_and_recompute_without_cudnn_attention(bridge, comfy, monkeypatch):
    import comfy.ops
    from torch.nn.attention import SDPBackend

    comfy_priority = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION,
                      SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]  # ComfyUI 0.33 on CUDA
    monkeypatch.setattr(comfy.ops, "SDPA_BACKEND_PRIORITY", comfy_priority, raising=False)
    den = bridge.ComfyDenoiser(models.tiny_model(0), checkpointing=True).prepare()
    seen = []
    attention = den.unet.input_blocks[1][1].transformer_blocks[0].attn2
    hook = attention.register_forward_pre_hook(lambda m, a: seen.append(
        (list(comfy.ops.SDPA_BACKEND_PRIORITY), torch.backends.cuda.cudnn_sdp_enabled())))
    trained = [k for k in den.named_weights() if ".attn2.to_k." in k]
    g = torch.Generator().manual_seed(0)
    x_t, cond = torch.randn((1, 4, 8, 8), generator=g), torch.randn((1, 77, 768), generator=g)
    try:
        with bridge.training_mode():
            delta = {k: torch.zeros_like(den.named_weights()[k], requires_grad=True) for k in trained}
            loss = den(x_t, torch.tensor([500]), cond, delta).square().mean()
            loss.backward()
    finally:
        hook.remove()
    assert len(seen) == 2   # the forward pass and the recomputation
    assert all(SDPBackend.CUDNN_ATTENTION not in priority and not cudnn for priority, cudnn in seen)
    assert comfy.ops.SDPA_BACKEND_PRIORITY is comfy_priority and torch.backends.cuda.cudnn_sdp_enabled()


def test_training_runs_with_comfyui_in_training_on(n, tiny, concept, comfy):
    import comfy.model_management as mm

    if not hasattr(mm, "in_training"):
        pytest.skip("this ComfyUI has no in_training flag (< 0.16)")
    seen = []
    unet = tiny["model"].model.diffusion_model
    hook = unet.register_forward_pre_hook(lambda m, a: seen.append(mm.in_training))
    try:
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept, **FAST)
    finally:
        hook.remove()
    assert seen and all(seen) and mm.in_training is False

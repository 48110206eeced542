"""Gradient checkpointing of a ComfyUI UNet or transformer whose trained weights are ComfyUI weight functions.

Why not ComfyUI's own `use_checkpoint` flags: they are no-ops in its UNet. Why not a plain
`torch.utils.checkpoint` around each block: the erasure δ reaches the weights through weight
functions that read the δ active *during the call* (see `denoiser.py`). The backward pass
recomputes a checkpointed block after the call has returned and δ is off again, so a plain
wrapper would silently recompute with the base weights and δ would get wrong gradients. Here
each checkpoint is given a recompute context, captured when the block ran forward, that turns
the same δ on again while the block is recomputed.

The blocks are the UNet's ResBlocks and SpatialTransformers, Flux's double- and single-stream
blocks, SD3's joint blocks (where the activations live); their `forward` is overridden on the
instance only inside `checkpointed_blocks()` and restored after. Transformer blocks add their
residuals into their inputs in place, so they run on copies inside the checkpoint (`inplace`).

A recomputation must save tensors of the same shapes and dtypes as the forward pass did, or
torch stops the backward pass ("Recomputed values … have different metadata"). cuDNN's attention
kernel does not guarantee that, and ComfyUI asks torch to prefer it right after flash attention
(on Windows in ComfyUI 0.12, everywhere in 0.33), so a checkpointed block's forward pass and its
recomputation both run with cuDNN attention left out (`attention_without_cudnn`).
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .inplace import block_on_copies, needs_copies

RecomputeContext = Callable[[], ContextManager]
TRANSFORMER_BLOCKS = ("double_blocks", "single_blocks", "joint_blocks",  # Flux, SD3
                      "transformer_blocks",                                # Qwen-Image
                      "context_refiner", "noise_refiner", "layers")        # Z-Image


def checkpoint_units(unet: nn.Module) -> list[nn.Module]:
    """A transformer's blocks, or the layers of each UNet input/middle/output block that own
    parameters."""
    if any(hasattr(unet, name) for name in TRANSFORMER_BLOCKS):
        return [block for name in TRANSFORMER_BLOCKS for block in getattr(unet, name, ())]
    blocks: list[nn.Module] = [*unet.input_blocks, *([unet.middle_block] if unet.middle_block else []),
                               *unet.output_blocks]
    return [layer for block in blocks for layer in block
            if any(True for _ in layer.parameters(recurse=True))]


@contextlib.contextmanager
def attention_without_cudnn() -> Iterator[None]:
    """Within the block, scaled-dot-product attention picks among flash, memory-efficient and
    plain attention only — ComfyUI's own backend priority (`comfy.ops`) too."""
    import comfy.ops
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kept = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    priority = getattr(comfy.ops, "SDPA_BACKEND_PRIORITY", None)
    if priority is not None:
        comfy.ops.SDPA_BACKEND_PRIORITY = [b for b in priority if b != SDPBackend.CUDNN_ATTENTION]
    try:
        with sdpa_kernel(kept):
            yield
    finally:
        if priority is not None:
            comfy.ops.SDPA_BACKEND_PRIORITY = priority


@contextlib.contextmanager
def _recomputation(context: ContextManager) -> Iterator[None]:
    with attention_without_cudnn(), context:
        yield


def _checkpointed_forward(layer: nn.Module, recompute: RecomputeContext, copies: bool):
    original = type(layer).forward
    inner = block_on_copies(original, layer) if copies else (lambda *a, **k: original(layer, *a, **k))

    def forward(*args, **kwargs):
        if not torch.is_grad_enabled():
            return original(layer, *args, **kwargs)
        # context_fn runs when the block runs forward, so `recompute()` captures the δ of this call
        return checkpoint(inner, *args, use_reentrant=False, **kwargs,
                          context_fn=lambda: (attention_without_cudnn(), _recomputation(recompute())))

    return forward


@contextlib.contextmanager
def checkpointed_blocks(unet: nn.Module, recompute: RecomputeContext) -> Iterator[None]:
    """Within the block, forward passes of `unet` with grad enabled keep no block activations;
    `recompute()` (called at forward time) gives the context each block is recomputed in."""
    units, copies = checkpoint_units(unet), needs_copies(unet)
    for layer in units:
        layer.forward = _checkpointed_forward(layer, recompute, copies)
    try:
        yield
    finally:
        for layer in units:
            layer.__dict__.pop("forward", None)

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
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .inplace import block_on_copies, needs_copies

RecomputeContext = Callable[[], ContextManager]
TRANSFORMER_BLOCKS = ("double_blocks", "single_blocks", "joint_blocks")  # Flux, SD3


def checkpoint_units(unet: nn.Module) -> list[nn.Module]:
    """A transformer's blocks, or the layers of each UNet input/middle/output block that own
    parameters."""
    if any(hasattr(unet, name) for name in TRANSFORMER_BLOCKS):
        return [block for name in TRANSFORMER_BLOCKS for block in getattr(unet, name, ())]
    blocks: list[nn.Module] = [*unet.input_blocks, *([unet.middle_block] if unet.middle_block else []),
                               *unet.output_blocks]
    return [layer for block in blocks for layer in block
            if any(True for _ in layer.parameters(recurse=True))]


def _checkpointed_forward(layer: nn.Module, recompute: RecomputeContext, copies: bool):
    original = type(layer).forward
    inner = block_on_copies(original, layer) if copies else (lambda *a, **k: original(layer, *a, **k))

    def forward(*args, **kwargs):
        if not torch.is_grad_enabled():
            return original(layer, *args, **kwargs)
        # context_fn runs when the block runs forward, so `recompute()` captures the δ of this call
        return checkpoint(inner, *args, use_reentrant=False,
                          context_fn=lambda: (contextlib.nullcontext(), recompute()), **kwargs)

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

"""Gradient checkpointing of a ComfyUI UNet whose trained weights are ComfyUI weight functions.

Why not ComfyUI's own `use_checkpoint` flags: they are no-ops in its UNet. Why not a plain
`torch.utils.checkpoint` around each block: the erasure δ reaches the weights through weight
functions that read the δ active *during the call* (see `denoiser.py`). The backward pass
recomputes a checkpointed block after the call has returned and δ is off again, so a plain
wrapper would silently recompute with the base weights and δ would get wrong gradients. Here
each checkpoint is given a recompute context, captured when the block ran forward, that turns
the same δ on again while the block is recomputed.

The blocks are the UNet's ResBlocks and SpatialTransformers (where the activations live); their
`forward` is overridden on the instance only inside `checkpointed_blocks()` and restored after.
"""
from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RecomputeContext = Callable[[], ContextManager]


def checkpoint_units(unet: nn.Module) -> list[nn.Module]:
    """The layers of each input/middle/output block that own parameters."""
    blocks: list[nn.Module] = [*unet.input_blocks, *([unet.middle_block] if unet.middle_block else []),
                               *unet.output_blocks]
    return [layer for block in blocks for layer in block
            if any(True for _ in layer.parameters(recurse=True))]


def _checkpointed_forward(layer: nn.Module, recompute: RecomputeContext):
    original = type(layer).forward

    def forward(*args, **kwargs):
        if not torch.is_grad_enabled():
            return original(layer, *args, **kwargs)
        # context_fn runs when the block runs forward, so `recompute()` captures the δ of this call
        return checkpoint(original, layer, *args, use_reentrant=False,
                          context_fn=lambda: (contextlib.nullcontext(), recompute()), **kwargs)

    return forward


@contextlib.contextmanager
def checkpointed_blocks(unet: nn.Module, recompute: RecomputeContext) -> Iterator[None]:
    """Within the block, forward passes of `unet` with grad enabled keep no block activations;
    `recompute()` (called at forward time) gives the context each block is recomputed in."""
    units = checkpoint_units(unet)
    for layer in units:
        layer.forward = _checkpointed_forward(layer, recompute)
    try:
        yield
    finally:
        for layer in units:
            layer.__dict__.pop("forward", None)

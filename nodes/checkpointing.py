"""Gradient checkpointing of a ComfyUI UNet that is being called through `functional_call`.

Why not ComfyUI's own `use_checkpoint` flags: they are no-ops in its UNet. Why not a plain
`torch.utils.checkpoint` around each block: the pack trains an additive delta through
`torch.func.functional_call`, which swaps the patched weights in only while the forward runs.
The backward pass recomputes a checkpointed block *after* that swap is undone, so a plain
wrapper would silently recompute with the base weights and the delta would get wrong
gradients. Here each block's current (patched) weight tensors are passed to the checkpoint as
explicit inputs and swapped in again for the recomputation, so the recomputed graph is the
original one and gradients reach the delta.

The blocks are the UNet's ResBlocks and SpatialTransformers (where the activations live); their
`forward` is overridden on the instance only inside `checkpointed_blocks()` and restored after.
"""
from __future__ import annotations

import contextlib
import threading
from functools import reduce
from typing import Iterator

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.checkpoint import checkpoint

_inside = threading.local()


def checkpoint_units(unet: nn.Module) -> list[nn.Module]:
    """The layers of each input/middle/output block that own parameters."""
    blocks: list[nn.Module] = [*unet.input_blocks, *([unet.middle_block] if unet.middle_block else []),
                               *unet.output_blocks]
    return [layer for block in blocks for layer in block
            if any(True for _ in layer.parameters(recurse=True))]


def _current(module: nn.Module, name: str) -> torch.Tensor:
    """The tensor at a dotted name right now (the patched one inside functional_call)."""
    return reduce(getattr, name.split("."), module)


def _checkpointed_forward(layer: nn.Module, names: list[str]):
    original = type(layer).forward

    def forward(*args, **kwargs):
        if getattr(_inside, "active", False) or not torch.is_grad_enabled():
            return original(layer, *args, **kwargs)
        tensors = [_current(layer, n) for n in names]

        def run(*weights):
            _inside.active = True
            try:
                return functional_call(layer, dict(zip(names, weights)), args, kwargs, strict=False)
            finally:
                _inside.active = False

        return checkpoint(run, *tensors, use_reentrant=False)

    return forward


@contextlib.contextmanager
def checkpointed_blocks(unet: nn.Module) -> Iterator[None]:
    """Within the block, forward passes of `unet` with grad enabled keep no block activations."""
    units = checkpoint_units(unet)
    for layer in units:
        names = [n for n, _ in layer.named_parameters()]
        layer.forward = _checkpointed_forward(layer, names)
    try:
        yield
    finally:
        for layer in units:
            layer.__dict__.pop("forward", None)

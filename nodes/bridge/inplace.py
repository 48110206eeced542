"""Training through transformer blocks that add their residuals in place.

Why: ComfyUI's Flux blocks (and SD3's context processor) write `img += gate * attn(norm(img))`
into the very tensor their LayerNorm has just saved for the backward pass, which autograd
refuses ("modified by an inplace operation") — they are written for inference. Two measures
keep the in-place adds harmless without touching ComfyUI's code:

- while gradients are on, every LayerNorm of the transformer is given a copy of its input
  (a forward pre-hook), so what autograd saves is never written to; this costs one copy of
  the residual stream per norm call, not a copy of the saved activations;
- a checkpointed block is run on copies of its tensor inputs *inside* the checkpoint
  (`block_on_copies`), so its in-place adds cannot change the inputs its recomputation in the
  backward pass starts from.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from .rope import differentiable_rope


def _copy_input(module: nn.Module, args: tuple):
    if args and isinstance(args[0], Tensor) and args[0].requires_grad:
        return (args[0].clone(), *args[1:])
    return None


@contextlib.contextmanager
def norm_inputs_copied(network: nn.Module) -> Iterator[None]:
    """Within the block, each LayerNorm of `network` saves a copy of its input, not the input."""
    handles = [m.register_forward_pre_hook(_copy_input) for m in network.modules()
               if isinstance(m, nn.LayerNorm)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def block_on_copies(forward: Callable, layer: nn.Module) -> Callable:
    """`forward(layer, …)` called on copies of its tensor arguments."""
    def run(*args, **kwargs):
        copy = lambda v: v.clone() if isinstance(v, Tensor) and v.is_floating_point() else v  # noqa: E731
        return forward(layer, *map(copy, args), **{k: copy(v) for k, v in kwargs.items()})
    return run


def needs_copies(network: nn.Module) -> bool:
    """Transformers (Flux, SD3) add residuals in place; ComfyUI's UNets do not."""
    return any(hasattr(network, name) for name in ("double_blocks", "joint_blocks"))


@contextlib.contextmanager
def grad_context(network: nn.Module) -> Iterator[None]:
    """The context a training call of `network` runs in: for transformers with gradients on,
    norm inputs copied and (Flux) a differentiable RoPE (`rope.py`)."""
    if not (torch.is_grad_enabled() and needs_copies(network)):
        yield
        return
    rope = differentiable_rope() if hasattr(network, "double_blocks") else contextlib.nullcontext()
    with norm_inputs_copied(network), rope:
        yield

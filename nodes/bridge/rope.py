"""Flux's rotary position embedding, differentiable, for training calls.

Why: ComfyUI 0.12 applies Flux's RoPE with comfy-kitchen's `apply_rope` kernel when that
package is installed, and the kernel registers no backward ("Trying to backward through
comfy_kitchen.apply_rope.default but no autograd formula was registered"), so no gradient
reaches a weight that feeds a query or key. While a training call runs, `comfy.ldm.flux.math`
(whose `attention` looks `apply_rope` up at call time) is given this plain-torch rotation
instead: the same arithmetic, in float32, so autograd differentiates it. Inference calls keep
ComfyUI's kernel.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import Tensor


def rotate(x: Tensor, freqs: Tensor) -> Tensor:
    """x's channel pairs rotated by `freqs`, Flux's [..., pairs, 2, 2] rotation matrices."""
    pairs = x.to(freqs.dtype).unflatten(-1, (-1, 1, 2))
    out = freqs[..., 0] * pairs[..., 0] + freqs[..., 1] * pairs[..., 1]
    return out.flatten(-2).type_as(x)


def rotate_qk(q: Tensor, k: Tensor, freqs: Tensor) -> tuple[Tensor, Tensor]:
    return rotate(q, freqs), rotate(k, freqs)


@contextlib.contextmanager
def differentiable_rope() -> Iterator[None]:
    """Within the block, Flux's attention rotates q and k with `rotate_qk`."""
    import comfy.ldm.flux.math as flux_math

    original = flux_math.apply_rope
    flux_math.apply_rope = rotate_qk
    try:
        yield
    finally:
        flux_math.apply_rope = original

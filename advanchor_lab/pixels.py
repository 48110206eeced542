"""The lab's pixel space, shared by both worlds: 16×16 RGB, the model's values in [-1, 1].

Why 16×16: it is the largest size a CPU trains to full accuracy in minutes, and every concept of
either world (a colour, a shape, a 2-px pattern, a 1-px outline) is still drawn exactly.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

SIZE = 16


def to_tensor(images: np.ndarray) -> Tensor:
    """NHWC uint8 → NCHW float in [-1, 1] (the model's pixel space)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(x: Tensor) -> np.ndarray:
    """NCHW in [-1, 1] → NHWC uint8 (what the classifiers and the image grids read)."""
    x = ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round()
    return x.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()

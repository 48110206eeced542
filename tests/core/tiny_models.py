"""Seeded tiny models shared by the core tests."""
from __future__ import annotations

from pathlib import Path

import torch

from advanchor_lab.unet import UNet, UNetConfig

from ..comfy_support.runtime import comfyui_dir

CONTEXT = 32
LATENT = (4, 8, 8)


def tiny_unet(seed: int = 0, **overrides) -> UNet:
    torch.manual_seed(seed)
    cfg = dict(in_channels=4, out_channels=4, model_channels=16, channel_mult=(1, 2),
               attention_levels=(0, 1), context_dim=CONTEXT, num_heads=2, groups=4)
    cfg.update(overrides)
    return UNet(UNetConfig(**cfg)).eval()


def clip_tokenizer_dir() -> Path:
    """The real CLIP BPE files that ship inside ComfyUI's source tree (no download; ComfyUI
    itself is not imported)."""
    return comfyui_dir() / "comfy" / "sd1_tokenizer"



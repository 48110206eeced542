"""LATENT → clean latents in the UNet's space, and the latent shape of an image size."""
from __future__ import annotations

import torch
from torch import Tensor

from ...advanchor_core.errors import AdvAnchorError


def clean_latents(patcher, latent: dict | None) -> Tensor | None:
    """LATENT samples in the UNet's space (scaled as KSampler scales them), float32 CPU."""
    if latent is None:
        return None
    samples = latent["samples"]
    frames = getattr(patcher.model.latent_format, "latent_dimensions", 2) == 3
    if frames and samples.dim() == 5 and samples.shape[2] == 1:
        samples = samples[:, :, 0]   # a video-shaped format's one-frame image (Qwen-Image)
    if samples.dim() != 4:
        raise AdvAnchorError(f"the LATENT has shape {tuple(samples.shape)}; connect image "
                             "latents [batch, channels, height, width]")
    with torch.inference_mode(False):
        z = samples.detach().clone().float()
        z = patcher.model.process_latent_in(z[:, :, None] if frames else z)
        return (z[:, :, 0] if frames else z).detach().clone().cpu()


def latent_shape(patcher, size: int) -> tuple[int, int, int]:
    """(C, H, W) of the latent of a `size`×`size` image for this model."""
    fmt = patcher.model.latent_format
    down = getattr(fmt, "spacial_downscale_ratio", 8)
    return fmt.latent_channels, max(1, size // down), max(1, size // down)

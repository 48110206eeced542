"""Where the training x_t come from: the caller's latents, the frozen model's samples, or noise.

Why drawn up front: every (x_t, t) of a run is drawn once from one seeded generator, so two
runs with one seed see the same data, and the sequential/cyclical schedules can revisit them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .concept import ConceptConditioning
from .denoiser import Denoiser
from .errors import AdvAnchorError
from .sampling import ddim_sample

SOURCES = ("sampled", "supplied", "noise")


@dataclass(frozen=True)
class Draw:
    x_t: Tensor  # [B, C, H, W]
    t: Tensor    # [B] long


@dataclass(frozen=True)
class LatentConfig:
    source: str = "sampled"       # reference: images the frozen model drew for the concept
    sample_count: int = 4
    sample_steps: int = 25
    sample_guidance: float = 7.5
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise AdvAnchorError(f"latent source {self.source!r} is unknown: use one of {SOURCES}")
        if self.sample_count < 1 or self.sample_steps < 1 or self.batch_size < 1:
            raise AdvAnchorError("sample_count, sample_steps and batch_size must be at least 1")


def randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    """Noise drawn on the CPU so a seed gives the same numbers on every device."""
    return torch.randn(shape, generator=generator).to(device)


def draw_training_latents(denoiser: Denoiser, cc: ConceptConditioning, config: LatentConfig,
                          steps: int, generator: torch.Generator, device: torch.device,
                          latents: Tensor | None = None,
                          latent_shape: tuple[int, ...] | None = None) -> list[Draw]:
    """`steps` draws of (x_t, t), t uniform over the schedule."""
    z0 = _clean_latents(denoiser, cc, config, generator, device, latents, latent_shape)
    num_t = denoiser.schedule.num_timesteps
    draws = []
    for _ in range(steps):
        t = torch.randint(0, num_t, (config.batch_size,), generator=generator).to(device)
        if config.source == "noise":
            x_t = randn((config.batch_size, *z0.shape[1:]), generator, device)
        else:
            idx = torch.randint(0, z0.shape[0], (config.batch_size,), generator=generator)
            noise = randn((config.batch_size, *z0.shape[1:]), generator, device)
            x_t = denoiser.schedule.q_sample(z0[idx.to(device)], t, noise)
        draws.append(Draw(x_t, t))
    return draws


def _clean_latents(denoiser: Denoiser, cc: ConceptConditioning, config: LatentConfig,
                   generator: torch.Generator, device: torch.device, latents: Tensor | None,
                   latent_shape: tuple[int, ...] | None) -> Tensor:
    if config.source == "supplied":
        if latents is None or latents.dim() != 4 or latents.shape[0] < 1:
            raise AdvAnchorError("latent source 'supplied' needs latents [N, C, H, W]: connect a "
                                 "LATENT or choose the source 'sampled' or 'noise'")
        return latents.detach().to(device=device, dtype=torch.float32)
    if latent_shape is None:
        if latents is None:
            raise AdvAnchorError(f"latent source {config.source!r} needs a latent shape (C, H, W) "
                                 "or example latents to take it from")
        latent_shape = tuple(latents.shape[1:])
    if config.source == "noise":
        return torch.zeros((1, *latent_shape), device=device)
    x_T = randn((config.sample_count, *latent_shape), generator, device)
    return ddim_sample(denoiser, cc.erase, cc.empty, x_T=x_T, steps=config.sample_steps,
                       guidance=config.sample_guidance)

"""The probes every analysis averages over: a few (x_t, t) at a few noise levels.

Why shared: the anchor map, the layer sensitivity and the token attribution all measure the
frozen model's ε on the same probes, so their numbers describe the same situations.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..denoiser import Denoiser
from ..errors import AdvAnchorError
from ..latents import Draw, randn


@dataclass(frozen=True)
class ProbeConfig:
    """A few latents at a few noise levels: cheap, and enough to average out one draw's luck.

    `timesteps` are fractions of the schedule (0 = clean, 1 = pure noise) so one setting fits
    every model's schedule length.
    """

    latents: int = 2
    timesteps: tuple[float, ...] = (0.2, 0.5, 0.8)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latents < 1:
            raise AdvAnchorError(f"probe latents is {self.latents}: use at least 1")
        if not self.timesteps or any(not 0.0 <= f <= 1.0 for f in self.timesteps):
            raise AdvAnchorError(f"probe timesteps {self.timesteps} must be fractions in [0, 1]")


def make_probes(denoiser: Denoiser, config: ProbeConfig = ProbeConfig(), *,
                latents: Tensor | None = None,
                latent_shape: tuple[int, ...] | None = None) -> Draw:
    """`config.latents` clean latents (given ones first, else unit Gaussians) noised to each
    timestep: one batch of `latents × len(timesteps)`, timestep-major."""
    gen = torch.Generator().manual_seed(config.seed)
    device = model_device(denoiser)
    if latents is not None:
        if latents.dim() != 4:
            raise AdvAnchorError(f"probe latents have shape {tuple(latents.shape)}: give [N, C, H, W]")
        z0 = latents.detach().float().to(device)
        z0 = z0[torch.arange(config.latents) % z0.shape[0]]
    elif latent_shape is not None:
        z0 = randn((config.latents, *latent_shape), gen, device)
    else:
        raise AdvAnchorError("the probes need example latents or a latent shape (C, H, W)")
    last = denoiser.schedule.num_timesteps - 1
    steps = [round(f * last) for f in config.timesteps]
    t = torch.tensor([s for s in steps for _ in range(config.latents)], dtype=torch.long, device=device)
    z = z0.repeat(len(steps), *([1] * (z0.dim() - 1)))
    noise = randn(tuple(z.shape), gen, device)
    return Draw(denoiser.schedule.q_sample(z, t, noise), t)


def model_device(denoiser: Denoiser) -> torch.device:
    """Where the model's weights are: the probes and every measurement are made there."""
    return next(iter(denoiser.named_weights().values())).device


def probe_eps(denoiser: Denoiser, probes: Draw, cond: Tensor) -> Tensor:
    """ε for one conditioning [1, L, D] at every probe, float32 [B, ...]."""
    b = probes.x_t.shape[0]
    return denoiser(probes.x_t, probes.t, cond.to(probes.x_t.device).expand(b, -1, -1)).float()


def per_timestep(values: Tensor, probes: Draw) -> dict[int, Tensor]:
    """Group per-probe rows by timestep (timestep-major order is kept)."""
    out: dict[int, list[Tensor]] = {}
    for v, t in zip(values, probes.t.tolist()):
        out.setdefault(int(t), []).append(v)
    return {t: torch.stack(vs) for t, vs in out.items()}

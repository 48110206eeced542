"""Deterministic DDIM sampling with classifier-free guidance, in ε-space.

Used to make training latents from the frozen model and, in the lab, to draw images.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .denoiser import Delta, Denoiser


def ddim_timesteps(num_timesteps: int, steps: int) -> Tensor:
    return torch.linspace(num_timesteps - 1, 0, steps).round().long()


@torch.no_grad()
def ddim_sample(denoiser: Denoiser, cond: Tensor, uncond: Tensor, *, x_T: Tensor,
                steps: int = 25, guidance: float = 7.5, delta: Delta | None = None) -> Tensor:
    """Run DDIM (η=0) from x_T; `cond`/`uncond` are [1 or B, L, D]. Returns x0 [B, ...]."""
    b = x_T.shape[0]
    cond, uncond = cond.expand(b, -1, -1), uncond.expand(b, -1, -1)
    abar = denoiser.schedule.alphas_cumprod.to(x_T.device)
    ts = ddim_timesteps(denoiser.schedule.num_timesteps, steps).tolist()
    x = x_T
    for i, t in enumerate(ts):
        tt = torch.full((2 * b,), t, device=x.device, dtype=torch.long)
        eps_c, eps_u = denoiser(torch.cat([x, x]), tt, torch.cat([cond, uncond]), delta).chunk(2)
        eps = eps_u + guidance * (eps_c - eps_u)
        a_t = abar[t]
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else torch.ones_like(a_t)
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x

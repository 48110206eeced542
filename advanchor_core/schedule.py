"""The noise schedule: the only thing the core needs to know about a model's diffusion process.

Why a separate object: the method works in ε-space, but models predict ε, x0, v or a
rectified-flow velocity. The schedule converts between them and draws x_t, so losses are
written once.

Rectified flow (Flux, SD3) draws x_f = (1 − σ)·x0 + σ·ε. That is the variance-preserving
x_t = √ᾱ·x0 + √(1−ᾱ)·ε scaled by 1/(√ᾱ + √(1−ᾱ)), with ᾱ = (1−σ)² / ((1−σ)² + σ²): the same
noise ε at every step, so a flow model is one more prediction type over one schedule, and the
core's draws, DDIM sampler (which is the flow's Euler step in these coordinates) and ε-space
losses apply unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class NoiseSchedule:
    alphas_cumprod: Tensor  # [T], ᾱ_t for t = 0..T-1

    @classmethod
    def sd_linear(cls, steps: int = 1000, beta_start: float = 0.00085,
                  beta_end: float = 0.012) -> "NoiseSchedule":
        """Stable Diffusion's "scaled linear" betas."""
        betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float64) ** 2
        return cls(torch.cumprod(1.0 - betas, 0).float())

    @classmethod
    def cosine(cls, steps: int = 1000, s: float = 0.008) -> "NoiseSchedule":
        x = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((x + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        return cls(torch.cumprod(1.0 - betas, 0).float())

    @classmethod
    def rectified_flow(cls, sigmas: Tensor) -> "NoiseSchedule":
        """The schedule of a flow model whose step t has noise level `sigmas[t]` (increasing).

        σ = 1 (pure noise, no signal left) is left out: ε-space conversions divide by √ᾱ there.
        """
        s = sigmas.detach().to("cpu", torch.float64)
        s = s[s < 1.0]
        if s.numel() == 0 or bool((s <= 0).any()):
            raise ValueError("flow sigmas must lie in (0, 1]")
        return cls(((1 - s) ** 2 / ((1 - s) ** 2 + s ** 2)).float())

    @property
    def num_timesteps(self) -> int:
        return self.alphas_cumprod.shape[0]

    def _coefs(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
        a = self.alphas_cumprod.to(like.device)[t.long().to(like.device)].to(like.dtype)
        a = a.reshape(-1, *([1] * (like.dim() - 1)))
        return a.sqrt(), (1 - a).sqrt()

    def q_sample(self, z0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        sa, s1 = self._coefs(t, z0)
        return sa * z0 + s1 * noise

    def eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        sa, s1 = self._coefs(t, x_t)
        return (x_t - sa * x0) / s1

    def x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        sa, s1 = self._coefs(t, x_t)
        return (x_t - s1 * eps) / sa

    def eps_from_v(self, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
        sa, s1 = self._coefs(t, x_t)
        return sa * v + s1 * x_t

    def flow_sigma(self, t: Tensor) -> Tensor:
        """σ of the rectified-flow sample at step t, [B] (float64 for exactness)."""
        a = self.alphas_cumprod.to(torch.float64)[t.long().cpu()]
        sa, s1 = a.sqrt(), (1 - a).sqrt()
        return (s1 / (sa + s1)).to(t.device)

    def flow_input(self, x_t: Tensor, t: Tensor) -> Tensor:
        """x_t as the rectified-flow sample (1 − σ)·x0 + σ·ε with the same x0 and ε."""
        sa, s1 = self._coefs(t, x_t)
        return x_t / (sa + s1)

    def eps_from_flow(self, x_t: Tensor, t: Tensor, velocity: Tensor) -> Tensor:
        """ε from a flow model's velocity u = ε − x0 at `flow_input(x_t, t)`:
        ε = x_f + (1 − σ)·u, with no division by a small coefficient."""
        sa, s1 = self._coefs(t, x_t)
        return (x_t + sa * velocity) / (sa + s1)

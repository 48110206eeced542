"""The trained lab model as the core sees it: a Denoiser, its text encoder, and a sampler.

Why a world object: the demo, the benchmark and the tests all need the same three things —
the frozen model wrapped as the core's `Denoiser` (so an erasure is a weight delta on it), the
encoder, and seeded DDIM + classifier-free-guidance sampling, with or without a delta, so
"before" and "after" images start from identical noise and can be compared pixel by pixel.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch
from safetensors import safe_open
from torch import Tensor

from ..denoiser import TorchDenoiser
from ..models import UNet, UNetConfig
from ..sampling import ddim_sample
from ..schedule import NoiseSchedule
from . import data
from .text import CachedEncoder, load_encoder

WEIGHTS = Path(__file__).parent / "weights" / "lab_unet.safetensors"
GUIDANCE = 3.0
STEPS = 25


@dataclass
class World:
    denoiser: TorchDenoiser
    encoder: CachedEncoder
    meta: dict

    @property
    def schedule(self) -> NoiseSchedule:
        return self.denoiser.schedule

    @property
    def unet(self) -> UNet:
        return self.denoiser.module

    def noise(self, n: int, seed: int) -> Tensor:
        """x_T for n samples; sample i of a seed is the same whatever the prompts."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn((n, 3, data.SIZE, data.SIZE), generator=g)

    @torch.no_grad()
    def sample(self, prompts: Sequence[str], seed: int = 0, steps: int = STEPS,
               guidance: float = GUIDANCE, delta: Mapping[str, Tensor] | None = None,
               batch: int = 96) -> Tensor:
        """One image per prompt (repeat prompts for more), NCHW in [-1, 1].

        Deterministic: the initial noise of the i-th prompt comes from `seed` alone, and DDIM
        (η = 0) adds no noise afterwards.
        """
        return self.sample_conditioning(self.encoder.encode(list(prompts)), seed, steps,
                                        guidance, delta, batch)

    @torch.no_grad()
    def sample_conditioning(self, cond: Tensor, seed: int = 0, steps: int = STEPS,
                            guidance: float = GUIDANCE, delta: Mapping[str, Tensor] | None = None,
                            batch: int = 96) -> Tensor:
        """One image per row of `cond` [n, L, D] (e.g. an attack's conditioning, repeated),
        with the noise `sample` gives its i-th prompt at this seed."""
        uncond = self.encoder.encode([""])
        x_T = self.noise(cond.shape[0], seed)
        out = [ddim_sample(self.denoiser, cond[i:i + batch], uncond, x_T=x_T[i:i + batch],
                           steps=steps, guidance=guidance, delta=delta)
               for i in range(0, cond.shape[0], batch)]
        return torch.cat(out) if out else x_T[:0]


def load_unet(path: Path = WEIGHTS) -> tuple[UNet, dict]:
    """The UNet rebuilt from the config stored in the weights file, in fp32."""
    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata() or {})
        for k in f.keys():
            tensors[k] = f.get_tensor(k).float()
    cfg = json.loads(meta["config"])
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
    unet = UNet(UNetConfig(**cfg))
    unet.load_state_dict(tensors)
    return unet.eval().requires_grad_(False), meta


def load_world(path: Path = WEIGHTS) -> World:
    """The committed lab model, wrapped as the core's Denoiser, with its encoder."""
    unet, meta = load_unet(Path(path))
    schedule = {"cosine": NoiseSchedule.cosine, "sd_linear": NoiseSchedule.sd_linear}[meta["schedule"]]()
    return World(TorchDenoiser(unet, schedule, prediction=meta.get("prediction", "eps")),
                 load_encoder(), meta)

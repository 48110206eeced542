"""A lab world: what each of the two worlds provides, and its trained model as the core sees it.

Why one protocol: the trainer, the evaluation, the demo and the benchmark are the same for the
shapes world (`shapes/`) and the styles world (`styles/`); only the world's data, captions,
concepts and judge differ. `WorldSpec` names what a world provides, so that shared code takes a
world and never branches on which one it is.

Why a `World` object: the demo, the benchmark and the tests all need the same three things of
a trained model — the frozen model wrapped as the core's `Denoiser` (so an erasure is a weight
delta on it), the encoder, and seeded DDIM + classifier-free-guidance sampling, with or without
a delta, so "before" and "after" images start from identical noise and can be compared pixel by
pixel.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import torch
from safetensors import safe_open
from torch import Tensor

from advanchor_core.concept import Concept
from advanchor_core.denoiser import TorchDenoiser
from advanchor_core.sampling import ddim_sample
from advanchor_core.schedule import NoiseSchedule

from .pixels import SIZE
from .text import CachedEncoder, load_encoder
from .unet import UNet, UNetConfig

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
GUIDANCE = 3.0
STEPS = 25
# sd_linear by default: its last timestep keeps ᾱ ≈ 0.005, so plain (unclipped) DDIM from the
# core and ComfyUI's own samplers work on a lab model; the cosine schedule's ᾱ_999 ≈ 2e-9
# makes the first DDIM step divide by ~5e-5.
SCHEDULES = {"sd_linear": NoiseSchedule.sd_linear, "cosine": NoiseSchedule.cosine}


@dataclass
class World:
    """A world's trained model: the core's Denoiser, its encoder, its weights' metadata."""

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
        return torch.randn((n, 3, SIZE, SIZE), generator=g)

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


class LabTarget(Protocol):
    """What erasing needs of a concept of either world (`LabConcept`, `StyleConcept`)."""

    @property
    def word(self) -> str: ...

    def core_concept(self, retain: bool = False) -> Concept: ...

    def anchor_candidates(self) -> tuple[str, ...]: ...


class WorldSpec(Protocol):
    """What a lab world provides: its model, its training data, its concepts and its judge.

    A world's plan, measurement of the original and comparison are its own types: only the
    world that made them reads them, so they pass through shared code untouched.
    """

    name: str            # "shapes" or "styles": the --world value
    weights: Path        # the committed model
    max_tokens: int      # the encoder length that fits every caption of the world
    train_steps: int     # the committed model's training length
    check_samples: int   # samples per prompt of the accuracy check

    def training_captions(self) -> list[str]:
        """Every caption the training sampler can emit (encoded once)."""

    def training_batch(self, batch: int, rng: np.random.Generator) -> tuple[Tensor, list[str]]:
        """`batch` training images in [-1, 1] and their sampled captions."""

    def train_meta(self) -> dict[str, str]:
        """What the world adds to a trained model's metadata."""

    def check(self, world: World, samples: int, seed: int) -> str:
        """The trained model's accuracy on the world's concepts, as printable lines."""

    def concept(self, name: str) -> LabTarget:
        """The named concept; ValueError naming what the world takes."""

    def plan(self, concept: LabTarget, target_samples: int) -> Any:
        """The prompts an erasure of `concept` is evaluated on."""

    def original(self, world: World, plan: Any, seed: int) -> Any:
        """The unchanged model measured once on `plan`: what every erasure is compared with."""

    def compare(self, world: World, plan: Any, original: Any, seed: int,
                delta: Mapping[str, Tensor], seconds: float) -> Any:
        """The erased model (`delta`) measured on `plan` against `original`."""

    def table(self, plan: Any, cmp: Any) -> str:
        """The demo's before/after table of a comparison."""

    def grid_rows(self, world: World, plan: Any, cmp: Any, delta: Mapping[str, Tensor],
                  seed: int) -> list[tuple[str, Tensor]]:
        """The demo's before/after image rows, at identical seeds."""


def load_unet(path: Path) -> tuple[UNet, dict]:
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


def load_world(spec: WorldSpec, path: Path | None = None) -> World:
    """A world's model (its committed one unless `path`), wrapped as the core's Denoiser, with
    the world's encoder. A shapes-world model's metadata names no world."""
    path = Path(path or spec.weights)
    train = f"train one with python -m advanchor_lab.train --world {spec.name}"
    if not path.exists():
        raise FileNotFoundError(f"no {spec.name}-world model at {path}: {train}")
    unet, meta = load_unet(path)
    if meta.get("world", "shapes") != spec.name:
        raise ValueError(f"{path} is not a {spec.name}-world model (its metadata says world="
                         f"{meta.get('world')!r}); {train}")
    schedule = SCHEDULES[meta["schedule"]]()
    return World(TorchDenoiser(unet, schedule, prediction=meta.get("prediction", "eps")),
                 load_encoder(spec.max_tokens), meta)

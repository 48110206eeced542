"""Prompts → images through ComfyUI's own sampling path (what KSampler + VAE Decode do).

Why ComfyUI's path and not the core's DDIM: a measurement should show what a user of the
graph gets from each model — the same samplers, schedulers, noise and VAE as their KSampler.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

import comfy.model_management
import comfy.sample


@dataclass(frozen=True)
class SamplerSettings:
    """One KSampler's settings, shared by every sample of a measurement."""

    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def text_conditioning(clip, prompt: str) -> list:
    """A CONDITIONING for `prompt`, as CLIP Text Encode makes it."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(prompt))


def empty_latent(model, settings: SamplerSettings) -> Tensor:
    """One empty latent of the image size, with the model's channel count (as KSampler fixes it)."""
    latent = torch.zeros([1, 4, settings.height // 8, settings.width // 8])
    return comfy.sample.fix_empty_latent_channels(model, latent)


def sample_image(model, vae, positive: list, negative: list, seed: int, settings: SamplerSettings,
                 on_step: Callable[[], None] | None = None) -> Tensor:
    """One image [1, H, W, C] in [0, 1] from `model` at `seed`; neither model nor inputs change."""
    comfy.model_management.throw_exception_if_processing_interrupted()
    latent = empty_latent(model, settings)
    noise = comfy.sample.prepare_noise(latent, seed)
    callback = (lambda step, x0, x, total: on_step()) if on_step is not None else None
    samples = comfy.sample.sample(model, noise, settings.steps, settings.cfg, settings.sampler_name,
                                  settings.scheduler, positive, negative, latent, seed=seed,
                                  callback=callback, disable_pbar=True)
    images = vae.decode(samples)
    return images.reshape(-1, *images.shape[-3:])[:1].float().cpu()

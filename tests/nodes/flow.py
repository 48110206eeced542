"""What the rectified-flow tests share: the tiny families, each one's preset, and a prediction
at a shared draw."""
from __future__ import annotations

import torch

FAMILIES = ("flux-dev", "flux-schnell", "sd3", "sd3.5", "chroma", "zimage", "qwen-image", "flux2", "flux2-dev")
PRESET = {"flux-dev": "xattn-kv", "flux-schnell": "xattn", "sd3": "xattn", "sd3.5": "xattn",
          "chroma": "xattn-kv", "zimage": "xattn", "qwen-image": "xattn-kv", "flux2": "xattn-kv",
          "flux2-dev": "xattn-kv"}


def draw(model, seed: int, batch: int):
    """A clean latent, noise and steps spread over the model's schedule."""
    g = torch.Generator().manual_seed(seed)
    steps = model.get_model_object("model_sampling").sigmas.shape[0] - 1
    t = torch.linspace(0.05 * steps, 0.9 * steps, batch).long()
    shape = (batch, model.model.latent_format.latent_channels, 8, 8)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g), t


def eps(bridge, model, clip, prompts, seed=0):
    """ε of each prompt at one shared draw, [P, B, ...]."""
    den = bridge.ComfyDenoiser(model).prepare()
    cond = bridge.text_encoder(den, clip).encode(prompts)
    z0, noise, t = draw(model, seed, 2)
    x_t = den.schedule.q_sample(z0, t, noise)
    with torch.inference_mode():
        return torch.stack([den(x_t, t, c[None].expand(2, -1, -1)) for c in cond])

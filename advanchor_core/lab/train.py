"""Train the lab's text-to-image diffusion model: `python -m advanchor_core.lab.train`.

Why these choices (see ../../shared lab notes): 16×16 pixels is the largest size a CPU trains
to full accuracy in minutes; the UNet has SD-style names so every parameter preset applies;
SD's scaled-linear schedule (T=1000) with ε-prediction, so the core's plain DDIM and ComfyUI's
samplers treat it like an SD1.x model; min-SNR-5 loss weighting, EMA and a cosine learning-rate
decay make 1,800 steps enough (100% on every concept at DDIM 25, guidance 3). Every random draw comes
from the seed, so the committed weights are reproducible (up to CPU float non-determinism).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ..models import UNet, UNetConfig
from ..schedule import NoiseSchedule
from . import data
from .text import ENCODER_NAME, MAX_TOKENS, load_encoder

# sd_linear by default: its last timestep keeps ᾱ ≈ 0.005, so plain (unclipped) DDIM from the
# core and ComfyUI's own samplers work on the lab model; the cosine schedule's ᾱ_999 ≈ 2e-9
# makes the first DDIM step divide by ~5e-5.
SCHEDULES = {"sd_linear": NoiseSchedule.sd_linear, "cosine": NoiseSchedule.cosine}
WEIGHTS = Path(__file__).parent / "weights" / "lab_unet.safetensors"

LAB_CONFIG = UNetConfig(in_channels=3, out_channels=3, model_channels=32, channel_mult=(1, 2, 2),
                        num_res_blocks=1, attention_levels=(1, 2), context_dim=384, num_heads=4,
                        groups=8)


def train(steps: int = 1800, seed: int = 0, batch: int = 32, lr: float = 1e-3, warmup: int = 200,
          ema_decay: float = 0.995, min_snr: float = 5.0, schedule_name: str = "sd_linear",
          log_every: int = 100) -> tuple[UNet, dict]:
    """Train from scratch; returns the EMA model and the run's metadata."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    images, items = data.dataset()
    encoder = load_encoder()
    captions = data.training_captions()
    table = encoder.encode(captions)  # every caption the sampler can emit, encoded once
    index = {c: i for i, c in enumerate(captions)}
    schedule = SCHEDULES[schedule_name]()
    acp = schedule.alphas_cumprod
    model = UNet(LAB_CONFIG)
    ema = UNet(LAB_CONFIG)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    for step in range(steps):
        scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        idx = rng.integers(len(items), size=batch)
        x0 = images[idx]
        cond = table[[index[c] for c in data.sample_captions([items[i] for i in idx], rng)]]
        t = torch.randint(0, schedule.num_timesteps, (batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        x_t = schedule.q_sample(x0, t, noise)
        snr = acp[t] / (1 - acp[t])
        weight = snr.clamp(max=min_snr) / snr  # min-SNR-γ for ε-prediction
        loss = (weight * (model(x_t, t, context=cond) - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - ema_decay)
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - start:6.1f}s",
                  flush=True)
    meta = {"config": json.dumps(asdict(LAB_CONFIG)), "schedule": schedule_name, "prediction": "eps",
            "resolution": str(data.SIZE), "seed": str(seed), "steps": str(steps),
            "batch": str(batch), "lr": str(lr), "ema_decay": str(ema_decay),
            "min_snr": str(min_snr), "encoder": ENCODER_NAME, "max_tokens": str(MAX_TOKENS),
            "train_seconds": f"{time.perf_counter() - start:.0f}"}
    return ema.eval(), meta


def save(model: UNet, meta: dict, path: Path = WEIGHTS) -> None:
    """fp16 weights (half the size; the lab's accuracy is unchanged) with config metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="sd_linear")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy check")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, meta = train(steps=args.steps, seed=args.seed, schedule_name=args.schedule)
    save(model, meta, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    if not args.no_eval:
        from .world import load_world
        from .metrics import concept_accuracy

        world = load_world(args.out)
        for factor, acc in concept_accuracy(world, samples_per_prompt=8, seed=1).items():
            print(f"{factor:8s} " + "  ".join(f"{k} {v:.0%}" for k, v in acc.items()))


if __name__ == "__main__":
    main()

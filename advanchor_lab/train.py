"""Train a lab world's text-to-image model: `python -m advanchor_lab.train --world shapes|styles`.

Why these choices: 16×16 pixels is the largest size a CPU trains to full accuracy in minutes;
the UNet has SD-style names so every parameter preset applies; SD's scaled-linear schedule
(T=1000) with ε-prediction, so the core's plain DDIM and ComfyUI's samplers treat it like an
SD1.x model; min-SNR-5 loss weighting, EMA and a cosine learning-rate decay make 1,800 steps
enough for the shapes world (100% on every concept at DDIM 25, guidance 3) and 5,000 for the
styles world. Both worlds train the same UNet (`LAB_CONFIG`, 1.3M parameters, channels
32/64/64); a world supplies only its images, captions and encoder length. Every random draw
comes from the seed, so the committed weights are reproducible (up to CPU float
non-determinism).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from .pixels import SIZE
from .text import ENCODER_NAME, load_encoder
from .unet import UNet, UNetConfig
from .world import SCHEDULES, WorldSpec, load_world
from .worlds import WORLDS

LAB_CONFIG = UNetConfig(in_channels=3, out_channels=3, model_channels=32, channel_mult=(1, 2, 2),
                        num_res_blocks=1, attention_levels=(1, 2), context_dim=384, num_heads=4,
                        groups=8)


@dataclass(frozen=True)
class Recipe:
    """The optimisation settings of a run (the defaults made the committed models)."""

    steps: int
    seed: int = 0
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 200
    ema_decay: float = 0.995
    min_snr: float = 5.0
    schedule: str = "sd_linear"

    def lr_scale(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 10% of the peak."""
        warm = min(1.0, (step + 1) / self.warmup)
        return warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / self.steps)))


def train(world: WorldSpec, recipe: Recipe, log_every: int = 100,
          snapshots: dict[int, Path] | None = None) -> tuple[UNet, dict]:
    """Train from scratch; returns the EMA model and the run's metadata.

    `snapshots` maps step counts to paths where the EMA model is saved after that many steps
    (to see accuracy against training time; the committed model is the final one)."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    encoder = load_encoder(world.max_tokens)
    captions = world.training_captions()
    table = encoder.encode(captions)  # every caption the sampler can emit, encoded once
    index = {c: i for i, c in enumerate(captions)}
    schedule = SCHEDULES[recipe.schedule]()
    acp = schedule.alphas_cumprod
    model = UNet(LAB_CONFIG)
    ema = UNet(LAB_CONFIG)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    start = time.perf_counter()
    for step in range(recipe.steps):
        for group in opt.param_groups:
            group["lr"] = recipe.lr * recipe.lr_scale(step)
        x0, batch_captions = world.training_batch(recipe.batch, rng)
        cond = table[[index[c] for c in batch_captions]]
        t = torch.randint(0, schedule.num_timesteps, (recipe.batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        x_t = schedule.q_sample(x0, t, noise)
        snr = acp[t] / (1 - acp[t])
        weight = snr.clamp(max=recipe.min_snr) / snr  # min-SNR-γ for ε-prediction
        loss = (weight * (model(x_t, t, context=cond) - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - recipe.ema_decay)
        if log_every and (step % log_every == 0 or step == recipe.steps - 1):
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.perf_counter() - start:6.1f}s",
                  flush=True)
        if snapshots and step + 1 in snapshots:
            save(ema, meta(world, recipe, step + 1, time.perf_counter() - start), snapshots[step + 1])
    return ema.eval(), meta(world, recipe, recipe.steps, time.perf_counter() - start)


def meta(world: WorldSpec, recipe: Recipe, steps: int, seconds: float) -> dict[str, str]:
    """What a weights file records: the UNet's config (to rebuild it), the run, the encoder."""
    return {"config": json.dumps(asdict(LAB_CONFIG)), "schedule": recipe.schedule,
            "prediction": "eps", "resolution": str(SIZE), "seed": str(recipe.seed),
            "steps": str(steps), "batch": str(recipe.batch), "lr": str(recipe.lr),
            "ema_decay": str(recipe.ema_decay), "min_snr": str(recipe.min_snr),
            "encoder": ENCODER_NAME, "max_tokens": str(world.max_tokens), **world.train_meta(),
            "train_seconds": f"{seconds:.0f}"}


def save(model: UNet, meta: dict, path: Path) -> None:
    """fp16 weights (half the size; the lab's accuracy is unchanged) with config metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().half().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=meta)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=list(WORLDS), required=True)
    parser.add_argument("--steps", type=int, help="default: the world's committed model's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="sd_linear")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="default: the world's committed weights file")
    parser.add_argument("--snapshot", type=int, action="append", default=[],
                        help="also save the EMA model after this many steps (repeatable), next to --out")
    parser.add_argument("--eval-samples", type=int,
                        help="samples per prompt of the accuracy check after training (0: none; "
                             "default: the world's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    world = WORLDS[args.world]
    out = args.out or world.weights
    recipe = Recipe(steps=args.steps or world.train_steps, seed=args.seed, schedule=args.schedule)
    snaps = {n: out.with_name(f"{out.stem}.step{n}{out.suffix}") for n in args.snapshot}
    model, run_meta = train(world, recipe, snapshots=snaps)
    save(model, run_meta, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)", flush=True)
    samples = world.check_samples if args.eval_samples is None else args.eval_samples
    if samples:
        print(world.check(load_world(world, out), samples, seed=1))


if __name__ == "__main__":
    main()

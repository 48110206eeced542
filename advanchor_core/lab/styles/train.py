"""Train the style world's model: `python -m advanchor_core.lab.styles.train`.

The first lab's recipe and UNet (`..train`: the same `LAB_CONFIG` — SD-named, 1.3M parameters,
channels 32/64/64 — SD's scaled-linear schedule, ε-prediction, min-SNR-5 weighting, Adam with
warm-up and cosine decay, gradient clipping, EMA) on the style world's images and captions,
conditioned on the same frozen MiniLM at 20 tokens. Every random draw comes from the seed, so
a run is reproducible (up to CPU float non-determinism).

First run (seed 0, 2,400 steps of batch 32, 1-px stripes and dots): 686 s of training on one
thread, 0.26–0.30 s/step. Below the acceptance bar (≥ 95% right at DDIM 25 / guidance 3), so
no weights committed: 69% ("in-style") and 66% ("prefix") of samples right. Content, outline
and tint were right on ~100% of its valid samples; the pattern failed (drawn faint, left out
or replaced: dots 38–52%, checks 50–72%, stripes 52–95% by style).

Second run (seed 0, the defaults: 5,000 steps of batch 32, `--threads 2`; patterns redrawn in
2×2-pixel cells: 2-px stripes, 2×2 dots on a 4-px grid, the 2×2 checkerboard as before):
848 s of training on the machine's two (otherwise idle) cores, 0.17 s/step; in a bare
benchmark of the UNet step two threads ran 0.15 s/step against 0.22 s/step for one, so
`--threads 2` is the faster choice when both cores are free (on a shared machine use
`--threads 1`: two threads then ran at 1.6 s/step). Still *below* the bar, so its weights are
not committed either: 90.2% ("in-style") and 92.0% ("prefix") right, 91.1% together (64
samples a style and phrasing, seed 0). Stripes and dots are now learnt (zorbic 94/94%, plimm
94/98%, vesk, quold, brisp 100/100%, drane 100/97%); the failures are checks, drawn as dots
(fennic 55/69%, taglo 80/78%; 70 of the 74 wrong patterns are checks read as dots; attribute
prompt "with checks" 62.5%, every other attribute ≥ 98%). Both are 2×2 cells on the same 4-px
lattice (in each 4×4 block dots ink one 2×2 cell, checks the two off its diagonal), so it gets
the lattice but not which cells to ink: a next attempt should make checks and dots less alike
(e.g. dots at a 6-px spacing, or a checkerboard of another cell size) rather than only train
longer.

Third run — the committed weights (`lab/weights/styles_unet.safetensors`): the same defaults,
checks redrawn as a 4×4 checkerboard. 920 s of training on two idle cores (0.18 s/step; a few
seconds over the 15-minute budget — 4,800 steps would fit). At DDIM 25 / guidance 3, 64 samples
a style and phrasing, seed 0 (`python -m advanchor_core.lab.styles.evaluate`): **96.9%**
("in-style") and **96.3%** ("prefix") right on the trained phrasings, 97.1% / 96.5% on the
held-out ones; by style 89–100% (lowest: zorbic prefix 89%, drane and fennic 92–94%); attribute
prompts outline 92%, warm 97%, cool 100%, stripes 97%, dots 98%, checks 100%; content right on
99% of superclass samples.
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

from ...models import UNet
from ..train import LAB_CONFIG, SCHEDULES, save
from . import data
from .text import ENCODER_NAME, MAX_TOKENS, load_encoder

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "styles_unet.safetensors"


def train(steps: int = 5000, seed: int = 0, batch: int = 32, lr: float = 1e-3, warmup: int = 200,
          ema_decay: float = 0.995, min_snr: float = 5.0, schedule_name: str = "sd_linear",
          log_every: int = 100, snapshots: dict[int, Path] | None = None) -> tuple[UNet, dict]:
    """Train from scratch; returns the EMA model and the run's metadata.

    `snapshots` maps step counts to paths where the EMA model is saved after that many steps
    (to see accuracy against training time; the committed model is the final one)."""
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
        idx = data.sample_items(batch, rng)
        x0 = data.as_model_input(images[torch.from_numpy(idx)])
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
        if snapshots and step + 1 in snapshots:
            save(ema, {**_meta(LAB_CONFIG, schedule_name, seed, step + 1, batch, lr, ema_decay, min_snr),
                       "train_seconds": f"{time.perf_counter() - start:.0f}"}, snapshots[step + 1])
    meta = {**_meta(LAB_CONFIG, schedule_name, seed, steps, batch, lr, ema_decay, min_snr),
            "train_seconds": f"{time.perf_counter() - start:.0f}"}
    return ema.eval(), meta


def _meta(config, schedule_name: str, seed: int, steps: int, batch: int, lr: float,
          ema_decay: float, min_snr: float) -> dict[str, str]:
    return {"config": json.dumps(asdict(config)), "schedule": schedule_name, "prediction": "eps",
            "resolution": str(data.SIZE), "seed": str(seed), "steps": str(steps),
            "batch": str(batch), "lr": str(lr), "ema_decay": str(ema_decay),
            "min_snr": str(min_snr), "encoder": ENCODER_NAME, "max_tokens": str(MAX_TOKENS),
            "world": "styles", "threads": str(torch.get_num_threads())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", choices=sorted(SCHEDULES), default="sd_linear")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--snapshot", type=int, action="append", default=[],
                        help="also save the EMA model after this many steps (repeatable), next to --out")
    parser.add_argument("--eval-samples", type=int, default=16,
                        help="samples per style and prompt family in the check after training (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    snaps = {n: args.out.with_name(f"{args.out.stem}.step{n}{args.out.suffix}") for n in args.snapshot}
    model, meta = train(steps=args.steps, seed=args.seed, schedule_name=args.schedule, snapshots=snaps)
    save(model, meta, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)", flush=True)
    if args.eval_samples:
        from .evaluate import report
        from .world import load_world

        print(report(load_world(args.out), samples=args.eval_samples, seed=1))


if __name__ == "__main__":
    main()

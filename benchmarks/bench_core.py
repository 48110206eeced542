"""Seconds, denoiser passes and peak memory per update: the core vs the reference's naive loop.

    python benchmarks/bench_core.py            # CPU: SD1.5-layout UNet, reduced channels
    python benchmarks/bench_core.py --full     # CUDA: the real SD1.5 UNet size

Each case runs in its own process so peak memory is its own. Alternating schedule, L_adv1,
20 anchor steps, with 0 and 8 attribute prompts (the nudity preset has 8).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from advanchor_core.anchors import AnchorConfig  # noqa: E402
from advanchor_core.concept import ConceptConditioning  # noqa: E402
from advanchor_core.denoiser import TorchDenoiser  # noqa: E402
from advanchor_core.latents import LatentConfig, draw_training_latents  # noqa: E402
from advanchor_core.schedule import NoiseSchedule  # noqa: E402
from advanchor_core.unlearn import UnlearnConfig, unlearn  # noqa: E402
from advanchor_lab.unet import UNet, UNetConfig  # noqa: E402
from benchmarks.naive_reference import naive_reference_unlearn  # noqa: E402
from benchmarks.results_md import write_section  # noqa: E402

ANCHOR_STEPS = 20


def sd15_layout(full: bool) -> UNetConfig:
    return UNetConfig(in_channels=4, out_channels=4, model_channels=320 if full else 32,
                      channel_mult=(1, 2, 4, 4), num_res_blocks=2, attention_levels=(0, 1, 2),
                      context_dim=768, num_heads=8, groups=32)


def conditioning(attributes: int, device: str) -> ConceptConditioning:
    g = torch.Generator().manual_seed(0)
    enc = torch.randn(5 + attributes, 77, 768, generator=g).to(device)
    return ConceptConditioning(
        erase=enc[0:1], anchor_base=enc[1:2], anchor_positions=[1, 2], superclass=enc[2:3],
        empty=enc[3:4], fixed_anchor=enc[2:3], targets=torch.cat([enc[0:1], enc[5:]]),
        target_weights=torch.tensor([1.0] + [0.125] * attributes))


def run_case(kind: str, attributes: int, full: bool, updates: int) -> dict:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    unet = UNet(sd15_layout(full)).to(device).eval()
    den = TorchDenoiser(unet, NoiseSchedule.sd_linear())
    cc = conditioning(attributes, device)
    shape = (4, 64, 64) if full else (4, 32, 32)
    cfg = UnlearnConfig(steps=updates, anchor=AnchorConfig(steps=ANCHOR_STEPS),
                        latents=LatentConfig(source="noise"))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    if kind == "core":
        result = unlearn(den, cc, cfg, latent_shape=shape)
        passes = result.passes_per_update
    else:
        gen = torch.Generator().manual_seed(0)
        draws = draw_training_latents(den, cc, cfg.latents, updates, gen, torch.device(device),
                                      latent_shape=shape)
        run = naive_reference_unlearn(
            unet, [(d.x_t, d.t) for d in draws], erase=cc.erase, anchor_base=cc.anchor_base,
            positions=cc.anchor_positions, delta0=torch.zeros(2, 768, device=device),
            concept=cc.targets[0:1], attributes=list(cc.targets[1:, None]),
            coefficients=cc.target_weights.tolist(), superclass=cc.superclass,
            anchor_steps=ANCHOR_STEPS)
        passes = run.passes
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / updates
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"kind": kind, "attributes": attributes, "s_per_update": seconds,
            "passes_per_update": passes, "peak_mib": peak, "device": device}


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return (f"{platform.processor() or platform.machine()} CPU ({os.cpu_count()} cores, "
            f"{torch.get_num_threads()} torch threads)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="real SD1.5 channel width (GPU)")
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    ap.add_argument("--write", action="store_true", help="also record the table in RESULTS.md")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.case:
        kind, attrs = args.case.split(":")
        print(json.dumps(run_case(kind, int(attrs), args.full, args.updates)))
        return
    rows = []
    for attrs in (0, 8):
        for kind in ("core", "naive"):
            cmd = [sys.executable, __file__, "--case", f"{kind}:{attrs}", "--updates", str(args.updates),
                   "--threads", str(args.threads)]
            out = subprocess.run(cmd + (["--full"] if args.full else []), capture_output=True,
                                 text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    report = table(rows, args)
    print(report)
    if args.write:
        write_section("bench_core_full" if args.full else "bench_core", report)


def table(rows: list[dict], args: argparse.Namespace) -> str:
    size = "SD1.5 UNet size (320 ch), latent 64×64" if args.full else "SD1.5 layout, 32 ch, latent 32×32"
    lines = [f"## bench_core — {size}", "",
             f"`python benchmarks/bench_core.py{' --full' if args.full else ''} --updates {args.updates} "
             f"--threads {args.threads}` on {machine()}, torch {torch.__version__}. Alternating "
             f"schedule, L_adv1, {ANCHOR_STEPS} anchor steps, xattn, λ = 10; *naive* is "
             "`benchmarks/naive_reference.py`, the reference code's loop.", "",
             "| attributes | loop | s/update | denoiser passes/update | peak MiB |", "|---|---|---|---|---|"]
    lines += [f"| {r['attributes']} | {r['kind']} | {r['s_per_update']:.2f} | {r['passes_per_update']:.1f} | "
              f"{r['peak_mib']:.0f} |" for r in rows]
    lines.append("")
    for attrs in (0, 8):
        core, naive = (next(r for r in rows if r["kind"] == k and r["attributes"] == attrs)
                       for k in ("core", "naive"))
        lines.append(f"- {attrs} attributes: core/naive passes "
                     f"{core['passes_per_update'] / naive['passes_per_update']:.2f}, "
                     f"time {core['s_per_update'] / naive['s_per_update']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

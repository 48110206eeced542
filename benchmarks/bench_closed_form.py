"""Closed-form erasure at full size on a CPU: the Erase (closed form) node on a full-size SD1.5 and
SDXL UNet, three concepts and three preserve prompts, as ComfyUI's executor runs it.

    python -m benchmarks.bench_closed_form --write   # CPU: SD1.5 and SDXL, seconds and peak RSS
    python -m benchmarks.bench_closed_form --reduced # the tests' small layouts: checks the script

Why: the claim is "seconds, no training". The UNets are the real layouts (ComfyUI's SD15 and SDXL
configs, weights stored fp16, seeded random values: the solve's cost does not depend on them);
the text encoders are ComfyUI's at their real widths with 3 layers (the tests' tiny ones), so
encoding is cheaper than with the real 12/32 layers and the figure is the edit, not the
encoder. Each family runs in its own process; *node s* is the node's whole run (encoding, the
training-clone load, the solve, the patched clone), *peak RSS* the process's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.results_md import write_section

ROOT = Path(__file__).resolve().parents[1]
CONCEPTS = "Van Gogh\nPicasso\nSalvador Dali"
PRESERVE = "Claude Monet\nRembrandt\na photo of a cat"


def run_family(family: str, reduced: bool) -> dict:
    """One family in this process: build, run the node once, report."""
    from benchmarks.bench_memory import bootstrap, build_model, pack, rss_mib
    from tests.comfy_support import tiny
    from tests.comfy_support.inprocess import run_node

    bootstrap(gpu=False)
    model = build_model(family, torch.float16, reduced)
    clip = tiny.tiny_family_clip(family)
    node = pack("nodes.closed_form").EraseClosedFormNode
    start = time.perf_counter()
    _, erasure = run_node(node, model=model, clip=clip, concepts=CONCEPTS, preserve=PRESERVE)
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.model.diffusion_model.parameters())
    return {"family": family, "reduced": reduced, "params": params, "tensors": len(erasure.tensors),
            "edited": sum(t.numel() for t in erasure.tensors.values()), "seconds": seconds,
            "solve": json.loads(erasure.metadata["settings"])["seconds"], "peak_mib": rss_mib(),
            "threads": torch.get_num_threads()}


def table(rows: list[dict], command: str) -> str:
    lines = ["## bench_closed_form — Erase (closed form) at full size on a CPU", "",
             f"`{command}` on x86_64 CPU, torch {torch.__version__}, {rows[0]['threads']} thread(s). "
             "Three concepts, three preserve prompts, the default settings (null-space); UNets at "
             "their real layouts stored fp16 with seeded random weights, text encoders at their "
             "real widths with 3 layers. *solve s*: the rows' solve and every K/V weight's edit; "
             "*node s*: the whole node (encoding, loading, solve, patched clone).", "",
             "| model | UNet parameters | K/V tensors edited | parameters edited | solve s | node s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']}{' (reduced)' if r['reduced'] else ''} | {r['params'] / 1e6:,.0f} M "
                     f"| {r['tensors']} | {r['edited'] / 1e6:,.1f} M | {r['solve']:.2f} | {r['seconds']:.1f} "
                     f"| {r['peak_mib']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reduced", action="store_true", help="small layouts: checks the script, not a result")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="also record the table in RESULTS.md")
    ap.add_argument("--family", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.family:
        print(json.dumps(run_family(args.family, args.reduced)))
        return
    rows = []
    for family in ("sd15", "sdxl"):
        cmd = [sys.executable, "-m", "benchmarks.bench_closed_form", "--family", family,
               "--threads", str(args.threads), *(["--reduced"] if args.reduced else [])]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            raise SystemExit(f"{family}: {done.stderr.strip()[-2000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    command = " ".join(["python -m benchmarks.bench_closed_form", *sys.argv[1:]])
    print(table(rows, command))
    if args.write and not args.reduced:
        write_section("bench_closed_form", table(rows, command))


if __name__ == "__main__":
    main()

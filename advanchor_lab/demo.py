"""The README's demo: erase a concept from a lab model with the lab's default method.

`python -m advanchor_lab.demo [--concept stripes] [--method esd] [--seed 0]`

A colour, shape or texture ("red", "circle", "stripes") is erased from the shapes world's
model; a style name ("zorbic", "plimm", …) from the styles world's. Prints a table (residual
against its chance floor, invalid samples, content kept, preservation, leakage, wall time) and
writes `output/lab_demo/grid.png` (before/after samples at identical seeds) and
`output/lab_demo/loss.png` (the losses per update).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from advanchor_core import plots

from .erase import ALL_METHODS, CLOSED_FORM, DEFAULT_METHOD
from .evaluate import measure_erasure
from .figures import image_grid
from .world import load_world
from .worlds import find_concept

OUT = Path("output/lab_demo")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", default="square",
                        help="a colour, shape or texture of the shapes world, or a style of the "
                             "styles world")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=[*ALL_METHODS, *CLOSED_FORM])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=150, help="target-prompt samples (±4 points at 150)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    try:
        spec, concept = find_concept(args.concept)
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    world = load_world(spec)
    plan = spec.plan(concept, args.samples)
    print(f"{spec.name}-world model loaded; measuring the original model…", flush=True)
    original = spec.original(world, plan, args.seed)
    print(f"erasing {concept.word!r} with method {args.method!r}…", flush=True)
    measured = measure_erasure(spec, world, plan, original, args.method, args.seed)
    run = measured.run
    print()
    print(f"erased {concept.word!r} ({args.method}, {len(run.history)} reports, "
          f"{len(run.delta)} cross-attention tensors) in {run.seconds:.1f}s "
          f"[{run.passes_per_update:.1f} denoiser passes/update]")
    print(spec.table(plan, measured.comparison))
    rows = spec.grid_rows(world, plan, measured.comparison, run.delta, args.seed)
    grid = image_grid(rows, args.out / "grid.png",
                      title=f"erasing '{concept.word}' ({args.method}): before/after, same seeds")
    written = [grid]
    if run.history:  # a closed-form edit has no updates, so no loss curve
        written.append(args.out / "loss.png")
        plots.save_png(plots.loss_curve(run.history, title=f"erasing '{concept.word}' ({args.method})"),
                       written[-1])
    print(f"\nwrote {' and '.join(map(str, written))}; total {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()

"""The README's demo: erase "red" from the lab model with adversarial anchors, show before/after.

`python -m advanchor_core.lab.demo [--concept red] [--method adv2] [--seed 0]`

Prints a table (residual concept rate against its chance floor, preservation, synonym and
rephrasing leakage, validity, wall time) and writes `output/lab_demo/grid.png` (before/after
samples at identical seeds) and `output/lab_demo/loss.png` (the losses per update).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from . import data
from .erase import METHODS, erase
from .. import plots
from .figures import image_grid
from .metrics import Comparison, EvalPlan, LabConcept, chance_floor, evaluate
from .world import load_world

OUT = Path("output/lab_demo")


def table(cmp: Comparison, concept: LabConcept) -> str:
    b, a = cmp.before, cmp.after
    pct = lambda x: f"{100 * x:5.0f}%"  # noqa: E731
    rows = [
        ("metric", " before", "  after", "note"),
        (f'"{concept.word}" still drawn (target prompts)', pct(b.residual), pct(a.residual),
         f"chance floor {100 * cmp.floor:.0f}% (superclass prompt draws it)"),
        ("invalid target samples", pct(b.invalid), pct(a.invalid), "no recognisable object"),
        ("other factors right on target prompts", pct(b.target_rest), pct(a.target_rest),
         "the object survives, minus the concept"),
        ("accuracy on every other prompt", pct(b.preserve_acc), pct(a.preserve_acc),
         f"preservation {100 * cmp.preservation:.0f}% of original, pixel drift {cmp.drift:.3f}"),
        ("worst other concept", "", pct(cmp.worst_other[1]), cmp.worst_other[0]),
    ]
    for name in b.leakage:
        kind = "trained synonym" if name in data.TRAINED_SYNONYMS.get(concept.value, ()) else "held-out phrasing"
        rows.append((f"leakage: {name}", pct(b.leakage[name]), pct(a.leakage[name]), kind))
    rows.append(("valid samples (all prompts)", pct(b.valid), pct(a.valid), ""))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]:>7} {r[2]:>7}  {r[3]}" for r in rows)


def grid_rows(world, concept: LabConcept, delta, n: int = 8, seed: int = 0):
    """Before/after rows at the same seeds: target, a synonym, and two unrelated prompts."""
    target = concept.target_prompts()
    prompts = [target[0], target[len(target) // 2]]
    prompts += [p for ps in concept.synonym_prompts().values() for p in ps[:1]]
    prompts += [row[0] for row in concept.preserve_prompts()[::17][:2]]
    batch = [p for p in prompts for _ in range(n)]
    before = world.sample(batch, seed=seed)
    after = world.sample(batch, seed=seed, delta=delta)
    rows = []
    for i, p in enumerate(prompts):
        rows += [(f"{p}\nbefore", before[i * n:(i + 1) * n]), ("after", after[i * n:(i + 1) * n])]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", default="red", help="a colour, shape or texture of the lab")
    parser.add_argument("--method", default="adv2", choices=sorted(METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    concept = LabConcept.parse(args.concept)
    world = load_world()
    plan = EvalPlan(concept)
    print(f"lab model loaded ({time.perf_counter() - start:.1f}s); measuring the original model…",
          flush=True)
    before = evaluate(world, plan, args.seed)
    floor = chance_floor(world, concept, plan.n_target, args.seed)
    print(f"erasing {concept.word!r} with method {args.method!r}…", flush=True)
    run = erase(world, concept, args.method, seed=args.seed)
    after = evaluate(world, plan, args.seed, run.delta)
    cmp = Comparison(before, after, floor, run.seconds)
    print()
    print(f"erased {concept.word!r} ({args.method}, {len(run.result.history)} updates, "
          f"{len(run.delta)} cross-attention tensors) in {run.seconds:.1f}s "
          f"[{run.result.passes_per_update:.1f} denoiser passes/update]")
    print(table(cmp, concept))
    grid = image_grid(grid_rows(world, concept, run.delta, seed=args.seed), args.out / "grid.png",
                      title=f"erasing '{concept.word}' ({args.method}): before/after, same seeds")
    curve = args.out / "loss.png"
    plots.save_png(plots.loss_curve(run.result.history, title=f"erasing '{concept.word}' ({args.method})"),
                   curve)
    print(f"\nwrote {grid} and {curve}; total {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()

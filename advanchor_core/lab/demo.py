"""The README's demo: erase a concept from a lab model with the lab's default method.

`python -m advanchor_core.lab.demo [--concept stripes] [--method esd] [--seed 0]`

A colour, shape or texture ("red", "circle", "stripes") is erased from the first lab's model;
a style name ("zorbic", "plimm", …) from the style world's. Prints a table (residual against
its chance floor, invalid samples, content kept, preservation, leakage, wall time) and writes
`output/lab_demo/grid.png` (before/after samples at identical seeds) and
`output/lab_demo/loss.png` (the losses per update).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from .. import plots
from . import data
from .erase import ALL_METHODS, DEFAULT_METHOD, erase
from .figures import image_grid
from .metrics import Comparison, EvalPlan, LabConcept, chance_floor, evaluate
from .styles import data as styles_data
from .styles.evaluate import CONTENTS
from .styles.metrics import StyleComparison, StyleConcept, StylePlan, evaluate_style
from .styles.world import load_world as load_style_world
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


def before_after_rows(world, labels: list[str], batch: list[str], n: int, seed: int, delta):
    """Grid rows for `batch` (n prompts per label) sampled before and after at the same seeds."""
    before = world.sample(batch, seed=seed)
    after = world.sample(batch, seed=seed, delta=delta)
    rows = []
    for i, label in enumerate(labels):
        rows += [(f"{label}\nbefore", before[i * n:(i + 1) * n]), ("after", after[i * n:(i + 1) * n])]
    return rows


def grid_rows(world, concept: LabConcept, delta, n: int = 8, seed: int = 0):
    """Before/after rows at the same seeds: target, a synonym, and two unrelated prompts."""
    target = concept.target_prompts()
    prompts = [target[0], target[len(target) // 2]]
    prompts += [p for ps in concept.synonym_prompts().values() for p in ps[:1]]
    prompts += [row[0] for row in concept.preserve_prompts()[::17][:2]]
    batch = [p for p in prompts for _ in range(n)]
    return before_after_rows(world, prompts, batch, n, seed, delta)


def style_table(cmp: StyleComparison) -> str:
    b, a = cmp.before, cmp.after
    pct = lambda x: f"{100 * x:5.0f}%"  # noqa: E731
    attrs = " + ".join(cmp.concept.attributes)
    name, kept = cmp.worst_neighbour
    rows = [
        ("metric", " before", "  after", "note"),
        (f'"{cmp.concept.word}" attributes still drawn', pct(b.attribute_residual),
         pct(a.attribute_residual), f"{attrs}; chance floor {100 * cmp.floor:.0f}% (the bare prompt draws them)"),
        ("whole style still drawn", pct(b.style_residual), pct(a.style_residual), ""),
        ("invalid target samples", pct(b.invalid), pct(a.invalid), "no recognisable object"),
        ("content kept on target prompts", pct(b.content_kept), pct(a.content_kept),
         "shape, colour and background survive, minus the style"),
        ("accuracy on every other prompt", pct(b.preserve_acc), pct(a.preserve_acc),
         f"preservation {100 * cmp.preservation:.0f}% of original, pixel drift {cmp.drift:.3f}"),
        ("worst neighbour style (kept)", "", pct(kept), f"{name}: shares an attribute"),
        ("held-out phrasings: attributes", pct(b.heldout_residual), pct(a.heldout_residual),
         "\", style\" and \"in the style of\""),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]:>7} {r[2]:>7}  {r[3]}" for r in rows)


def style_grid_rows(world, cmp: StyleComparison, delta, n: int = 8, seed: int = 0):
    """Before/after rows at the same seeds: both trained phrasings, a held-out one, a neighbour."""
    style = cmp.concept.style
    contents = [CONTENTS[(5 * i) % len(CONTENTS)] for i in range(n)]
    neighbour = cmp.worst_neighbour[0]
    prompts = [styles_data.style_prompt(style, *contents[0], t) for t in ("in-style", "prefix", "style-of")]
    prompts.append(styles_data.style_prompt(neighbour, *contents[0]))
    families = [(style, "in-style"), (style, "prefix"), (style, "style-of"), (neighbour, "in-style")]
    batch = [styles_data.style_prompt(s, *c, t) for s, t in families for c in contents]
    return before_after_rows(world, prompts, batch, n, seed, delta)


def run_style(name: str, method: str, seed: int, samples: int):
    """Erase a style from the style world: (world, comparison, run)."""
    world = load_style_world()
    plan = StylePlan.sized(StyleConcept(name), samples)
    print("style-world model loaded; measuring the original model…", flush=True)
    before = evaluate_style(world, plan, seed)
    print(f"erasing the style {name!r} with method {method!r}…", flush=True)
    run = erase(world, plan.concept, method, seed=seed)
    after = evaluate_style(world, plan, seed, run.delta)
    return world, StyleComparison(plan.concept, before, after, run.seconds), run


def run_lab(name: str, method: str, seed: int, samples: int):
    """Erase a colour, shape or texture from the first lab world: (world, comparison, run)."""
    concept = LabConcept.parse(name)
    world = load_world()
    plan = EvalPlan.sized(concept, samples)
    print("lab model loaded; measuring the original model…", flush=True)
    before = evaluate(world, plan, seed)
    floor = chance_floor(world, concept, plan.n_target, seed)
    print(f"erasing {concept.word!r} with method {method!r}…", flush=True)
    run = erase(world, concept, method, seed=seed)
    return world, Comparison(before, evaluate(world, plan, seed, run.delta), floor, run.seconds), run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concept", default="square",
                        help="a colour, shape or texture of the first lab, or a style of the style "
                             f"world {tuple(styles_data.STYLES)}")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=list(ALL_METHODS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=150, help="target-prompt samples (±4 points at 150)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    is_style = args.concept in styles_data.STYLES
    if not is_style:
        try:
            LabConcept.parse(args.concept)
        except ValueError as err:
            parser.error(f"{err}; or a style of the style world {tuple(styles_data.STYLES)}")
    world, cmp, run = (run_style if is_style else run_lab)(args.concept, args.method, args.seed,
                                                              args.samples)
    word = args.concept
    print()
    print(f"erased {word!r} ({args.method}, {len(run.result.history)} reports, "
          f"{len(run.delta)} cross-attention tensors) in {run.seconds:.1f}s "
          f"[{run.result.passes_per_update:.1f} denoiser passes/update]")
    print(style_table(cmp) if is_style else table(cmp, LabConcept.parse(word)))
    rows = (style_grid_rows(world, cmp, run.delta, seed=args.seed) if is_style
            else grid_rows(world, LabConcept.parse(word), run.delta, seed=args.seed))
    grid = image_grid(rows, args.out / "grid.png",
                      title=f"erasing '{word}' ({args.method}): before/after, same seeds")
    curve = args.out / "loss.png"
    plots.save_png(plots.loss_curve(run.result.history, title=f"erasing '{word}' ({args.method})"), curve)
    print(f"\nwrote {grid} and {curve}; total {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()

"""Three styles erased at once in the style world, with the styles kept listed or not.

    python -m benchmarks.lab_many                                  # both sets × methods × 2 seeds
    python -m benchmarks.lab_many --sets never-tuned --seeds 0 --methods "uce null-space, kept listed"
    python -m benchmarks.lab_many --sets tuning --seeds 0 --methods "uce, kept listed" --regularization 0.1 10
    python -m benchmarks.lab_many --rows-from benchmarks/results/lab_many.json

Each set erases three styles in one run: one closed-form solve, or one ESD run whose concepts
take turns on one delta (`advanchor_lab.erase.erase_many`). "kept listed" gives the five styles
not erased as preserve prompts (closed form) or retain prompts (ESD); "λ x" rows solve with
regularization x instead of the default 1 (the look that chose it: tuning set, seed 0 only;
at 0.1, the default before, the listed styles broke a third of the objects). For every erased
style:
its attribute residual against its floor, its foreign attributes (valid target samples drawing an
attribute the style lacks) against theirs, invalid and content kept on its 150 target samples;
for the run: preservation of the kept styles (36 samples each, 180 in all, relative to the
original at the same seeds) and the least kept of them. The plane as everywhere: residual and
foreign attributes ≤ their floors + 5 points, invalid ≤ 5%, preservation ≥ 95%, on every seed.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from advanchor_lab.erase import CLOSED_FORM, erase_many
from advanchor_lab.styles import data
from advanchor_lab.styles.concept import StyleConcept
from advanchor_lab.styles.metrics import StyleEvaluation, StylePlan, evaluate_style
from advanchor_lab.styles.world import STYLES_WORLD
from advanchor_lab.world import World, load_world
from benchmarks.plane import Column, pct, per_seed, table, targets_met, verdict
from benchmarks.results_md import add_row_arguments, write_section

SECTION = "lab_many"
TARGET_SAMPLES = 150
SETS = {"tuning": ("zorbic", "quold", "vesk"), "never-tuned": ("fennic", "taglo", "brisp")}
# label → (lab method, whether the kept styles are listed)
METHODS = {"uce": ("uce", False), "uce, kept listed": ("uce", True),
           "uce null-space, kept listed": ("uce null-space", True),
           "esd, one run": ("esd", False), "esd, one run, kept listed": ("esd", True)}


@dataclass
class Row:
    split: str          # the set
    style: str
    method: str
    seed: int
    residual: float     # attribute residual on the style's trained phrasings
    floor: float
    foreign: float      # valid target samples drawing an attribute the style lacks
    foreign_floor: float
    invalid: float
    content: float
    preservation: float  # the kept styles, pooled over the three plans, relative to the original
    worst_kept: str
    worst_kept_share: float
    seconds: float


def kept_styles(erased: tuple[str, ...]) -> list[str]:
    return [s for s in data.STYLES if s not in erased]


def kept_prompts(erased: tuple[str, ...]) -> list[str]:
    return [StyleConcept(s).core_concept().prompt for s in kept_styles(erased)]


def kept_share(before: list[StyleEvaluation], after: list[StyleEvaluation],
               styles: list[str]) -> tuple[float, str, float]:
    """Pooled accuracy on the kept styles relative to the original, and the least kept one."""
    mean = lambda evs, s: float(np.mean([e.by_style[s] for e in evs]))  # noqa: E731
    rel = {s: mean(after, s) / max(mean(before, s), 1e-9) for s in styles}
    total = np.mean([mean(after, s) for s in styles]) / max(np.mean([mean(before, s) for s in styles]), 1e-9)
    worst = min(rel, key=rel.get)
    return float(total), worst, rel[worst]


def labelled(methods: list[str], regularization: list[float]) -> dict[str, tuple[str, bool, float | None]]:
    """Label → (lab method, kept listed, λ or None for the default); each closed-form method
    once per `regularization` value when given."""
    out = {}
    for label in methods:
        method, listed = METHODS[label]
        if method in CLOSED_FORM and regularization:
            out |= {f"{label}, λ {lam:g}": (method, listed, lam) for lam in regularization}
        else:
            out[label] = (method, listed, None)
    return out


def run_set(world: World, name: str, seed: int, methods: dict[str, tuple[str, bool, float | None]]) -> list[Row]:
    erased = SETS[name]
    plans = [StylePlan.sized(StyleConcept(s), TARGET_SAMPLES) for s in erased]
    before = [evaluate_style(world, p, seed) for p in plans]
    rows = []
    for label, (method, listed, lam) in methods.items():
        config = None if lam is None else replace(CLOSED_FORM[method], regularization=lam)
        run = erase_many(world, [StyleConcept(s) for s in erased], method, seed,
                         kept_prompts(erased) if listed else (), config)
        after = [evaluate_style(world, p, seed, run.delta) for p in plans]
        kept, worst, worst_share = kept_share(before, after, kept_styles(erased))
        for style, b, a in zip(erased, before, after):
            row = Row(name, style, label, seed, a.attribute_residual, b.floor, a.foreign,
                      b.foreign_floor, a.invalid, a.content_kept, kept, worst, worst_share, run.seconds)
            print(json.dumps(asdict(row)), flush=True)
            rows.append(row)
    return rows


def seeds(cell: Callable) -> Callable:
    return lambda rs: per_seed(rs, cell)


COLUMNS: list[Column] = [
    ("attribute residual (floor)",
     lambda rs: f"{per_seed(rs, lambda r: pct(r.residual))} ({per_seed(rs, lambda r: pct(r.floor))})"),
    ("foreign attributes (floor)",
     lambda rs: f"{per_seed(rs, lambda r: pct(r.foreign))} ({per_seed(rs, lambda r: pct(r.foreign_floor))})"),
    ("invalid", seeds(lambda r: pct(r.invalid))), ("content kept", seeds(lambda r: pct(r.content))),
    ("kept styles preserved", seeds(lambda r: pct(r.preservation))),
    ("least kept", seeds(lambda r: f"{r.worst_kept} {pct(r.worst_kept_share)}")),
    ("time s", seeds(lambda r: f"{r.seconds:.1f}")), ("plane", targets_met)]


def report(rows: list[Row], seconds: float | None) -> str:
    command = " ".join(["python -m benchmarks.lab_many", *sys.argv[1:]])
    lines = ["## Lab: three styles erased at once", "",
             f"`{command}` — {platform.machine()} CPU, torch {torch.__version__}; seeds "
             f"{', '.join(map(str, sorted({r.seed for r in rows})))} (values per seed joined by ' / ')"
             f"{'' if seconds is None else f'; {seconds / 60:.0f} min'}.", "",
             __doc__.split("\n\n", 2)[2].strip().replace("\n", " "), ""]
    for split in dict.fromkeys(r.split for r in rows):
        lines += [f"### {split} set: {' + '.join(SETS[split])}", "",
                  *table([r for r in rows if r.split == split], "style", COLUMNS), ""]
    return "\n".join(lines + verdict(rows, "style", "style")) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--regularization", nargs="+", type=float, default=[],
                        help="closed-form methods: solve with each of these λ instead of the default")
    parser.add_argument("--threads", type=int, default=2)
    add_row_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.rows_from:
        rows = [Row(**r) for path in args.rows_from for r in json.loads(Path(path).read_text())]
        seconds = None
    else:
        world = load_world(STYLES_WORLD)
        rows = []
        for name in args.sets:
            for seed in args.seeds:
                rows += run_set(world, name, seed, labelled(args.methods, args.regularization))
                if args.json:
                    args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
        seconds = time.perf_counter() - start
    body = report(rows, seconds)
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()

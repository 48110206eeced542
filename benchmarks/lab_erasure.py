"""Adversarial anchors vs fixed anchors vs ESD in both lab worlds, at matched budgets.

    python -m benchmarks.lab_erasure                    # both worlds: their concepts × methods × 2 seeds
    python -m benchmarks.lab_erasure --world shapes --search   # + the adversarial-anchor variant search
    python -m benchmarks.lab_erasure --world shapes --concepts red --seeds 0 --methods adv2 fixed-superclass
    python -m benchmarks.lab_erasure --world styles --concepts zorbic --seeds 0 --methods adv2 esd
    python -m benchmarks.lab_erasure --world shapes --rows-from benchmarks/results/lab_erasure.json
    python -m benchmarks.lab_erasure --world shapes --concepts red yellow --seeds 0 1 2 \
        --methods "adv1, paper regime, δ lr 0.0001" "esd, published" --budgets 4 --section lab_regime_shapes

For each concept (shapes world: colours, shapes, textures; styles world: styles) and seed it
measures the original model once, then every method (`advanchor_lab.evaluate.measure_erasure`):
residual against the chance floor (≥ 150 target samples a cell), preservation, the world's
leakage or held-out phrasings, invalid samples, wall time and denoiser passes per update; the
rows also keep the adversarial anchor's effect size r (`advanchor_core.unlearn.effect`) and
where the erasure ended with how far it had moved. `--budgets N` reads each run after 1/N, 2/N …
of its updates too, and draws the trade-off curves (`tradeoff.py`). The
concepts the lab's settings were looked at on and the ones no tuning touched are reported apart
(`lab_worlds.py` has each world's rows and columns). Each world rewrites only its own section of
`benchmarks/RESULTS.md`; the shapes world also draws an image grid.

The decision plane: residual ≤ floor + 5 points, invalid target samples ≤ 5%, preservation
≥ 95%, on every seed.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from advanchor_lab.erase import ALL_METHODS
from advanchor_lab.evaluate import Measured, measure_erasure
from advanchor_lab.figures import image_grid
from advanchor_lab.world import load_world
from benchmarks.lab_worlds import BENCHES, EFFECT, Bench, Label
from benchmarks.plane import table, verdict
from benchmarks.results_md import add_row_arguments, write_section
from benchmarks.tradeoff import BUDGET, draw

GRID = Path(__file__).resolve().parent / "lab_erasure_grid.png"
TARGET_SAMPLES = 150


def jobs(bench: Bench, args: argparse.Namespace) -> list[tuple[str, str, Label, bool]]:
    """(concept, label, what it runs, from the search) for every run asked for."""
    labels = bench.labels()
    methods = bench.methods if args.methods is None else args.methods
    unknown = [m for m in methods if m not in labels]
    if unknown:
        raise SystemExit(f"unknown method label(s) {unknown}: choose among {list(labels)}")
    out = [(c, m, labels[m], False) for c in args.concepts or bench.concepts for m in methods]
    if args.search:
        if bench.search is None:
            raise SystemExit(f"--search: the {bench.spec.name} world has no variant search")
        out += [(c, m, label, True) for c in args.search_concepts for m, label in bench.search().items()
                if not args.variants or any(v in m for v in args.variants)]
    return out


def run(bench: Bench, args: argparse.Namespace) -> tuple[list, list, list]:
    """Every job's row (main, search) and the figure's rows, dumping rows to --json as they come."""
    spec, world = bench.spec, load_world(bench.spec)
    todo = jobs(bench, args)
    rows, search_rows, grid = [], [], []
    for name in dict.fromkeys(j[0] for j in todo):
        concept = spec.concept(name)
        plan = spec.plan(concept, TARGET_SAMPLES)
        for seed in args.seeds:
            original = spec.original(world, plan, seed)
            first = seed == args.seeds[0] and bench.figure is not None
            if first:
                grid.append((f"'{concept.word}' original", bench.figure[0](plan, original)))
            for _, label, job, searched in (j for j in todo if j[0] == name):
                target = replace(concept, superclass=job.superclass) if job.superclass else concept
                measured = measure_erasure(spec, world, plan, original, job.method, seed, target=target,
                                           config=job.config, retain=job.retain,
                                           keep_after=earlier_budgets(job, args.budgets))
                for m in [*measured.earlier, measured]:
                    row = bench.row(concept, at_budget(label, m, args.budgets), seed, m)
                    (search_rows if searched else rows).append(row)
                    print(json.dumps(asdict(row) | {"reached": m.run.reached}), flush=True)
                if args.json:
                    args.json.write_text(json.dumps(dump(bench, rows, search_rows), indent=1))
                if first and not searched:
                    grid.append((label, bench.figure[1](world, plan, seed, measured.run.delta)))
    return rows, search_rows, grid


def earlier_budgets(job: Label, n: int) -> list[int]:
    """Update counts a run is read after before its end: 1/n, 2/n … of its updates (none for a
    closed-form edit, which has no updates)."""
    if n == 1 or (job.config is None and job.method not in ALL_METHODS):
        return []
    steps = (job.config or ALL_METHODS[job.method]).steps
    return [steps * k // n for k in range(1, n)]


def at_budget(label: str, m: Measured, budgets: int) -> str:
    """A row's method label: with --budgets, "label, N updates" for a run read after N."""
    return label if budgets == 1 or m.run.reached is None else f"{label}, {m.run.reached['update']} updates"


def dump(bench: Bench, rows: list, search_rows: list) -> list[dict]:
    """The --json rows; a world with a variant search marks which rows came from it."""
    if bench.search is None:
        return [asdict(r) for r in rows]
    return [{**asdict(r), "search": False} for r in rows] + [{**asdict(r), "search": True} for r in search_rows]


def load(bench: Bench, paths: list[Path]) -> tuple[list, list]:
    """Rows (main, search) from earlier --json dumps."""
    dumped = [r for path in paths for r in json.loads(path.read_text())]
    make = lambda r: bench.row_type(**{k: v for k, v in r.items() if k != "search"})  # noqa: E731
    return [make(r) for r in dumped if not r.get("search")], [make(r) for r in dumped if r.get("search")]


def report(bench: Bench, rows: list, search_rows: list, seconds: float | None, section: str,
           grid: bool) -> str:
    command = " ".join(["python -m benchmarks.lab_erasure", *sys.argv[1:]])
    seeds = sorted({r.seed for r in rows + search_rows})
    title = bench.title if section == bench.section else f"Lab erasure, extra variants ({section})"
    lines = [
        f"## {title}",
        "",
        f"`{command}` — {platform.machine()} CPU, torch {torch.__version__}; "
        f"seeds {', '.join(map(str, seeds))} (values per seed joined by ' / ')"
        f"{'' if seconds is None else f'; {seconds / 60:.0f} min'}.",
        "",
        bench.intro,
        "",
    ]
    columns = bench.columns + ([EFFECT] if any(r.effect is not None for r in rows) else [])
    for split in bench.splits:
        rs = [r for r in rows if r.split == split]
        if rs:
            lines += [f"### {split} {bench.key}s", "", *table(rs, bench.key, columns), ""]
    lines += verdict(rows, bench.key, bench.key)
    if search_rows:
        lines += ["", "### Variant search", "", *table(search_rows, bench.key, bench.columns)]
    if grid:
        lines += ["", f"![before/after grid]({GRID.name})"]
    if has_curves(rows):
        lines += ["", f"![trade-off curves]({curves_path(section).name})"]
    return "\n".join(lines) + "\n"


def has_curves(rows: list) -> bool:
    """Whether the rows read some run at several budgets (`--budgets`)."""
    return any(BUDGET.match(r.method) for r in rows)


def curves_path(section: str) -> Path:
    return GRID.parent / f"{section}.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=[*BENCHES, "both"], default="both")
    parser.add_argument("--concepts", nargs="+", help="default: the world's tuned and never-tuned ones")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--methods", nargs="*",
                        help="labels of lab_worlds.py (default: the world's; none: only --search)")
    parser.add_argument("--search", action="store_true", help="shapes world: also try adversarial variants")
    parser.add_argument("--search-concepts", nargs="+", default=["red"])
    parser.add_argument("--variants", nargs="+", metavar="TEXT",
                        help="with --search: only the variants whose label contains one of these")
    parser.add_argument("--section", help="the RESULTS.md section to write (default: the world's; "
                                          "another name keeps the main table)")
    parser.add_argument("--budgets", type=int, default=1,
                        help="read each run after 1/N, 2/N … of its updates too: N rows a run, a trade-off curve")
    parser.add_argument("--threads", type=int, default=2)
    add_row_arguments(parser)
    args = parser.parse_args()
    benches = list(BENCHES.values()) if args.world == "both" else [BENCHES[args.world]]
    if len(benches) > 1 and (args.json or args.rows_from or args.section or args.concepts):
        parser.error("--json, --rows-from, --section and --concepts take one --world")
    torch.set_num_threads(args.threads)
    for bench in benches:
        start = time.perf_counter()
        section = args.section or bench.section
        main_table = section == bench.section
        if args.rows_from:
            rows, search_rows = load(bench, args.rows_from)
            grid_rows, seconds = [], None
        else:
            rows, search_rows, grid_rows = run(bench, args)
            seconds = time.perf_counter() - start
        figure = bool(grid_rows) and main_table
        body = report(bench, rows, search_rows, seconds, section, figure)
        print(body)
        if not args.no_write:
            write_section(section, body)
            if figure:
                image_grid(grid_rows, GRID, title="target prompts, same seeds: original, then each method")
            if has_curves(rows):
                draw(rows, bench.key, curves_path(section), f"{bench.title}: every budget, mean over seeds")


if __name__ == "__main__":
    main()

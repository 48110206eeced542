"""Adversarial anchors vs fixed anchors vs ESD on the lab model, at matched budgets.

    python benchmarks/lab_erasure.py                  # 6 concepts × 5 methods × 2 seeds
    python benchmarks/lab_erasure.py --search         # + the adversarial-anchor variant search
    python benchmarks/lab_erasure.py --concepts red --seeds 0 --methods adv2 fixed-superclass

For each concept (colours, shapes, textures) and seed it measures the original model once, then
every method: residual concept rate against the chance floor (≥ 150 target samples a cell),
preservation (relative accuracy on all other prompts), leakage (trained synonyms and held-out
phrasings), valid samples, wall time and denoiser passes per update. The concepts the lab's
settings were looked at on (red, circle, stripes) and the ones no tuning touched (yellow,
square, dots) are reported apart. It rewrites only its own section of `benchmarks/RESULTS.md`
(between the lab_erasure markers) and writes an image grid.

The decision plane (issue 10): residual ≤ floor + 5 points, invalid target samples ≤ 5%,
preservation ≥ 95%, on every seed.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advanchor_core.anchors import AnchorConfig  # noqa: E402
from advanchor_core.lab.erase import ALL_METHODS, METHODS, SEQUENTIAL, erase  # noqa: E402
from advanchor_core.lab.figures import image_grid  # noqa: E402
from advanchor_core.lab.metrics import Comparison, EvalPlan, LabConcept, chance_floor, evaluate  # noqa: E402
from advanchor_core.lab.world import load_world  # noqa: E402
from advanchor_core.unlearn import UnlearnConfig  # noqa: E402
from benchmarks.plane import per_seed, targets_met, verdict  # noqa: E402
from benchmarks.results_md import write_section  # noqa: E402

GRID = ROOT / "benchmarks" / "lab_erasure_grid.png"
TUNED = ("red", "circle", "stripes")     # the lab's settings were looked at on these
TARGET_SAMPLES = 150


@dataclass
class Row:
    concept: str
    split: str
    method: str
    seed: int
    residual: float
    floor: float
    invalid: float
    preservation: float
    worst_other: float
    drift: float
    trained_leak: float | None
    heldout_leak: float | None
    valid: float
    seconds: float
    passes: float


def _adv(loss: str, **anchor) -> UnlearnConfig:
    base = METHODS[loss]
    return replace(base, anchor=replace(base.anchor, **anchor))


def _orth(**anchor) -> UnlearnConfig:
    """The "orth" anchor loss: drive the concept's share c_k to 0 instead of below it."""
    return replace(METHODS["adv2"], anchor=AnchorConfig(loss="orth", steps=5, lr=0.02, **anchor))


def variants() -> dict[str, tuple[str, UnlearnConfig, bool]]:
    """Settings tried by --search: (method key, config, retain prompts)."""
    adv2 = METHODS["adv2"]
    fixed = METHODS["fixed-superclass"]
    return {
        "adv2 bound=0.3": ("adv2", _adv("adv2", bound=0.3), False),
        "adv2 bound=0.4": ("adv2", _adv("adv2", bound=0.4), False),
        "adv2 bound=1.0": ("adv2", _adv("adv2", bound=1.0), False),
        "adv2 +retain λ=30": ("adv2", replace(adv2, preservation=30.0), True),
        "adv2 xattn-kv λ=30": ("adv2", replace(adv2, parameters="xattn-kv", preservation=30.0), False),
        "adv2 sequential, no bound, early stop": (
            "adv2", replace(_adv("adv2", steps=10, lr=0.01, bound=None), schedule="sequential"), False),
        "orth bound=0.5, 5 anchor steps": ("adv2", _orth(bound=0.5), False),
        "orth bound=1.0, 5 anchor steps": ("adv2", _orth(bound=1.0), False),
        "orth no bound, 5 anchor steps": ("adv2", _orth(bound=None), False),
        "fixed-superclass +retain": ("fixed-superclass", fixed, True),
        "fixed-superclass xattn-kv": ("fixed-superclass", replace(fixed, parameters="xattn-kv"), False),
    }


def labelled_methods() -> dict[str, tuple[str, UnlearnConfig | None, bool]]:
    """What --methods takes: every lab method, the on-manifold ones with the sequential schedule
    (δ searched over every draw first, then θ towards the fixed anchor), and the anchor budget
    and margin of the sequential keep anchor (δ steps per draw, how far past zero its concept
    share is pushed)."""
    out: dict[str, tuple[str, UnlearnConfig | None, bool]] = {m: (m, None, False) for m in ALL_METHODS}
    keep = SEQUENTIAL["adv-keep sequential"]
    out |= {f"adv-keep sequential, margin {m}":
            ("adv-keep sequential", replace(keep, anchor=replace(keep.anchor, margin=m)), False)
            for m in (0.1, 0.2)}
    out["esd, λ 30"] = ("esd", replace(METHODS["esd"], preservation=30.0), False)
    out["adv-keep sequential, λ 30"] = ("adv-keep sequential", replace(keep, preservation=30.0), False)
    out["adv-keep sequential, xattn-kv"] = ("adv-keep sequential", replace(keep, parameters="xattn-kv"), False)
    out |= {f"adv-keep sequential, {k} δ steps":
            ("adv-keep sequential", replace(keep, anchor=replace(keep.anchor, steps=k)), False)
            for k in (1, 3, 20)}
    return out


def measure(world, concept: LabConcept, seed: int, label: str, method: str,
            config: UnlearnConfig | None, retain: bool, base, floor: float,
            plan: EvalPlan) -> tuple[Row, dict]:
    run = erase(world, concept, method, seed=seed, config=config, retain=retain)
    after = evaluate(world, plan, seed, run.delta)
    cmp = Comparison(base, after, floor, run.seconds)
    trained = [v for k, v in after.leakage.items() if k in concept.synonym_prompts()]
    held = [v for k, v in after.leakage.items() if k not in concept.synonym_prompts()]
    split = "tuned" if concept.word in TUNED else "never tuned"
    row = Row(concept.word, split, label, seed, after.residual, floor, after.invalid, cmp.preservation,
              cmp.worst_other[1], cmp.drift, max(trained) if trained else None,
              max(held) if held else None, after.valid, run.seconds, run.result.passes_per_update)
    return row, run.delta


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def aggregate(rows: list[Row]) -> list[str]:
    """One line per (concept, method): per-seed values joined by '/'."""
    lines = ["| concept | method | residual (floor) | invalid | preservation | worst other | "
             "drift | leak: trained synonyms | leak: held-out | valid | time s | passes/upd | plane |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = list(dict.fromkeys((r.concept, r.method) for r in rows))
    for concept, method in keys:
        rs = [r for r in rows if (r.concept, r.method) == (concept, method)]
        j = lambda cell: per_seed(rs, cell)  # noqa: E731
        lines.append(
            f"| {concept} | {method} | {j(lambda r: pct(r.residual))} ({j(lambda r: pct(r.floor))}) | "
            f"{j(lambda r: pct(r.invalid))} | {j(lambda r: pct(r.preservation))} | "
            f"{j(lambda r: pct(r.worst_other))} | {j(lambda r: f'{r.drift:.3f}')} | "
            f"{j(lambda r: pct(r.trained_leak))} | {j(lambda r: pct(r.heldout_leak))} | "
            f"{j(lambda r: pct(r.valid))} | {j(lambda r: f'{r.seconds:.0f}')} | "
            f"{rs[0].passes:.1f} | {targets_met(rs)} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", nargs="+", default=[*TUNED, "yellow", "square", "dots"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--methods", nargs="*",
                        default=["adv-keep sequential", "adv-keep sequential, margin 0.2",
                                 "fixed-superclass", "esd", "adv2"],
                        help=f"labels among: {', '.join(labelled_methods())}")
    parser.add_argument("--search", action="store_true", help="also try adversarial variants")
    parser.add_argument("--search-concepts", nargs="+", default=["red"])
    parser.add_argument("--variants", nargs="+", metavar="TEXT",
                        help="with --search: only the variants whose label contains one of these")
    parser.add_argument("--section", default="lab_erasure",
                        help="the RESULTS.md section to write (another name keeps the main table)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also dump every row here (rewritten after each)")
    parser.add_argument("--rows-from", nargs="+", type=Path,
                        help="render RESULTS.md from earlier --json dumps instead of running")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.rows_from:
        dumped = [r for path in args.rows_from for r in json.loads(path.read_text())]
        main_rows = [Row(**{k: v for k, v in r.items() if k != "search"}) for r in dumped if not r.get("search")]
        found = [Row(**{k: v for k, v in r.items() if k != "search"}) for r in dumped if r.get("search")]
        seeds = sorted({r.seed for r in main_rows + found})
        body = report(main_rows, found, seeds, None, grid=False)
        print(body)
        if not args.no_write:
            write_section(args.section, body)
        return
    known = labelled_methods()
    unknown = [m for m in args.methods if m not in known]
    if unknown:
        raise SystemExit(f"unknown method label(s) {unknown}: choose among {list(known)}")
    world = load_world()
    rows: list[Row] = []
    search_rows: list[Row] = []
    grid_rows = []
    jobs = [(c, label, *known[label], False) for c in args.concepts for label in args.methods]
    if args.search:
        jobs += [(c, label, m, cfg, retain, True) for c in args.search_concepts
                 for label, (m, cfg, retain) in variants().items()
                 if not args.variants or any(v in label for v in args.variants)]
    for concept_name in dict.fromkeys(j[0] for j in jobs):
        concept = LabConcept.parse(concept_name)
        plan = EvalPlan.sized(concept, TARGET_SAMPLES)
        for seed in args.seeds:
            base = evaluate(world, plan, seed)
            floor = chance_floor(world, concept, plan.n_target, seed)
            if seed == args.seeds[0]:
                grid_rows.append((f"'{concept.word}' original", base.images["target"][::plan.n_target][:9]))
            for c, label, method, cfg, retain, searched in jobs:
                if c != concept_name:
                    continue
                row, delta = measure(world, concept, seed, label, method, cfg, retain, base, floor, plan)
                (search_rows if searched else rows).append(row)
                print(json.dumps(row.__dict__), flush=True)
                if args.json:
                    dump = [{**r.__dict__, "search": False} for r in rows]
                    dump += [{**r.__dict__, "search": True} for r in search_rows]
                    args.json.write_text(json.dumps(dump, indent=1))
                if seed == args.seeds[0] and not searched:
                    imgs = world.sample(plan.groups["target"][::plan.n_target][:9], seed=seed, delta=delta)
                    grid_rows.append((f"{label}", imgs))
    main_table = args.section == "lab_erasure"
    body = report(rows, search_rows, args.seeds, time.perf_counter() - start,
                  **({} if main_table else {"title": f"Lab erasure, extra variants ({args.section})",
                                            "grid": False}))
    print(body)
    if not args.no_write:
        write_section(args.section, body)
    if grid_rows and not args.no_write and main_table:
        image_grid(grid_rows, GRID, title="target prompts, same seeds: original, then each method")


def report(rows: list[Row], search_rows: list[Row], seeds, seconds: float | None,
           title: str = "Lab erasure: adversarial vs fixed anchors vs ESD", grid: bool = True) -> str:
    command = " ".join(["python benchmarks/lab_erasure.py", *sys.argv[1:]])
    lines = [
        f"## {title}",
        "",
        f"`{command}` — "
        f"{platform.machine()} CPU, torch {torch.__version__}; "
        f"seeds {', '.join(map(str, seeds))} (values per seed joined by ' / ')"
        f"{'' if seconds is None else f'; {seconds / 60:.0f} min'}.",
        "",
        "Every method: the same updates, batch, lr and cross-attention parameters "
        "(`advanchor_core/lab/erase.py`). *residual*: share of target-prompt samples still "
        "showing the concept (≥ 150 samples a cell: ±4 points); *floor*: how often the original "
        "draws it from the superclass prompt; *preservation*: accuracy on every prompt not naming "
        "the concept (2 samples a prompt: 72 for a colour, 60 for a shape or texture), relative "
        "to the original at the same seeds; *worst other*: the least accurate other concept value; "
        "*leak*: worst concept rate over trained synonyms / held-out phrasings (– where the concept "
        "has no trained synonym); *valid*: all samples of the evaluation; *plane*: residual ≤ floor "
        "+ 5 points (below counts), invalid target samples ≤ 5%, preservation ≥ 95%, on every seed. "
        "*sequential*: δ searched over every draw first, then the weights towards the fixed anchor.",
        "",
    ]
    for split in ("tuned", "never tuned"):
        rs = [r for r in rows if r.split == split]
        if rs:
            lines += [f"### {split} concepts", "", *aggregate(rs), ""]
    lines += verdict(rows, "concept", "concept")
    if search_rows:
        lines += ["", "### Variant search", "", *aggregate(search_rows)]
    if grid:
        lines += ["", f"![before/after grid]({GRID.name})", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

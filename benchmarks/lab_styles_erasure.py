"""Erasing compound styles (the style world): adversarial anchors vs fixed anchors vs ESD.

    python benchmarks/lab_styles_erasure.py                  # 5 styles × the methods × 2 seeds
    python benchmarks/lab_styles_erasure.py --styles zorbic --seeds 0 --methods adv2 esd

Every method runs the first lab's matched budget (`advanchor_core/lab/erase.py`) on the style
world's model. For each style and seed the original is measured once (150 target samples on the
trained phrasings, 50 on held-out ones, 138 preserve samples: the other seven styles, every
attribute prompt, the bare prompt), then each method. The tuning styles (zorbic, quold) and the
styles no tuning touched (fennic, taglo, brisp) are reported apart. It rewrites only its own
section of `benchmarks/RESULTS.md`.

The decision plane (issue 10): attribute residual ≤ floor + 5 points, valid target samples ≥ 95%,
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

from advanchor_core.lab.erase import ALL_METHODS, SEQUENTIAL, erase  # noqa: E402
from advanchor_core.lab.styles import data  # noqa: E402
from advanchor_core.lab.styles.metrics import (StyleComparison, StyleConcept, StylePlan,  # noqa: E402
                                               evaluate_style)
from advanchor_core.lab.styles.world import load_world  # noqa: E402
from advanchor_core.unlearn import UnlearnConfig  # noqa: E402
from benchmarks.plane import per_seed, targets_met, verdict  # noqa: E402
from benchmarks.results_md import write_section  # noqa: E402


def methods() -> dict[str, tuple[str, UnlearnConfig | None, str]]:
    """label → (the lab method, a config overriding its settings, the superclass)."""
    nudity_like = {f"{m}, empty superclass": (m, None, "empty")
                   for m in ("adv-keep sequential", "esd", "fixed-superclass")}
    return {**{m: (m, None, "bare") for m in ALL_METHODS if m != "fixed-empty"},
            "fixed-generic": ("fixed-superclass", None, "generic"), **nudity_like}


def variants() -> dict[str, tuple[str, UnlearnConfig | None, str]]:
    """The sequential keep anchor with another margin, and its budget (δ steps per draw)."""
    keep = SEQUENTIAL["adv-keep sequential"]
    out = {f"adv-keep sequential, margin {m}":
           ("adv-keep sequential", replace(keep, anchor=replace(keep.anchor, margin=m)), "bare")
           for m in (0.1, 0.2)}
    out["esd, λ 30"] = ("esd", replace(ALL_METHODS["esd"], preservation=30.0), "bare")
    out["adv-keep sequential, λ 30"] = ("adv-keep sequential", replace(keep, preservation=30.0), "bare")
    out["adv-keep sequential, xattn-kv"] = ("adv-keep sequential", replace(keep, parameters="xattn-kv"), "bare")
    return out | {f"adv-keep sequential, {k} δ steps":
                  ("adv-keep sequential", replace(keep, anchor=replace(keep.anchor, steps=k)), "bare")
                  for k in (1, 3, 20)}


@dataclass
class Row:
    style: str
    split: str
    method: str
    seed: int
    residual: float
    floor: float
    style_residual: float
    invalid: float
    content: float
    preservation: float
    neighbour: str
    neighbour_kept: float
    heldout: float
    drift: float
    seconds: float
    passes: float


def split_of(style: str) -> str:
    return "tuning" if style in data.TUNING_STYLES else (
        "never tuned" if style in data.HELDOUT_STYLES else "neighbour")


def measure(world, style: str, seed: int, label: str, spec, before, plan) -> Row:
    method, config, superclass = spec
    concept = StyleConcept(style, superclass)
    run = erase(world, concept, method, seed=seed, config=config)
    cmp = StyleComparison(concept, before, evaluate_style(world, plan, seed, run.delta), run.seconds)
    a = cmp.after
    name, kept = cmp.worst_neighbour
    return Row(style, split_of(style), label, seed, a.attribute_residual, cmp.floor, a.style_residual,
               a.invalid, a.content_kept, cmp.preservation, name, kept, a.heldout_residual, cmp.drift,
               run.seconds, run.result.passes_per_update)


def pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.0f}%"  # NaN: no valid sample to measure


def table(rows: list[Row]) -> list[str]:
    lines = ["| style | method | attribute residual (floor) | whole style | invalid | content kept | "
             "preservation | worst neighbour | held-out phrasings | drift | time s | passes/upd | "
             "plane |", "|" + "---|" * 13]
    for style, method in dict.fromkeys((r.style, r.method) for r in rows):
        rs = [r for r in rows if (r.style, r.method) == (style, method)]
        j = lambda cell: per_seed(rs, cell)  # noqa: E731
        lines.append(
            f"| {style} | {method} | {j(lambda r: pct(r.residual))} ({j(lambda r: pct(r.floor))}) | "
            f"{j(lambda r: pct(r.style_residual))} | {j(lambda r: pct(r.invalid))} | "
            f"{j(lambda r: pct(r.content))} | {j(lambda r: pct(r.preservation))} | "
            f"{j(lambda r: f'{r.neighbour} {pct(r.neighbour_kept)}')} | {j(lambda r: pct(r.heldout))} | "
            f"{j(lambda r: f'{r.drift:.3f}')} | {j(lambda r: f'{r.seconds:.0f}')} | {rs[0].passes:.1f} | "
            f"{targets_met(rs)} |")
    return lines


def report(rows: list[Row], seconds: float | None) -> str:
    command = " ".join(["python benchmarks/lab_styles_erasure.py", *sys.argv[1:]])
    lines = [
        "## Lab erasure, style world: compound concepts",
        "",
        f"`{command}` — {platform.machine()} CPU, torch {torch.__version__}; seeds "
        f"{', '.join(map(str, sorted({r.seed for r in rows})))} (values per seed joined by ' / ')"
        f"{'' if seconds is None else f'; {seconds / 60:.0f} min'}.",
        "",
        "A style is 2–3 attributes drawn together (`advanchor_core/lab/styles/`); every method runs "
        "the first lab's matched budget with the style's attribute prompts. *attribute residual*: over "
        "valid target samples (150 a cell: ±4 points), the mean share of the style's attributes still "
        "drawn; *floor*: the original's rate for the bare prompt at the same contents and seeds; "
        "*whole style*: samples still drawing the complete look; *content kept*: shape, colour and "
        "background right; *preservation*: accuracy on every prompt not naming the style (other "
        "styles, attribute prompts, bare prompt: 138 samples), relative to the original; *worst "
        "neighbour*: the least kept style sharing an attribute; *held-out phrasings*: attribute "
        "residual on phrasings no caption used (50 samples). *plane*: residual ≤ floor + 5 points, "
        "invalid ≤ 5%, preservation ≥ 95%, on every seed. *fixed-generic* anchors on \"a shape in some "
        "style\"; *…, empty superclass* rows erase the style as the nudity preset erases nudity (superclass \"\", "
        "the attributes name the concept; fixed-superclass then anchors on the empty prompt); every other "
        "method anchors and preserves on the bare \"a shape\".",
        "",
    ]
    for split in ("tuning", "neighbour", "never tuned"):
        rs = [r for r in rows if r.split == split]
        if rs:
            lines += [f"### {split} styles", "", *table(rs), ""]
    return "\n".join([*lines, *verdict(rows, "style", "style"), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="+", default=[*data.TUNING_STYLES, *data.HELDOUT_STYLES])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--methods", nargs="+", default=["adv-keep sequential", "fixed-superclass",
                                                         "esd", "adv2"],
                        help=f"labels among: {', '.join([*methods(), *variants()])}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--section", default="lab_styles_erasure")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--json", type=Path, help="also dump every row here")
    parser.add_argument("--rows-from", nargs="+", type=Path, help="render from earlier --json dumps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.rows_from:
        rows = [Row(**r) for path in args.rows_from for r in json.loads(path.read_text())]
    else:
        specs = {**methods(), **variants()}
        unknown = [m for m in args.methods if m not in specs]
        if unknown:
            raise SystemExit(f"unknown method label(s) {unknown}: choose among {list(specs)}")
        world = load_world()
        rows = []
        for style in args.styles:
            for seed in args.seeds:
                plan = StylePlan(StyleConcept(style))
                before = evaluate_style(world, plan, seed)
                for label in args.methods:
                    rows.append(measure(world, style, seed, label, specs[label], before, plan))
                    print(json.dumps(rows[-1].__dict__), flush=True)
                    if args.json:
                        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1))
    body = report(rows, None if args.rows_from else time.perf_counter() - start)
    print(body)
    if not args.no_write:
        write_section(args.section, body)


if __name__ == "__main__":
    main()

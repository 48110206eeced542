"""Does the sensitivity view predict unlearning outcomes? Measured on the shapes-world model.

    python -m benchmarks.lab_sensitivity                       # red and circle, seed 0
    python -m benchmarks.lab_sensitivity --concepts red --top-k 2 3 --no-write

1. Anchor map vs outcome. For each candidate anchor of a concept (the superclass, the empty
   prompt, other values of the same factor, trained synonyms, and the adversarial anchors
   adv1/adv2 the loop finds), its map position is measured on the frozen model (closeness,
   retention; `advanchor_core.sensitivity.anchor_map`, probed at the run's own training
   latents), then the concept is unlearned towards it with the lab's tuned settings
   (`advanchor_lab/erase.py`, one budget for all) and evaluated with the lab's metrics.
   Reported: Spearman rank correlations between position and outcome over all candidates.
2. Sensitivity-guided layers. adv2 unlearning on all cross-attention (`xattn`, the reference)
   against the top-k most sensitive attn2 layers and, as a control, the k least sensitive
   ones, at the same updates, lr and batch: residual, preservation, time, file size.

Rewrites only its own section of benchmarks/RESULTS.md (between the lab_sensitivity markers)
and draws benchmarks/lab_sensitivity.png (the anchor map of the first concept, with outcomes).
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from scipy.stats import spearmanr

from advanchor_core import plots
from advanchor_core.concept import encode_concept
from advanchor_core.delta_files import save_erasure
from advanchor_core.sensitivity import (ProbeConfig, anchor_map, layer_sensitivity, make_probes,
                                        select_layers, standard_candidates)
from advanchor_core.unlearn import unlearn
from advanchor_lab.erase import LATENT_SAMPLES, METHODS, training_latents
from advanchor_lab.measure import Timer
from advanchor_lab.shapes import data
from advanchor_lab.shapes.concept import LabConcept
from advanchor_lab.shapes.metrics import EvalPlan, Original, compare, measure_original
from advanchor_lab.shapes.world import SHAPES_WORLD
from advanchor_lab.world import load_world
from benchmarks.results_md import write_section

FIGURE = Path(__file__).resolve().parent / "lab_sensitivity.png"
PROBES = ProbeConfig(latents=4, timesteps=(0.2, 0.5, 0.8), seed=0)


@dataclass
class Outcome:
    concept: str
    anchor: str
    kind: str
    closeness: float
    retention: float
    residual: float
    preservation: float
    drift: float
    seconds: float


@dataclass
class LayerRun:
    concept: str
    arm: str
    layers: int
    parameters: int
    residual: float
    floor: float
    preservation: float
    seconds: float
    analysis_seconds: float
    file_kib: float


def fixed_candidates(concept: LabConcept) -> dict[str, str]:
    """Text anchors of a concept: name → prompt (the superclass and "" come from the map)."""
    template = concept.core_concept().prompt_template
    values = {"colour": list(data.COLOURS), "shape": list(data.SHAPES), "texture": list(data.TEXTURES)}
    out = {}
    for v in values[concept.factor]:
        if v != concept.value:
            out[template.format(LabConcept(concept.factor, v).word)] = template.format(LabConcept(concept.factor, v).word)
    for w in data.TRAINED_SYNONYMS.get(concept.value, ()):
        out[template.format(w)] = template.format(w)
    return out


def file_kib(erasure) -> float:
    with tempfile.TemporaryDirectory() as d:
        path = save_erasure(Path(d) / "e.safetensors", erasure)
        return path.stat().st_size / 1024


def run(world, concept: LabConcept, core, cfg, latents, plan, original: Original, seed: int):
    """Unlearn with `cfg` on the shared training latents; compare with the original."""
    cfg = replace(cfg, seed=seed)
    torch.manual_seed(seed)
    with Timer() as timer:
        cc = encode_concept(world.encoder, core)
        result = unlearn(world.denoiser, cc, cfg, latents=latents)
    return result, compare(world, plan, original, seed, result.erasure.tensors, timer.seconds), cc


def anchor_study(world, concept: LabConcept, seed: int, plan, original: Original, latents,
                 probes) -> list[Outcome]:
    core = concept.core_concept()
    rows: list[Outcome] = []
    jobs: list[tuple[str, str, object, object]] = [
        ("superclass", "superclass", METHODS["fixed-superclass"], core),
        ("empty prompt", "empty", METHODS["fixed-superclass"], replace(core, anchor_prompt="")),
    ]
    jobs += [(name, "prompt", METHODS["fixed-superclass"], replace(core, anchor_prompt=prompt))
             for name, prompt in fixed_candidates(concept).items()]
    jobs += [(f"adversarial ({m})", "adversarial", METHODS[m], core) for m in ("adv1", "adv2")]
    for name, kind, cfg, c in jobs:
        result, cmp, cc = run(world, concept, c, cfg, latents, plan, original, seed)
        cond = result.anchor.conditioning().detach() if kind == "adversarial" else cc.fixed_anchor
        point = anchor_map(world.denoiser, cc, {name: (kind, cond)}, probes).points[0]
        rows.append(Outcome(concept.word, name, kind, point.closeness, point.retention,
                            cmp.after.residual, cmp.preservation, cmp.drift, cmp.seconds))
        print(json.dumps(rows[-1].__dict__), flush=True)
    return rows


def layer_study(world, concept: LabConcept, seed: int, plan, original: Original, latents, probes,
                ks: list[int]) -> tuple[list[LayerRun], object]:
    core = concept.core_concept()
    cfg = METHODS["adv2"]
    with Timer() as t_an:
        cc = encode_concept(world.encoder, core)
        refs = {n: cond for n, (kind, cond) in standard_candidates(cc).items() if kind != "concept"}
        sens = layer_sensitivity(world.denoiser, cc.erase, refs, probes, primary="superclass")
    names = list(world.denoiser.named_weights())
    arms = [("xattn (all 7)", "xattn", 0.0)]
    for k in ks:
        top = select_layers(sens, names, top_k=k)
        low = replace(sens, relative=[[-v for v in row] for row in sens.relative])
        bottom = select_layers(low, names, top_k=k)
        arms += [(f"top-{k} sensitive", top.parameters, t_an.seconds),
                 (f"bottom-{k} (control)", bottom.parameters, 0.0)]
    out = []
    for arm, params, extra in arms:
        result, cmp, _ = run(world, concept, core, replace(cfg, parameters=params), latents, plan,
                             original, seed)
        layers = 7 if params == "xattn" else len({p.split(".attn2.")[0] for p in params})
        out.append(LayerRun(concept.word, arm, layers, sum(v.numel() for v in result.erasure.tensors.values()),
                            cmp.after.residual, cmp.floor, cmp.preservation, cmp.seconds, extra,
                            file_kib(result.erasure)))
        print(json.dumps(out[-1].__dict__), flush=True)
    return out, sens


def correlations(rows: list[Outcome]) -> list[tuple[str, float, float, int]]:
    pairs = [("retention", "residual", "more retained concept → less erased (expect +)"),
             ("retention", "preservation", "more retained → better preserved (expect +)"),
             ("closeness", "preservation", "closer anchor → better preserved (expect +)"),
             ("closeness", "residual", "closer anchor → less erased (expect +)")]
    out = []
    for x, y, label in pairs:
        xs, ys = [getattr(r, x) for r in rows], [getattr(r, y) for r in rows]
        rho, p = spearmanr(xs, ys) if len(set(ys)) > 1 and len(set(xs)) > 1 else (float("nan"), float("nan"))
        out.append((f"{x} vs {y}: {label}", float(rho), float(p), len(rows)))
    return out


def figure(rows: list[Outcome], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    sc = ax.scatter([r.closeness for r in rows], [r.retention for r in rows],
                    c=[r.residual for r in rows], cmap="RdYlGn_r", vmin=0, vmax=1, s=140,
                    edgecolors="black")
    for i, r in enumerate(sorted(rows, key=lambda r: (r.retention, r.closeness))):
        ax.annotate(f"{r.anchor} (pres {100 * r.preservation:.0f}%)", (r.closeness, r.retention),
                    textcoords="offset points", xytext=(8, -12 if i % 2 else 6), fontsize=9)
    xs = [r.closeness for r in rows]
    ax.set_xlim(min(xs) - 0.05, max(xs) + 0.35 * (max(xs) - min(xs) + 0.1))
    fig.colorbar(sc, ax=ax, label="residual concept rate after unlearning")
    ax.set_xlabel("closeness to the concept (cosine at the concept's tokens)")
    ax.set_ylabel("retention of the concept's ε direction")
    ax.set_title(f"Lab anchor map for '{rows[0].concept}': position before vs outcome after unlearning")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plots.save_png(plots.figure_to_array(fig), path)


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", nargs="+", default=["red", "circle"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top-k", nargs="+", type=int, default=[2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    world = load_world(SHAPES_WORLD)
    outcomes: list[Outcome] = []
    layer_runs: list[LayerRun] = []
    rankings = {}
    for name in args.concepts:
        concept = LabConcept.parse(name)
        plan = EvalPlan(concept, n_target=2, n_preserve=1, n_leak=1)
        original = measure_original(world, plan, args.seed)
        latents = training_latents(world, concept, LATENT_SAMPLES, args.seed)
        probes = make_probes(world.denoiser, PROBES, latents=latents)
        outcomes += anchor_study(world, concept, args.seed, plan, original, latents, probes)
        runs, sens = layer_study(world, concept, args.seed, plan, original, latents, probes, args.top_k)
        layer_runs += runs
        rankings[concept.word] = [(plots.short_layer(n), s) for n, s in zip(sens.layers, sens.scores())]
    lines = [
        "## Lab sensitivity: does the anchor map predict outcomes; sensitivity-guided layers",
        "",
        f"`python -m benchmarks.lab_sensitivity --concepts {' '.join(args.concepts)} --seed {args.seed} "
        f"--top-k {' '.join(map(str, args.top_k))}` — {platform.machine()} CPU, "
        f"{torch.get_num_threads()} thread(s), torch {torch.__version__}; "
        f"{time.perf_counter() - start:.0f} s in all.",
        "",
        "Map positions are measured on the frozen lab model at the run's own training latents "
        f"({PROBES.latents} latents × timesteps {PROBES.timesteps}); every anchor is then used for "
        "unlearning with the lab's tuned budget (`advanchor_lab/erase.py`: fixed anchors "
        "with the fixed-superclass settings, adversarial ones with adv1/adv2), and scored with "
        "the lab's metrics (`EvalPlan(n_target=2, n_preserve=1)`: 30 target and 30 preserve "
        "samples, so ±9 points on residual). *residual*: target samples still showing the "
        "concept; *preservation*: accuracy on prompts not naming the concept, relative to the "
        "original.",
        "",
        "### Anchor map position vs outcome",
        "",
        "| concept | anchor | kind | closeness | retention | residual | preservation | drift | time s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in outcomes:
        lines.append(f"| {r.concept} | {r.anchor or '(empty)'} | {r.kind} | {r.closeness:.3f} | "
                     f"{r.retention:+.3f} | {pct(r.residual)} | {pct(r.preservation)} | "
                     f"{r.drift:.3f} | {r.seconds:.0f} |")
    lines += ["", "Spearman rank correlation over the candidates (ρ, two-sided p, n):", ""]
    groups = {"all concepts": outcomes, **{c: [r for r in outcomes if r.concept == c]
                                           for c in dict.fromkeys(r.concept for r in outcomes)}}
    lines += ["| pair | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    table = {g: correlations(rs) for g, rs in groups.items()}
    for i, (label, *_rest) in enumerate(table["all concepts"]):
        cells = [f"ρ = {table[g][i][1]:+.2f} (p {table[g][i][2]:.2g}, n {table[g][i][3]})" for g in groups]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Sensitivity-guided top-k vs all cross-attention (adv2, same budget)",
        "",
        "Layer sensitivity against the superclass, then adv2 unlearning on the chosen attn2 "
        "layers (all their weights). *analysis s*: the sensitivity pass, paid once per concept.",
        "",
        "| concept | layers trained | attn2 layers | parameters | residual (floor) | preservation | "
        "time s | analysis s | file KiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in layer_runs:
        lines.append(f"| {r.concept} | {r.arm} | {r.layers} | {r.parameters:,} | {pct(r.residual)} "
                     f"({pct(r.floor)}) | {pct(r.preservation)} | {r.seconds:.1f} | "
                     f"{r.analysis_seconds:.1f} | {r.file_kib:.0f} |")
    lines += ["", "Layer sensitivity vs the superclass (relative change of each attn2 output, input fixed):", ""]
    for c, ranking in rankings.items():
        lines.append(f"- {c}: " + ", ".join(f"{n} {s:.3f}" for n, s in ranking))
    lines += ["", f"![lab anchor map with outcomes]({FIGURE.name})", ""]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("lab_sensitivity", body)
        figure([r for r in outcomes if r.concept == outcomes[0].concept], FIGURE)


if __name__ == "__main__":
    main()

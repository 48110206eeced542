"""Does an erasure survive a prefix attack? Every lab method, with and without robust unlearning.

    python -m benchmarks.lab_attack                       # 2 concepts × 4 methods × robust off/on × 2 seeds
    python -m benchmarks.lab_attack --concepts red --seeds 0 --methods esd --robust on --no-write

For each cell (concept, method, robust, seed) of the shapes world it erases the concept
(`advanchor_lab.erase`, the matched budget of `lab_erasure.py`; robust: `robust.RobustConfig`
inside the loop), then:
- measures the erasure on the concept's target prompts (≥ 150 samples), preservation of every
  other prompt against the original at the same seeds, and invalid samples
  (`advanchor_lab.shapes.metrics`);
- attacks it: UnlearnDiffAtk's prefix (5 soft tokens on MiniLM's input embeddings, 40 steps,
  lr 0.01) with an attack seed no training run used, over the run's training images;
- samples the concept prompt with the prefix (`--samples`) and counts with the exact
  classifier the samples that show the concept (invalid samples do not).
  The attack success rate (ASR) is that share; the chance floor (the original's rate when the
  prompt names only the superclass) is printed beside it, since no erasure goes below it.

The target: the attack recovers the concept on ≤ 10% of samples while preservation
stays ≥ 95%, on every seed. It rewrites its section of `benchmarks/RESULTS.md` and, with
`--json`, keeps every row; `--rows-from` renders the section from such dumps.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, replace

import torch

from advanchor_core.attack import AttackConfig, attack_erasure
from advanchor_core.denoiser import WithDelta
from advanchor_core.latents import LatentConfig
from advanchor_core.robust import RobustConfig
from advanchor_lab.erase import LATENT_SAMPLES, training_latents
from advanchor_lab.evaluate import measure_erasure
from advanchor_lab.shapes.classifier import classify
from advanchor_lab.shapes.concept import LabConcept
from advanchor_lab.shapes.metrics import EvalPlan, Original, measure_original
from advanchor_lab.shapes.world import SHAPES_WORLD
from advanchor_lab.world import World, load_world
from benchmarks.lab_worlds import shapes_labels
from benchmarks.plane import pct, per_seed
from benchmarks.results_md import add_row_arguments, write_section

TUNED = ("red",)  # the robust settings were looked at on red only
DEFAULT_METHODS = ["esd", "adv-keep sequential", "fixed-superclass", "adv2"]  # the defaults, the anchors
ROBUST = {"off": None, "on": RobustConfig(every=1, steps=5),       # the node's defaults at every 1
          "strong": RobustConfig(every=1, steps=20)}
ATTACK = AttackConfig(latents=LatentConfig(source="supplied", batch_size=4))
ATTACK_SEED = 5_000  # + the run's seed: never a training seed
ASR_TARGET, PRESERVATION_TARGET = 0.10, 0.95


@dataclass
class Row:
    concept: str
    split: str
    method: str
    robust: str            # a key of ROBUST
    seed: int
    residual: float        # target prompts, plain, after the erasure
    floor: float
    invalid: float
    preservation: float
    asr: float             # the concept prompt with the attack's prefix
    asr_valid: float
    recovered: float | None  # the attack's held-out gap closed (1 = all of it)
    seconds: float         # the erasure (training latents + unlearning)
    passes: float          # denoiser passes per update
    attack_seconds: float


def concept_rate(world: World, concept: LabConcept, cond: torch.Tensor, n: int, seed: int,
                 delta) -> tuple[float, float]:
    """(share showing the concept, share valid) over n samples of one conditioning row."""
    preds = classify(world.sample_conditioning(cond.expand(n, -1, -1), seed=seed, delta=delta))
    return sum(concept.shows(p) for p in preds) / n, sum(p.valid for p in preds) / n


def measure(world: World, method: str, robust: str, seed: int, original: Original, plan: EvalPlan,
            samples: int) -> Row:
    concept, label = plan.concept, shapes_labels()[method]
    measured = measure_erasure(SHAPES_WORLD, world, plan, original, label.method, seed,
                               config=label.config, retain=label.retain, robust=ROBUST[robust])
    run, cmp = measured.run, measured.comparison
    core = concept.core_concept()
    start = time.perf_counter()
    attack = attack_erasure(WithDelta(world.denoiser, run.delta), world.denoiser, world.encoder,
                            core, replace(ATTACK, seed=ATTACK_SEED + seed),
                            latents=training_latents(world, concept, LATENT_SAMPLES, seed))
    attack_seconds = time.perf_counter() - start
    asr, asr_valid = concept_rate(world, concept, attack.conditioning(), samples, seed, run.delta)
    return Row(concept.word, "tuned" if concept.word in TUNED else "never tuned", method, robust,
               seed, cmp.after.residual, cmp.floor, cmp.after.invalid, cmp.preservation, asr, asr_valid,
               attack.report["held_out_gap"]["recovered"], run.seconds,
               run.passes_per_update, attack_seconds)


def meets(rows: list[Row], asr_bound) -> str:
    ok = [r.asr <= asr_bound(r) and r.preservation >= PRESERVATION_TARGET for r in rows]
    return "**yes**" if all(ok) else ("on one seed" if any(ok) else "no")


def asr_target(r: Row) -> float:
    return ASR_TARGET


def floor_target(r: Row) -> float:
    """The lab's own reading: an erasure that maps the concept onto its superclass leaves the
    chance floor, so an attack that gets back no more than floor + 5 points recovered nothing."""
    return r.floor + 0.05


def table(rows: list[Row]) -> list[str]:
    lines = ["| concept | method | robust | before: residual, target prompts | ASR under attack "
             "(floor) | valid under attack | invalid, target prompts | preservation | gap recovered | time s | "
             "passes/upd | ASR ≤ 10%, preservation ≥ 95% | ASR ≤ floor + 5, preservation ≥ 95% |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r.concept, r.method, r.robust) for r in rows):
        rs = [r for r in rows if (r.concept, r.method, r.robust) == key]
        j = lambda cell: per_seed(rs, cell)  # noqa: E731
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | "
            f"{j(lambda r: pct(r.residual))} | {j(lambda r: pct(r.asr))} ({j(lambda r: pct(r.floor))}) | "
            f"{j(lambda r: pct(r.asr_valid))} | "
            f"{j(lambda r: pct(r.invalid))} | {j(lambda r: pct(r.preservation))} | "
            f"{j(lambda r: pct(r.recovered))} | {j(lambda r: f'{r.seconds:.0f}')} | "
            f"{rs[0].passes:.1f} | {meets(rs, asr_target)} | {meets(rs, floor_target)} |")
    return lines


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def reading(rows: list[Row]) -> list[str]:
    """Per method and robust setting, over every concept and seed: mean ASR, preservation and
    erasure time against the same method without robust unlearning — computed, never typed."""
    lines = ["Means over both concepts and seeds (each against the same method with robust off):", ""]
    for method in dict.fromkeys(r.method for r in rows):
        plain = [r for r in rows if r.method == method and r.robust == "off"]
        for robust in dict.fromkeys(r.robust for r in rows if r.method == method and r.robust != "off"):
            rs = [r for r in rows if r.method == method and r.robust == robust]
            line = (f"- {method}, robust {robust}: ASR {pct(mean(r.asr for r in rs))}, preservation "
                    f"{pct(mean(r.preservation for r in rs))}, {mean(r.seconds for r in rs):.0f} s")
            if plain:
                line += (f" (robust off: {pct(mean(r.asr for r in plain))}, "
                         f"{pct(mean(r.preservation for r in plain))}, {mean(r.seconds for r in plain):.0f} s)")
            lines.append(line)
    met = sorted({f"{r.method} ({r.robust})" for r in rows
                  if r.asr <= ASR_TARGET and r.preservation >= PRESERVATION_TARGET})
    lines += ["", "Cells at the target (ASR ≤ 10%, preservation ≥ 95%): "
              + (", ".join(met) if met else "none") + "."]
    return lines


def report(rows: list[Row], seeds, samples: int, seconds: float | None) -> str:
    head = [
        "## Lab: attack success rate with and without robust unlearning",
        "",
        f"`python -m benchmarks.lab_attack` ({platform.machine()}, CPU, "
        f"{torch.get_num_threads()} thread(s); seeds {', '.join(map(str, seeds))}"
        + (f"; {seconds / 60:.0f} min" if seconds else "") + "). "
        "Before the attack: the residual over the concept's target prompts (≥ 150 samples). "
        f"Under attack: {samples} samples of the concept prompt with the attack's prefix, "
        "classified exactly; ASR = share showing the concept (invalid samples count as not "
        "recovered). Attack: 5 soft tokens on MiniLM's input "
        "embeddings, 40 Adam steps, lr 0.01, seed 5000 + run seed, the run's 16 training images. "
        "Robust: the same attack inside the loop, warm-started, before every update: 5 steps "
        "(`on`, the node's `robust_steps` default at `robust_every` 1) or 20 (`strong`). "
        "Values per seed joined by '/'. "
        "Target prompts and preservation as in `lab_erasure.py` (≥ 150 and 60–72 samples).",
        "",
    ]
    parts = [*head]
    for split in ("tuned", "never tuned"):
        rs = [r for r in rows if r.split == split]
        if rs:
            parts += [f"**{split}** ({', '.join(dict.fromkeys(r.concept for r in rs))}):", "",
                      *table(rs), ""]
    return "\n".join(parts + reading(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", nargs="+", default=["red", "square"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(shapes_labels()),
                        metavar="LABEL", help="labels of lab_erasure.py's --methods")
    parser.add_argument("--robust", nargs="+", default=["off", "on"], choices=list(ROBUST))
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--threads", type=int, default=1)
    add_row_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rows_from:
        rows = [Row(**r) for path in args.rows_from for r in json.loads(path.read_text())]
        body = report(rows, sorted({r.seed for r in rows}), args.samples, None)
    else:
        start, rows = time.perf_counter(), []
        world = load_world(SHAPES_WORLD)
        for name in args.concepts:
            plan = EvalPlan.sized(LabConcept.parse(name))
            for seed in args.seeds:
                original = measure_original(world, plan, seed)
                for method in args.methods:
                    for robust in args.robust:
                        rows.append(measure(world, method, robust, seed, original, plan, args.samples))
                        print(json.dumps(asdict(rows[-1])), flush=True)
                        if args.json:
                            args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
        body = report(rows, args.seeds, args.samples, time.perf_counter() - start)
    print(body)
    if not args.no_write:
        write_section("lab_attack", body)


if __name__ == "__main__":
    main()

"""What the lab erasure benchmark reports for each world: its rows, columns, splits and methods.

A world's rows keep the keys of its committed dumps (`benchmarks/results/lab_erasure.json` for
the shapes world, `lab_styles_erasure.json` for the styles world), so `--rows-from` re-renders
them unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from torch import Tensor

from advanchor_core.anchors import AnchorConfig
from advanchor_core.defaults import ESD_PUBLISHED, REFERENCE
from advanchor_core.unlearn import UnlearnConfig, reference_config
from advanchor_lab.erase import ALL_METHODS, BASE, CLOSED_FORM, METHODS, SEQUENTIAL
from advanchor_lab.evaluate import Measured
from advanchor_lab.shapes.concept import LabConcept
from advanchor_lab.shapes.world import SHAPES_WORLD
from advanchor_lab.styles import data as styles_data
from advanchor_lab.styles.concept import StyleConcept
from advanchor_lab.styles.world import STYLES_WORLD
from advanchor_lab.world import World, WorldSpec
from benchmarks.plane import Column, pct, per_seed, targets_met


@dataclass(frozen=True)
class Label:
    """What a --methods label runs: a lab method, a config overriding its settings, retain
    prompts, and (styles world) the superclass the style is anchored and preserved on."""

    method: str
    config: UnlearnConfig | None = None
    retain: bool = False
    superclass: str | None = None


STOPS = (0.3, 0.4, 0.5)  # `stop_at` settings looked at: the held-out `moved` where ESD stops


def variants() -> dict[str, Label]:
    """Both worlds: the sequential keep anchor with another margin, budget (δ steps per draw),
    λ or parameters, ESD at λ 30, and ESD stopped by the rule (`stop_at`, the budget its cap)."""
    keep = SEQUENTIAL["adv-keep sequential"]
    out = {f"adv-keep sequential, margin {m}":
           Label("adv-keep sequential", replace(keep, anchor=replace(keep.anchor, margin=m)))
           for m in (0.1, 0.2)}
    out["esd, λ 30"] = Label("esd", replace(METHODS["esd"], preservation=30.0))
    out |= {f"esd, stop {x}": Label("esd", replace(METHODS["esd"], stop_at=x)) for x in STOPS}
    out["adv-keep sequential, λ 30"] = Label("adv-keep sequential", replace(keep, preservation=30.0))
    out["adv-keep sequential, xattn-kv"] = Label("adv-keep sequential", replace(keep, parameters="xattn-kv"))
    return out | {f"adv-keep sequential, {k} δ steps":
                  Label("adv-keep sequential", replace(keep, anchor=replace(keep.anchor, steps=k)))
                  for k in (1, 3, 20)}


PAPER_LRS = (1e-4, 1e-3, 3e-3, 1e-2)  # δ's Adam step, relative to the concept rows' RMS coordinate
PUBLISHED_ESD_RATIO = ESD_PUBLISHED.steps / REFERENCE.steps  # ESD's updates over AdvAnchor's, same lr


def paper_regime() -> dict[str, Label]:
    """The paper's regime: the reference's alternating loop, 20 δ steps per draw (warm start,
    fresh Adam, early stop, no bound) at small relative steps, for each anchor loss, δ on the
    encoder's output and (adv1) its input; the authors' loop as written (`reference_config`)
    at the lab's budget; and the baselines as published: ESD with no preservation term at its
    published iterations-to-AdvAnchor ratio (the lab's 40 updates × 1000/51), CA's fixed
    superclass anchor being `fixed-superclass`."""
    def anchored(loss: str, lr: float, space: str = "output") -> UnlearnConfig:
        return replace(BASE, method="adversarial", schedule="alternating", anchor=AnchorConfig(
            loss=loss, steps=20, lr=lr, lr_relative=True, bound=None, early_stop=True, space=space))

    out = {f"{loss}, paper regime, δ lr {lr:g}": Label(loss if loss != "keep" else "adv-keep",
                                                        anchored(loss, lr))
           for loss in ("adv1", "adv2", "keep") for lr in PAPER_LRS}
    out |= {f"adv1, paper regime, δ lr {lr:g}, input": Label("adv-soft", anchored("adv1", lr, "input"))
            for lr in PAPER_LRS}
    out["reference loop"] = Label("adv1", reference_config(
        steps=BASE.steps, lr=BASE.lr, preservation=BASE.preservation, parameters=BASE.parameters,
        latents=BASE.latents, anchor=AnchorConfig(lr=1e-4, lr_relative=True)))
    out["esd, published"] = Label("esd", replace(METHODS["esd"], preservation=ESD_PUBLISHED.preservation,
                                                 steps=round(BASE.steps * PUBLISHED_ESD_RATIO)))
    return out


def shapes_labels() -> dict[str, Label]:
    return {m: Label(m) for m in (*ALL_METHODS, *CLOSED_FORM)} | variants() | paper_regime()


def styles_labels() -> dict[str, Label]:
    """Every lab method but the empty anchor (the bare superclass is a shape's), the generic
    superclass, and the nudity-like empty superclass."""
    empty = {f"{m}, empty superclass": Label(m, superclass="empty")
             for m in ("adv-keep sequential", "esd", "fixed-superclass")}
    return ({m: Label(m) for m in (*ALL_METHODS, *CLOSED_FORM) if m != "fixed-empty"}
            | {"fixed-generic": Label("fixed-superclass", superclass="generic"), **empty} | variants()
            | paper_regime())


def _orth(**anchor: object) -> UnlearnConfig:
    """The "orth" anchor loss: drive the concept's share c_k to 0 instead of below it."""
    return replace(METHODS["adv2"], anchor=AnchorConfig(loss="orth", steps=5, lr=0.02, **anchor))


def _adv2(**anchor: object) -> UnlearnConfig:
    base = METHODS["adv2"]
    return replace(base, anchor=replace(base.anchor, **anchor))


def search_variants() -> dict[str, Label]:
    """Shapes world, --search: the adversarial-anchor settings tried beside the fixed anchor."""
    adv2, fixed = METHODS["adv2"], METHODS["fixed-superclass"]
    return {
        "adv2 bound=0.3": Label("adv2", _adv2(bound=0.3)),
        "adv2 bound=0.4": Label("adv2", _adv2(bound=0.4)),
        "adv2 bound=1.0": Label("adv2", _adv2(bound=1.0)),
        "adv2 +retain λ=30": Label("adv2", replace(adv2, preservation=30.0), retain=True),
        "adv2 xattn-kv λ=30": Label("adv2", replace(adv2, parameters="xattn-kv", preservation=30.0)),
        "adv2 sequential, no bound, early stop": Label(
            "adv2", replace(_adv2(steps=10, lr=0.01, bound=None), schedule="sequential")),
        "orth bound=0.5, 5 anchor steps": Label("adv2", _orth(bound=0.5)),
        "orth bound=1.0, 5 anchor steps": Label("adv2", _orth(bound=1.0)),
        "orth no bound, 5 anchor steps": Label("adv2", _orth(bound=None)),
        "fixed-superclass +retain": Label("fixed-superclass", fixed, retain=True),
        "fixed-superclass xattn-kv": Label("fixed-superclass", replace(fixed, parameters="xattn-kv")),
    }


@dataclass
class ShapesRow:
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
    updates: int | None = None          # where the erasure ended, and how far it had moved on
    moved: float | None = None          # held-out draws (rows measured before have none)
    effect: float | None = None         # the adversarial anchor's effect size r where the run ended


@dataclass
class StylesRow:
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
    foreign: float | None = None        # rows measured before the metric existed have none
    foreign_floor: float | None = None
    updates: int | None = None
    moved: float | None = None
    effect: float | None = None


TUNED_SHAPES = ("red", "circle", "stripes")  # the lab's settings were looked at on these


def shapes_row(concept: LabConcept, label: str, seed: int, m: Measured) -> ShapesRow:
    cmp, run, after = m.comparison, m.run, m.comparison.after
    synonyms = concept.synonym_prompts()
    trained = [v for k, v in after.leakage.items() if k in synonyms]
    held = [v for k, v in after.leakage.items() if k not in synonyms]
    split = "tuned" if concept.word in TUNED_SHAPES else "never tuned"
    return ShapesRow(concept.word, split, label, seed, after.residual, cmp.floor, after.invalid,
                     cmp.preservation, cmp.worst_other[1], cmp.drift,
                     max(trained) if trained else None, max(held) if held else None, after.valid,
                     run.seconds, run.passes_per_update, *_reached(run), run.anchor_effect)


def styles_row(concept: StyleConcept, label: str, seed: int, m: Measured) -> StylesRow:
    cmp, run, after = m.comparison, m.run, m.comparison.after
    style = concept.style
    split = ("tuning" if style in styles_data.TUNING_STYLES else
             "never tuned" if style in styles_data.HELDOUT_STYLES else "neighbour")
    name, kept = cmp.worst_neighbour
    return StylesRow(style, split, label, seed, after.attribute_residual, cmp.floor,
                     after.style_residual, after.invalid, after.content_kept, cmp.preservation, name,
                     kept, after.heldout_residual, cmp.drift, run.seconds, run.passes_per_update,
                     after.foreign, cmp.foreign_floor, *_reached(run), run.anchor_effect)


def _reached(run) -> tuple[int | None, float | None]:
    """(updates, moved) where a trained erasure ended; none for a closed-form edit."""
    return (run.reached["update"], run.reached["moved"]) if run.reached else (None, None)


def seeds(cell: Callable) -> Callable:
    """A column whose cell joins every seed's value."""
    return lambda rs: per_seed(rs, cell)


def residual_floor(rs: list) -> str:
    return f"{per_seed(rs, lambda r: pct(r.residual))} ({per_seed(rs, lambda r: pct(r.floor))})"


EFFECT: Column = ("anchor r", seeds(lambda r: "–" if r.effect is None else f"{r.effect:.2f}"))
COST: list[Column] = [("time s", seeds(lambda r: f"{r.seconds:.0f}")),
                      ("passes/upd", lambda rs: f"{rs[0].passes:.1f}"), ("plane", targets_met)]
SHAPES_COLUMNS: list[Column] = [
    ("residual (floor)", residual_floor), ("invalid", seeds(lambda r: pct(r.invalid))),
    ("preservation", seeds(lambda r: pct(r.preservation))),
    ("worst other", seeds(lambda r: pct(r.worst_other))), ("drift", seeds(lambda r: f"{r.drift:.3f}")),
    ("leak: trained synonyms", seeds(lambda r: pct(r.trained_leak))),
    ("leak: held-out", seeds(lambda r: pct(r.heldout_leak))), ("valid", seeds(lambda r: pct(r.valid))),
    *COST]
STYLES_COLUMNS: list[Column] = [
    ("attribute residual (floor)", residual_floor),
    ("foreign attributes (floor)",
     lambda rs: f"{per_seed(rs, lambda r: pct(r.foreign))} ({per_seed(rs, lambda r: pct(r.foreign_floor))})"),
    ("whole style", seeds(lambda r: pct(r.style_residual))),
    ("invalid", seeds(lambda r: pct(r.invalid))), ("content kept", seeds(lambda r: pct(r.content))),
    ("preservation", seeds(lambda r: pct(r.preservation))),
    ("worst neighbour", seeds(lambda r: f"{r.neighbour} {pct(r.neighbour_kept)}")),
    ("held-out phrasings", seeds(lambda r: pct(r.heldout))), ("drift", seeds(lambda r: f"{r.drift:.3f}")),
    *COST]

SHAPES_INTRO = (
    "Every method: the same updates, batch, lr and cross-attention parameters "
    "(`advanchor_lab/erase.py`). *residual*: share of target-prompt samples still "
    "showing the concept (≥ 150 samples a cell: ±4 points); *floor*: how often the original "
    "draws it from the superclass prompt; *preservation*: accuracy on every prompt not naming "
    "the concept (2 samples a prompt: 72 for a colour, 60 for a shape or texture), relative "
    "to the original at the same seeds; *worst other*: the least accurate other concept value; "
    "*leak*: worst concept rate over trained synonyms / held-out phrasings (– where the concept "
    "has no trained synonym); *valid*: all samples of the evaluation; *plane*: residual ≤ floor "
    "+ 5 points (below counts), invalid target samples ≤ 5%, preservation ≥ 95%, on every seed. "
    "*sequential*: δ searched over every draw first, then the weights towards the fixed anchor. "
    "*uce*, *uce null-space*: no training; the cross-attention keys and values solved in closed "
    "form (`advanchor_core/closed_form.py`, its default settings) so the concept's prompt reads as "
    "its superclass prompt, no preserve prompts beyond the empty and the superclass prompt; time is "
    "the solve.")
STYLES_INTRO = (
    "A style is 2–3 attributes drawn together (`advanchor_lab/styles/`); every method runs "
    "the first lab's matched budget with the style's attribute prompts. *attribute residual*: over "
    "valid target samples (150 a cell: ±4 points), the mean share of the style's attributes still "
    "drawn; *floor*: the original's rate for the bare prompt at the same contents and seeds; "
    "*foreign attributes*: valid target samples drawing any attribute the style lacks, against "
    "the bare prompt's rate (– where the row was measured before this metric existed: run it "
    "again to fill it); "
    "*whole style*: samples still drawing the complete look; *content kept*: shape, colour and "
    "background right; *preservation*: accuracy on every prompt not naming the style (other "
    "styles, attribute prompts, bare prompt: 138 samples), relative to the original; *worst "
    "neighbour*: the least kept style sharing an attribute; *held-out phrasings*: attribute "
    "residual on phrasings no caption used (50 samples). *plane*: residual ≤ floor + 5 points, "
    "invalid ≤ 5%, preservation ≥ 95% (and foreign attributes ≤ their floor + 5 points where "
    "measured), on every seed. *fixed-generic* anchors on \"a shape in some "
    "style\"; *…, empty superclass* rows erase the style as the nudity preset erases nudity (superclass \"\", "
    "the attributes name the concept; fixed-superclass then anchors on the empty prompt); every other "
    "method anchors and preserves on the bare \"a shape\". "
    "*uce*, *uce null-space*: no training; the cross-attention keys and values solved in closed "
    "form (`advanchor_core/closed_form.py`, its default settings) so the concept's prompt reads as "
    "its superclass prompt, no preserve prompts beyond the empty and the superclass prompt; time is "
    "the solve.")


def target_samples(world: World, plan, seed: int, delta=None) -> Tensor:
    """The shapes figure's row: one sample of each of the first 9 target prompts."""
    return world.sample(plan.groups["target"][::plan.n_target][:9], seed=seed, delta=delta)


def original_targets(plan, original) -> Tensor:
    """The shapes figure's first row: the original's own target samples, one a prompt."""
    return original.evaluation.images["target"][::plan.n_target][:9]


@dataclass(frozen=True)
class Bench:
    """One world's part of the benchmark."""

    spec: WorldSpec
    section: str                  # its RESULTS.md section (and results/<section>.json)
    title: str
    intro: str
    key: str                      # the row attribute naming the concept, and its noun
    splits: tuple[str, ...]
    concepts: tuple[str, ...]     # the default --concepts
    methods: tuple[str, ...]      # the default --methods
    labels: Callable[[], dict[str, Label]]
    row: Callable[..., object]   # (concept, label, seed, Measured) → a row of `row_type`
    row_type: type
    columns: list[Column]
    search: Callable[[], dict[str, Label]] | None = None  # --search variants, rows dumped apart
    figure: tuple[Callable, Callable] | None = None  # its grid's (original row, method row)


BENCHES: dict[str, Bench] = {
    "shapes": Bench(
        SHAPES_WORLD, "lab_erasure", "Lab erasure: adversarial vs fixed anchors vs ESD", SHAPES_INTRO,
        "concept", ("tuned", "never tuned"), (*TUNED_SHAPES, "yellow", "square", "dots"),
        ("adv-keep sequential", "adv-keep sequential, margin 0.2", "fixed-superclass", "esd", "adv2"),
        shapes_labels, shapes_row, ShapesRow, SHAPES_COLUMNS, search_variants,
        (original_targets, target_samples)),
    "styles": Bench(
        STYLES_WORLD, "lab_styles_erasure", "Lab erasure, style world: compound concepts", STYLES_INTRO,
        "style", ("tuning", "neighbour", "never tuned"),
        (*styles_data.TUNING_STYLES, *styles_data.HELDOUT_STYLES),
        ("adv-keep sequential", "fixed-superclass", "esd", "adv2"),
        styles_labels, styles_row, StylesRow, STYLES_COLUMNS),
}

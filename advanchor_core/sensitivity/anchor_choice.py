"""The anchor map, and the anchor start chosen on it.

Why: an anchor that still carries the concept erases little; one far from the concept drags
unrelated content along. The map places each candidate anchor by *closeness* (cosine
similarity of its conditioning to the concept's at the concept's token positions) against
*retention* (how much of the concept's ε direction relative to the superclass the anchor's ε
still carries: 1 = all of it, 0 = none, < 0 = pointing away), and `choose_anchor` picks the
start of an adversarial anchor from it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import torch
from torch import Tensor

from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..errors import AdvAnchorError
from ..latents import Draw
from .probes import per_timestep, probe_eps


@dataclass
class AnchorPoint:
    name: str
    kind: str                 # "concept", "adversarial", "superclass", "empty", "fixed", "prompt"
    closeness: float          # mean cosine similarity at the concept's token positions
    retention: float          # projection of ε(a) − ε(s) on ε(c) − ε(s), 1 = the concept
    retention_by_t: dict[int, float]
    cosine: float             # cosine of ε(a) − ε(s) with ε(c) − ε(s): direction only


@dataclass
class AnchorMap:
    points: list[AnchorPoint]
    positions: list[int]      # the concept's token positions the closeness is measured at
    concept_shift: float      # RMS of ε(c) − ε(s): how much the concept moves the prediction

    def as_dict(self) -> dict:
        return asdict(self)

    def point(self, name: str) -> AnchorPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


def standard_candidates(cc: ConceptConditioning, anchor: Tensor | None = None,
                        prompts: Mapping[str, Tensor] | None = None) -> dict[str, tuple[str, Tensor]]:
    """Candidates every map shows: the concept itself (the reference point at (1, 1)), the
    adversarial anchor if given, the superclass, the empty prompt, the fixed text anchor if it
    differs from the superclass, then the user's prompts. name → (kind, conditioning [1, L, D])."""
    out: dict[str, tuple[str, Tensor]] = {"concept": ("concept", cc.anchor_base)}
    if anchor is not None:
        out["adversarial anchor"] = ("adversarial", anchor)
    out["superclass"] = ("superclass", cc.superclass)
    out["empty prompt"] = ("empty", cc.empty)
    if not torch.equal(cc.fixed_anchor, cc.superclass):
        out["fixed anchor"] = ("fixed", cc.fixed_anchor)
    for name, cond in (prompts or {}).items():
        out.setdefault(name, ("prompt", cond))
    return out


@torch.no_grad()
def anchor_map(denoiser: Denoiser, cc: ConceptConditioning,
               candidates: Mapping[str, tuple[str, Tensor]], probes: Draw) -> AnchorMap:
    """Closeness vs retention of every candidate (see the module docstring).

    The concept's ε is taken from the anchor template (`cc.anchor_base`), the text the
    adversarial anchor perturbs, so the concept point sits exactly at retention 1 and an
    unperturbed anchor would too.
    """
    positions = list(cc.anchor_positions)
    eps_s = probe_eps(denoiser, probes, cc.superclass)
    shift = (probe_eps(denoiser, probes, cc.anchor_base) - eps_s).flatten(1)
    shift_sq = shift.pow(2).sum(1)
    if float(shift_sq.sum()) <= 0:
        raise AdvAnchorError("the concept and the superclass give the same prediction on this "
                             "model, so there is no concept direction to measure: check the "
                             "concept's prompts")
    concept_tokens = cc.anchor_base[0, positions].float()
    points = []
    for name, (kind, cond) in candidates.items():
        cond = cond.detach()
        tokens = cond[0, positions].float().to(concept_tokens.device)
        closeness = torch.nn.functional.cosine_similarity(tokens, concept_tokens, dim=-1).mean()
        moved = (probe_eps(denoiser, probes, cond) - eps_s).flatten(1)
        dots = (moved * shift).sum(1)
        by_t = {t: float(d.sum() / max(s.sum(), 1e-20))
                for (t, d), s in zip(per_timestep(dots, probes).items(),
                                     per_timestep(shift_sq, probes).values())}
        cosine = dots.sum() / (moved.norm(dim=1) * shift.norm(dim=1)).sum().clamp_min(1e-20)
        points.append(AnchorPoint(name, kind, float(closeness), float(dots.sum() / shift_sq.sum()),
                                  by_t, float(cosine)))
    return AnchorMap(points, positions, float(shift_sq.mean().div(shift.shape[1]).sqrt()))


@dataclass
class AnchorChoice:
    """The anchor candidate the map ranks best, and the map it was chosen on."""

    name: str
    rule: str
    map: AnchorMap

    def as_dict(self) -> dict:
        return {"chosen": self.name, "rule": self.rule,
                "candidates": {p.name: {"closeness": p.closeness, "retention": p.retention}
                               for p in self.map.points}}


def candidate_map(denoiser: Denoiser, cc: ConceptConditioning, probes: Draw) -> AnchorMap:
    """The anchor map of the concept's anchor candidates (`Concept.anchor_candidates`)."""
    if not cc.candidates:
        raise AdvAnchorError("anchor start 'map' chooses among the concept's anchor candidates, "
                             "and it lists none: give the concept anchor candidates (words that "
                             "can take its place in the anchor template), or use start 'concept'")
    return anchor_map(denoiser, cc, {c.name: ("prompt", c.encoding) for c in cc.candidates}, probes)


def choose_anchor(amap: AnchorMap, min_closeness: float) -> AnchorChoice:
    """The candidate with the lowest retention among those with closeness ≥ `min_closeness`
    (a tie goes to the closer one).

    Why this rule: retention is what predicts erasure — in the lab's map (benchmarks/RESULTS.md,
    red) retention vs residual had ρ = +0.77 over ten anchors, and every prompt anchor with
    retention < 0 erased red to 0% — while closeness predicted neither residual nor
    preservation (ρ = −0.45, +0.07). So retention is the score, and closeness only a gate: a
    candidate must still sit near the concept in the text space (a sibling word, not an
    unrelated prompt) for δ to refine it as the concept's anchor. A candidate is a real
    prompt, so whichever wins starts on the data manifold.
    """
    eligible = [p for p in amap.points if p.closeness >= min_closeness]
    if not eligible:
        best = max(amap.points, key=lambda p: p.closeness)
        raise AdvAnchorError(f"no anchor candidate is at least {min_closeness:g} close to the "
                             f"concept (the closest, {best.name!r}, is {best.closeness:.3f}): lower "
                             "the anchor's min_closeness or give closer candidates")
    chosen = min(eligible, key=lambda p: (p.retention, -p.closeness))
    return AnchorChoice(chosen.name, f"lowest retention with closeness ≥ {min_closeness:g}", amap)

"""The unlearning methods, as one table: what each needs frozen and where it sends the concept.

- "adversarial": the concept towards an adversarial anchor, searched on every draw (δ).
- "fixed": the concept towards a fixed text anchor (the superclass, or the concept's anchor
  prompt).
- "esd": ESD's negative guidance ε*(∅) − η(ε*(c_u) − ε*(∅)) (Gandikota et al. 2023).

Why a table: a method is a few answers the loop needs in several places (does it search an
anchor, which frozen predictions an update needs, what the concept's target is); looked up
once per run, the answers cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import Tensor

from ..anchors import CENTRED, AnchorConfig
from ..concept import ConceptConditioning
from ..errors import AdvAnchorError
from .frozen import Refs

FrozenFn = Callable[[ConceptConditioning, AnchorConfig], dict[str, Tensor]]
TargetFn = Callable[[Refs, Tensor | None, float], Tensor]


@dataclass(frozen=True)
class Method:
    """One unlearning method.

    `frozen` names the frozen predictions its target needs (preservation adds its own);
    `target(refs, anchor_eps, esd_eta)` is the prediction the concept is trained towards, from
    this draw's frozen predictions and, for a method that searches an anchor, the anchor's ε
    after this draw's refinement.
    """

    name: str
    searches_anchor: bool
    frozen: FrozenFn
    target: TargetFn


def _anchor_frozen(cc: ConceptConditioning, anchor: AnchorConfig) -> dict[str, Tensor]:
    """The targets the anchor moves away from, and the references its loss is measured from."""
    prompts = {"targets": cc.targets}
    if anchor.loss in CENTRED:
        prompts["superclass"] = cc.superclass
    if anchor.loss == "keep":
        prompts["empty"] = cc.empty
    return prompts


def _anchor_target(refs: Refs, anchor_eps: Tensor | None, esd_eta: float) -> Tensor:
    if anchor_eps is None:
        raise AdvAnchorError("method 'adversarial' unlearns towards a searched anchor, and this "
                             "run has none")
    return anchor_eps


def _fixed_frozen(cc: ConceptConditioning, anchor: AnchorConfig) -> dict[str, Tensor]:
    return {"fixed": cc.fixed_anchor}


def _fixed_target(refs: Refs, anchor_eps: Tensor | None, esd_eta: float) -> Tensor:
    return refs["fixed"][0]


def _esd_frozen(cc: ConceptConditioning, anchor: AnchorConfig) -> dict[str, Tensor]:
    return {"erase": cc.erase, "empty": cc.empty}


def _esd_target(refs: Refs, anchor_eps: Tensor | None, esd_eta: float) -> Tensor:
    erase, empty = refs["erase"][0], refs["empty"][0]
    return empty - esd_eta * (erase - empty)


TABLE: dict[str, Method] = {m.name: m for m in (
    Method("adversarial", True, _anchor_frozen, _anchor_target),
    Method("fixed", False, _fixed_frozen, _fixed_target),
    Method("esd", False, _esd_frozen, _esd_target),
)}
METHODS = tuple(TABLE)

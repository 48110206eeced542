"""The anchor side of a run: δ refined on each draw against the frozen predictions.

Every refinement starts a fresh δ search (`AnchorOptimizer`: fresh Adam, no gradient) over the
warm-started δ, as the authors' code re-creates δ for every training image. The last ε of a
refinement is what the weight step trains towards in the alternating schedule, so it is
evaluated once more there, without a graph, rather than recomputed by the weight step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from ..anchors import CENTRED, AnchorConfig, AnchorOptimizer, AnchorState, adversarial_loss
from ..concept import ConceptConditioning
from ..denoiser import Denoiser
from ..latents import Draw
from .frozen import Refs, batched


@dataclass(frozen=True)
class Refinement:
    """Where a δ refinement ended.

    `eps` is the anchor's ε the last loss was measured at; `stopped` says the search ended early
    there, so `eps` is the anchor's ε now — otherwise δ moved once more after it.
    """

    eps: Tensor
    loss: float
    taken: int
    stopped: bool


@dataclass
class AnchorSide:
    denoiser: Denoiser
    cc: ConceptConditioning
    config: AnchorConfig
    accumulate_grads: bool
    shifted_attribute_weights: bool
    check_cancel: Callable[[], None]

    def eps(self, draw: Draw, anchor: AnchorState) -> Tensor:
        """The frozen model's ε for the anchor at this draw; differentiable in δ."""
        return batched(self.denoiser, draw, anchor.conditioning(), None)[0]

    def loss(self, eps: Tensor, refs: Refs) -> Tensor:
        """The anchor loss of `eps` against this draw's frozen targets (`adversarial_loss`)."""
        cfg = self.config
        sup = refs["superclass"][0] if cfg.loss in CENTRED else None
        empty = refs["empty"][0] if cfg.loss == "keep" else None
        return adversarial_loss(eps, refs["targets"], self.target_weights(), sup, cfg.loss,
                                self.cc.concept.use_concept_term if self.cc.concept else True,
                                empty, cfg.margin, cfg.keep_weight)

    def target_weights(self) -> Tensor:
        """The targets' weights: the concept's own, or shifted by one as the authors' code
        indexes them without the concept term (`reference_config`)."""
        concept = self.cc.concept
        if not self.shifted_attribute_weights or concept is None:
            return self.cc.target_weights
        return torch.tensor(concept.target_weights(reference_indexing=True),
                            dtype=torch.float32, device=self.cc.target_weights.device)

    def refine(self, anchor: AnchorState, draw: Draw, refs: Refs, steps: int) -> Refinement:
        """Up to `steps` δ updates on this draw, from a fresh search; no ε after the last."""
        opt = AnchorOptimizer(anchor, self.config, self.accumulate_grads)
        eps = refs.first_anchor if refs.first_anchor is not None else self.eps(draw, anchor)
        for i in range(steps):
            self.check_cancel()
            loss = self.loss(eps, refs)
            if opt.should_stop(loss):
                return Refinement(eps, loss.item(), i, True)
            opt.step(loss)
            if i < steps - 1:
                eps = self.eps(draw, anchor)
        return Refinement(eps, loss.item(), steps, False)

    def refine_to_target(self, anchor: AnchorState, draw: Draw, refs: Refs) -> tuple[Tensor, float, int]:
        """`config.steps` δ updates, then the anchor's ε where δ ended (detached: the θ target).

        Returns that ε, the anchor loss at it and the number of updates taken."""
        done = self.refine(anchor, draw, refs, self.config.steps)
        if done.stopped:
            return done.eps.detach(), done.loss, done.taken
        with torch.no_grad():
            eps = self.eps(draw, anchor)
        return eps, self.loss(eps, refs).item(), done.taken

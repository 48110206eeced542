"""The settings of one unlearning run, and the authors' code as a preset of them."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..anchors import AnchorConfig
from ..denoiser import AUTOCAST_DTYPES
from ..errors import AdvAnchorError
from ..latents import LatentConfig
from .methods import METHODS

SCHEDULES = ("alternating", "sequential", "cyclical")


@dataclass(frozen=True)
class UnlearnConfig:
    """Defaults are the reference's: 51 Adam updates at lr 1e-5 on cross-attention, λ = 10."""

    method: str = "adversarial"
    anchor: AnchorConfig = AnchorConfig()
    steps: int = 51
    lr: float = 1e-5
    preservation: float = 10.0
    parameters: str | tuple[str, ...] = "xattn"
    schedule: str = "alternating"
    latents: LatentConfig = LatentConfig()
    esd_eta: float = 1.0            # ESD's negative-guidance strength η (method "esd" only)
    seed: int = 0
    accumulate_grads: bool = False  # the reference code never zeroes gradients
    shifted_attribute_weights: bool = False  # the reference's weight indexing without the
                                             # concept term (Concept.target_weights)
    autocast: str = "off"           # "bf16"/"fp16": denoiser calls under torch.autocast (memory)
    stop_at: float = 0.0            # stop a concept once it has moved this fraction of the way
                                    # to its target on held-out draws (`stopping`); 0: off
    stop_every: int = 5             # updates between two readings of that rule

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise AdvAnchorError(f"method {self.method!r} is unknown: use one of {METHODS}")
        if self.schedule not in SCHEDULES:
            raise AdvAnchorError(f"schedule {self.schedule!r} is unknown: use one of {SCHEDULES}")
        if self.steps < 1:
            raise AdvAnchorError(f"steps is {self.steps}: give at least 1 update")
        if not self.lr > 0:
            raise AdvAnchorError(f"lr is {self.lr}: it must be greater than 0")
        if self.preservation < 0:
            raise AdvAnchorError(f"preservation weight is {self.preservation}: use 0 or more")
        if not 0 <= self.stop_at <= 1:
            raise AdvAnchorError(f"stop_at is {self.stop_at}: give the fraction of the way to the "
                                 "target (0 to 1) at which a concept stops, or 0 to train every update")
        if self.stop_every < 1:
            raise AdvAnchorError(f"stop_every is {self.stop_every}: read the rule every 1 or more updates")
        if self.autocast != "off" and self.autocast not in AUTOCAST_DTYPES:
            raise AdvAnchorError(f"autocast {self.autocast!r} is unknown: use 'off', "
                                 f"{', '.join(map(repr, AUTOCAST_DTYPES))}")


def reference_config(**overrides) -> UnlearnConfig:
    """The authors' code as written, quirks included.

    - Gradients are never zeroed: the weights' gradient accumulates over the whole run; δ's
      only within one draw's anchor steps, because the authors re-create δ as a fresh leaf
      with a fresh Adam for every training image (AnchorOptimizer) — in every schedule. In
      the cyclical one each visit of an image is one δ step, so δ's gradient never
      accumulates there.
    - With the concept term off, attribute k is weighted by the table entry of k − 1 (the
      first by the concept's weight): `Concept.target_weights(reference_indexing=True)`.

    Not reproduced: the authors' sequential/cyclical scripts draw a new (t, noise) for the
    weight phase; here both phases revisit the same draws.
    """
    return replace(UnlearnConfig(accumulate_grads=True, shifted_attribute_weights=True),
                   **overrides)

"""One run's parts, put together once: the method looked up, the frozen side, the anchor side,
the weight step, and the progress the run reports.

Why one place: every part calls the same counting denoiser (passes per update are the
efficiency claim) and the same cancel check, and a schedule only arranges their calls. A run
that erases several concepts has one `Run` per concept, all sharing one `RunProgress` (one
denoiser, one count, one progress bar).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from ..concept import ConceptConditioning
from ..denoiser import CountingDenoiser, Denoiser, with_autocast
from ..errors import Cancelled
from ..progress import OnStep, ShouldCancel, StepReport
from ..robust import PrefixAdversary
from .anchor_side import AnchorSide
from .config import UnlearnConfig
from .frozen import FrozenSide, Refs, frozen_prompts
from .methods import Method
from .weight_step import WeightStep


@dataclass
class RunProgress:
    """The run's reports (kept, and passed on, numbered within their phase) and its cancel check."""

    denoiser: CountingDenoiser
    total_reports: int       # how many reports the whole run makes (a progress bar's total)
    on_step: OnStep | None
    should_cancel: ShouldCancel | None
    history: list[StepReport] = field(default_factory=list)
    keep_after: frozenset[int] = frozenset()  # weight updates after which the delta is copied
    kept: dict[int, dict[str, Tensor]] = field(default_factory=dict)
    delta: dict[str, Tensor] | None = None    # the run's delta, once made
    _made: dict[str, int] = field(default_factory=dict)

    def check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled("unlearning was cancelled; no erasure was produced")

    def report(self, phase: str, total: int, losses: dict[str, float]) -> None:
        """Report the next step of `phase` (of `total` in that phase)."""
        step = self._made[phase] = self._made.get(phase, 0) + 1
        r = StepReport(step, total, phase, losses, self.denoiser.passes, self.total_reports)
        self.history.append(r)
        if phase == "unlearn" and step in self.keep_after and self.delta is not None:
            self.kept[step] = {n: d.detach().clone() for n, d in self.delta.items()}
        if self.on_step is not None:
            self.on_step(r)


@dataclass
class Run:
    denoiser: CountingDenoiser
    cc: ConceptConditioning
    config: UnlearnConfig
    method: Method
    frozen: FrozenSide
    anchor: AnchorSide
    weights: WeightStep
    progress: RunProgress

    def target(self, refs: Refs, anchor_eps: Tensor | None) -> Tensor:
        """What the concept is trained towards on this draw, as the method forms it."""
        return self.method.target(refs, anchor_eps, self.config.esd_eta)


def start_progress(denoiser: Denoiser, config: UnlearnConfig, reports: int, on_step: OnStep | None,
                   should_cancel: ShouldCancel | None) -> RunProgress:
    """The run's progress, around the denoiser every part of it calls (counted, autocast)."""
    return RunProgress(CountingDenoiser(with_autocast(denoiser, config.autocast)), reports, on_step,
                       should_cancel)


def make_run(progress: RunProgress, cc: ConceptConditioning, config: UnlearnConfig, method: Method,
             adversary: PrefixAdversary | None = None) -> Run:
    """The parts of a run of `method` with `config` on one concept, `cc` on the model's device."""
    counting = progress.denoiser
    prompts = frozen_prompts(cc, method.frozen(cc, config.anchor), config.preservation,
                             adversary is not None)
    anchor = AnchorSide(counting, cc, config.anchor, config.accumulate_grads,
                        config.shifted_attribute_weights, progress.check_cancel)
    weights = WeightStep(counting, cc, config.preservation, config.accumulate_grads, adversary)
    return Run(counting, cc, config, method, FrozenSide(counting, prompts), anchor, weights, progress)

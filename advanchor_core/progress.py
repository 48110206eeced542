"""What a long core run tells its caller while it works: step reports, and asking to stop.

Its own module because every long run shares it (unlearning, the anchor search, the attack),
and the attack also runs inside unlearning (`robust`): none of them should import another
just for these types.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class StepReport:
    step: int         # 1-based within its phase
    total: int
    phase: str        # "anchor", "unlearn" or "attack"
    losses: dict[str, float]
    passes: int       # denoiser passes so far
    reports: int      # how many reports the whole run makes (a progress bar's total)


OnStep = Callable[[StepReport], None]
ShouldCancel = Callable[[], bool]

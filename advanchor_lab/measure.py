"""Measuring tools both worlds' metrics share: a mean, a drift, what every before/after
comparison reads the same way, a timer, pixel noise."""
from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np
import torch
from torch import Tensor


def mean(values: Iterable[float | bool]) -> float:
    """The mean, NaN for no values (a table shows it as "–": nothing to measure)."""
    values = list(values)
    return float(np.mean(values)) if values else float("nan")


def pixel_drift(a: Tensor, b: Tensor) -> float:
    """Mean absolute pixel difference, in [0, 1] units of the image range."""
    return float((a - b).abs().mean() / 2)


class Preservation:
    """Read the same way in both worlds: accuracy on every prompt not naming the concept, and
    how far those samples moved, erased (`after`) against the original (`before`). A mixin for
    the worlds' comparison dataclasses, whose evaluations have `preserve_acc` and
    `images["preserve"]`."""

    before: Any
    after: Any

    @property
    def preservation(self) -> float:
        """Accuracy on non-target prompts relative to the original's."""
        return self.after.preserve_acc / max(self.before.preserve_acc, 1e-9)

    @property
    def drift(self) -> float:
        return pixel_drift(self.before.images["preserve"], self.after.images["preserve"])


def noisy(x: Tensor, sigma: float, seed: int = 0) -> Tensor:
    """Images with Gaussian pixel noise (σ in [-1, 1] units): the classifiers' robustness checks."""
    g = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)


class Timer:
    """Wall time of a block: `with Timer() as t: ...; t.seconds`."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

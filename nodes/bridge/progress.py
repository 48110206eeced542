"""The core's step reports → ComfyUI's progress bar; ComfyUI's Cancel → the core's cancel; what a
run cost → ComfyUI's log."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterator

import torch

import comfy.model_management
import comfy.utils

from ...advanchor_core.errors import Cancelled

GIB = 2 ** 30


class Progress:
    """A ComfyUI progress bar, one tick per step. The core's step reports carry their own total,
    so the bar and the core can never disagree; a caller that counts its own steps (sampling
    callbacks) gives the total up front and calls `tick`."""

    def __init__(self, node_id: str | None, total: int | None = None):
        self.node_id, self.total = node_id, total
        self.bar = None
        self.done = 0

    def __call__(self, report) -> None:
        """One core step report."""
        self.tick(report.reports)

    def tick(self, total: int | None = None) -> None:
        """One step of `total` (default: the total given up front)."""
        total = total or self.total
        if self.bar is None:
            self.bar = comfy.utils.ProgressBar(total, node_id=self.node_id)
        self.done += 1
        self.bar.update_absolute(min(self.done, total), total)


def should_cancel() -> bool:
    return comfy.model_management.processing_interrupted()


def run_cancellable(fn: Callable[[], object]):
    """Run a core call; a cancel from ComfyUI becomes ComfyUI's own interruption. The
    device's cached memory from the run is released whatever the outcome."""
    try:
        return fn()
    except Cancelled:
        comfy.model_management.throw_exception_if_processing_interrupted()
        raise comfy.model_management.InterruptProcessingException()
    finally:
        comfy.model_management.soft_empty_cache()


@contextlib.contextmanager
def reported(node: str) -> Iterator[None]:
    """Logs, once the block has finished, how long it took and, on a CUDA device, the peak
    memory torch allocated in it: "AdvAnchor Unlearn: 12.3 s, peak 4.20 GiB allocated"."""
    device = comfy.model_management.get_torch_device()
    cuda = getattr(device, "type", None) == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    yield
    peak = f", peak {torch.cuda.max_memory_allocated(device) / GIB:.2f} GiB allocated" if cuda else ""
    logging.info(f"AdvAnchor {node}: {time.perf_counter() - start:.1f} s{peak}")

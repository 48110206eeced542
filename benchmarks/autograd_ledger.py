"""What autograd keeps for the backward pass, counted by storage (bench_memory's *saved* column).

Why a ledger and not the allocator's peak: the question is whether an update holds the model's
weights once, which the peak alone cannot tell (activations and casts mix in). A
`saved_tensors_hooks` pack hook sees every tensor an op saves; the checkpoint wrapper enters the
inputs `torch.utils.checkpoint` keeps to recompute a block (inside a block its own hooks replace
ours). Only sizes are recorded, never the tensors, so the ledger keeps nothing alive.
"""
from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Callable, Iterator, Mapping

import torch
from torch import Tensor

MIB = 2 ** 20


def short(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}.get(
        dtype, str(dtype).removeprefix("torch."))


class SavedLedger:
    """Storage autograd keeps for the backward pass, each storage counted once."""

    def __init__(self) -> None:
        self.storages: dict[int, tuple[int, tuple[int, ...], torch.dtype]] = {}
        self.recording = False

    def add(self, t: Tensor) -> Tensor:
        if self.recording and isinstance(t, Tensor) and t.device.type != "meta":
            storage = t.untyped_storage()
            self.storages.setdefault(storage.data_ptr(), (storage.nbytes(), tuple(t.shape), t.dtype))
        return t

    def hold(self, values) -> None:
        for v in values:
            self.add(v)

    @contextlib.contextmanager
    def record(self) -> Iterator[None]:
        self.storages.clear()
        self.recording = True
        try:
            with torch.autograd.graph.saved_tensors_hooks(self.add, lambda t: t):
                yield
        finally:
            self.recording = False

    def summary(self, weights: Mapping[str, Tensor]) -> dict:
        """MiB saved beyond the model's own weights; of it, weight copies (by dtype); and the
        model's weights autograd references."""
        own = {w.untyped_storage().data_ptr() for w in weights.values()}
        shapes = {s for w in weights.values() if w.dim() >= 2 for s in (tuple(w.shape), tuple(w.shape)[::-1])}
        refs = sum(n for p, (n, _, _) in self.storages.items() if p in own)
        extra = [v for p, v in self.storages.items() if p not in own and p != 0]
        copies: dict[str, float] = {}
        for n, shape, dtype in extra:
            if shape in shapes:
                copies[short(dtype)] = copies.get(short(dtype), 0.0) + n / MIB
        return {"saved_mib": sum(n for n, _, _ in extra) / MIB, "copies_mib": sum(copies.values()),
                "copies_by_dtype": copies, "referenced_mib": refs / MIB}


LEDGER = SavedLedger()


def checkpoint_keeping_inputs(fn: Callable, *args, **kwargs):
    """`torch.utils.checkpoint` (non-reentrant), with the inputs it keeps entered in the ledger."""
    from torch.utils.checkpoint import checkpoint

    LEDGER.hold([*args, *kwargs.values()])
    return checkpoint(fn, *args, **kwargs)


@contextlib.contextmanager
def ledger_sees_checkpoints(module: ModuleType) -> Iterator[None]:
    """Route `module`'s checkpoint calls (the bridge's checkpointing) through
    `checkpoint_keeping_inputs`: observe only, the computation is the same."""
    original = module.checkpoint
    module.checkpoint = checkpoint_keeping_inputs
    try:
        yield
    finally:
        module.checkpoint = original

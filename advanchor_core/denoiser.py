"""The interface the core trains through: ε(x_t, t, cond), frozen or with a weight delta.

Why functional: the erasure is an additive delta over a few named weights. Calling the module
with `torch.func.functional_call(module, {name: base + delta})` gives the patched model and
calling it with no delta gives the frozen original — one copy of the weights, never written,
so the base model is bit-identical after any run.
"""
from __future__ import annotations

from typing import Callable, Mapping, Protocol

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .schedule import NoiseSchedule

Delta = Mapping[str, Tensor]
PREDICTIONS = ("eps", "x0", "v", "flow")
ForwardFn = Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor]


class Denoiser(Protocol):
    schedule: NoiseSchedule

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        """ε prediction; `delta` None means the frozen original model."""

    def named_weights(self) -> dict[str, Tensor]:
        """The base weights by name; the names a delta may use."""

    def network(self) -> nn.Module:
        """The torch module whose parameters `named_weights` names (analyses hook its layers)."""

    def context_of(self, cond: Tensor) -> Tensor:
        """The rows of a conditioning that cross-attention reads (all of them, unless the
        conditioning carries extra non-token rows, as the ComfyUI bridge's pooled row)."""


def call_with_context(module: nn.Module, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
    return module(x, t, context=cond)


class TorchDenoiser:
    """Any torch module called as `module(x, t, context=cond)` (or a custom `forward`).

    `prediction` names what the module outputs ("eps", "x0", "v" or "flow"); the output is
    converted to ε with the schedule so every loss of the method is written in ε-space. A
    "flow" module (rectified flow) is called on the flow sample `schedule.flow_input(x_t, t)`
    and returns the velocity ε − x0.
    """

    def __init__(self, module: nn.Module, schedule: NoiseSchedule, prediction: str = "eps",
                 forward: ForwardFn = call_with_context):
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, not {prediction!r}")
        self.module, self.schedule, self.prediction, self.forward = module, schedule, prediction, forward
        self._wrapper = _ForwardModule(module, forward)

    def named_weights(self) -> dict[str, Tensor]:
        return dict(self.module.named_parameters())

    def network(self) -> nn.Module:
        return self.module

    def context_of(self, cond: Tensor) -> Tensor:
        return cond

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        x = self.schedule.flow_input(x_t, t) if self.prediction == "flow" else x_t
        if delta:
            out = functional_call(self._wrapper, self._patched(delta), (x, t, cond), strict=False)
        else:
            out = self.forward(self.module, x, t, cond)
        return self._to_eps(x_t, t, out)

    def _patched(self, delta: Delta) -> dict[str, Tensor]:
        out = {}
        for k, d in delta.items():
            w = self.module.get_parameter(k)
            out[f"module.{k}"] = (w.to(d.dtype) + d).to(w.dtype)
        return out

    def _to_eps(self, x_t: Tensor, t: Tensor, out: Tensor) -> Tensor:
        if self.prediction == "x0":
            return self.schedule.eps_from_x0(x_t, t, out)
        if self.prediction == "v":
            return self.schedule.eps_from_v(x_t, t, out)
        if self.prediction == "flow":
            return self.schedule.eps_from_flow(x_t, t, out)
        return out


class _ForwardModule(nn.Module):
    """Lets functional_call swap weights under a custom forward function."""

    def __init__(self, module: nn.Module, forward: ForwardFn):
        super().__init__()
        self.module, self.fn = module, forward

    def forward(self, x: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        return self.fn(self.module, x, t, cond)


class WrappedDenoiser:
    """A denoiser that changes how `inner` is called and nothing else: its weights, network,
    schedule and context rows are `inner`'s."""

    def __init__(self, inner: Denoiser):
        self.inner, self.schedule = inner, inner.schedule

    def named_weights(self) -> dict[str, Tensor]:
        return self.inner.named_weights()

    def network(self) -> nn.Module:
        return self.inner.network()

    def context_of(self, cond: Tensor) -> Tensor:
        return self.inner.context_of(cond)


class CountingDenoiser(WrappedDenoiser):
    """Counts forward passes (one per call, however large the batch) and samples evaluated.

    Why: the efficiency claim of the core — frozen predictions computed once per update,
    not once per anchor step — is stated and benchmarked in passes per update.
    """

    def __init__(self, inner: Denoiser):
        super().__init__(inner)
        self.passes = 0
        self.samples = 0

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        self.passes += 1
        self.samples += x_t.shape[0]
        return self.inner(x_t, t, cond, delta)


class WithDelta(WrappedDenoiser):
    """`inner` with a fixed weight delta on: an erased model whose "frozen" state is erased.

    Why: an attack or a measurement treats the erased model as the model under test, so its
    frozen calls (delta None) must carry the erasure; a further delta adds to it.
    """

    def __init__(self, inner: Denoiser, delta: Delta):
        super().__init__(inner)
        self.delta = dict(delta)

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        merged = dict(self.delta)
        for k, d in (delta or {}).items():
            merged[k] = merged[k] + d if k in merged else d
        return self.inner(x_t, t, cond, merged)


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class AutocastDenoiser(WrappedDenoiser):
    """Runs every call of `inner` under `torch.autocast` (bf16 or fp16) and returns float32.

    Why here and not in a model: the loop's losses, δ and the weight delta stay float32 (Adam
    on a 1e-5 lr needs it); only the network's matmuls and convolutions run in half
    precision, which is what halves activation memory for SDXL on a GPU.
    """

    def __init__(self, inner: Denoiser, precision: str):
        if precision not in AUTOCAST_DTYPES:
            raise ValueError(f"autocast must be one of {tuple(AUTOCAST_DTYPES)}, not {precision!r}")
        super().__init__(inner)
        self.dtype = AUTOCAST_DTYPES[precision]
        self.device_type = next(iter(inner.named_weights().values())).device.type

    def __call__(self, x_t: Tensor, t: Tensor, cond: Tensor, delta: Delta | None = None) -> Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.inner(x_t, t, cond, delta)
        return out.float()


def with_autocast(denoiser: Denoiser, precision: str) -> Denoiser:
    """`denoiser` itself for "off", else wrapped in `AutocastDenoiser`."""
    return denoiser if precision == "off" else AutocastDenoiser(denoiser, precision)

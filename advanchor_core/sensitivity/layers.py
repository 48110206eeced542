"""Layer sensitivity: which text-reading layers carry the concept.

Why: training layers that never read the concept's text spends the budget where the concept
is not. Per cross-attention (`attn2`) layer — or, in a joint-attention transformer, per
dual-stream block (measured by the denoiser) — this measures how much the layer's output
changes when the text changes from the concept to a reference (the anchor, the superclass,
...) with the layer's input held fixed, so a layer is not blamed for changes made upstream.
"""
from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Callable, Iterator, Mapping, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..denoiser import Denoiser
from ..errors import AdvAnchorError
from ..latents import Draw
from .probes import probe_eps

CROSS_ATTENTION_SUFFIX = "attn2"

Effects = dict[str, tuple[Tensor, Tensor, int]]  # layer → (Σout² [B], ΣΔout² [R, B], elements)


def cross_attention_layers(module: nn.Module) -> dict[str, nn.Module]:
    """Every `...attn2` module by name: cross-attention in SD-named UNets (ComfyUI's too)."""
    layers = {n: m for n, m in module.named_modules() if n.split(".")[-1] == CROSS_ATTENTION_SUFFIX}
    if not layers:
        raise AdvAnchorError("this model has no module named '*attn2' (cross-attention), so "
                             "there is no layer that reads the text to rank")
    return layers


@dataclass
class LayerSensitivity:
    layers: list[str]
    references: list[str]
    relative: list[list[float]]   # [layer][reference]: ‖Δ out‖ / ‖out‖ with the input fixed
    absolute: list[list[float]]   # [layer][reference]: RMS of Δ out
    by_t: dict[int, list[float]]  # primary reference: timestep → relative change per layer
    primary: str                  # the reference used for ranking and selection

    def scores(self, reference: str | None = None) -> list[float]:
        j = self.references.index(reference or self.primary)
        return [row[j] for row in self.relative]

    def ranking(self, reference: str | None = None) -> list[str]:
        s = self.scores(reference)
        return [self.layers[i] for i in sorted(range(len(s)), key=lambda i: -s[i])]

    def as_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class MeasuresTextBlocks(Protocol):
    """A denoiser that measures its own text-reading blocks (the ComfyUI bridge, whose Flux and
    SD3 transformers read the text in joint-attention blocks, not in `attn2` layers)."""

    def text_block_effects(self, cond: Tensor, references: Mapping[str, Tensor], x_t: Tensor,
                           t: Tensor) -> Effects | None:
        """Per block: (Σ out² per probe, Σ Δout² per reference and probe, elements of one
        probe's output) with the block's input held — or None to be measured by attn2 hooks."""


@torch.no_grad()
def layer_sensitivity(denoiser: Denoiser, cond: Tensor, references: Mapping[str, Tensor],
                      probes: Draw, primary: str | None = None) -> LayerSensitivity:
    """Per attn2 layer and reference, how much the layer's output moves when its text changes
    from `cond` (the concept) to the reference, its input held at the concept pass's.

    One denoiser pass with `cond`; a forward hook re-runs each attn2 on the same input with
    every reference context. Measuring with the input fixed isolates what the layer itself
    reads from the text: a plain two-pass difference would also charge every layer for what
    the layers before it changed.

    A denoiser whose model reads the text elsewhere (joint-attention transformers) measures
    its own blocks the same way (`MeasuresTextBlocks`), returning None where the attn2 hooks
    apply.
    """
    if not references:
        raise AdvAnchorError("layer sensitivity needs at least one reference conditioning")
    names = list(references)
    primary = primary or names[0]
    if primary not in references:
        raise AdvAnchorError(f"primary reference {primary!r} is not among {names}")
    effects = denoiser.text_block_effects(cond, references, probes.x_t, probes.t) \
        if isinstance(denoiser, MeasuresTextBlocks) else None
    if effects is None:
        effects = _cross_attention_effects(denoiser, cond, references, probes)
    if not effects:
        raise AdvAnchorError("no cross-attention layer received the text during the forward "
                             "pass; this model passes its text in a way the analysis cannot see")
    b = probes.x_t.shape[0]
    kept = list(effects)
    rel = [[float((effects[n][1][j].sum() / effects[n][0].sum().clamp_min(1e-20)).sqrt())
            for j in range(len(names))] for n in kept]
    ab = [[float((effects[n][1][j].sum() / (effects[n][2] * b)).sqrt()) for j in range(len(names))]
          for n in kept]
    jp = names.index(primary)
    by_t: dict[int, list[float]] = {}
    for t in dict.fromkeys(probes.t.tolist()):
        rows = (probes.t == t).cpu()
        by_t[int(t)] = [float((effects[n][1][jp][rows].sum() /
                               effects[n][0][rows].sum().clamp_min(1e-20)).sqrt()) for n in kept]
    return LayerSensitivity(kept, names, rel, ab, by_t, primary)


def _context_of(args: tuple, kwargs: dict) -> tuple[Tensor | None, bool]:
    """The `context` an attn2 call received and whether it came as a keyword."""
    if kwargs.get("context") is not None:
        return kwargs["context"], True
    if len(args) > 1 and isinstance(args[1], Tensor):
        return args[1], False
    return None, False


@contextlib.contextmanager
def _hooks(layers: Mapping[str, nn.Module], hook: Callable[[str], Callable]) -> Iterator[None]:
    """`hook(name)` on every layer for the block's duration: removed even when it raises."""
    handles = [m.register_forward_hook(hook(name), with_kwargs=True) for name, m in layers.items()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _cross_attention_effects(denoiser: Denoiser, cond: Tensor, references: Mapping[str, Tensor],
                             probes: Draw) -> Effects:
    """The attn2 hooks of `layer_sensitivity`: per layer that received the text, its output's
    energy and how much each reference context moves it."""
    names = list(references)
    layers = cross_attention_layers(denoiser.network())
    b = probes.x_t.shape[0]
    diff = {n: torch.zeros(len(names), b) for n in layers}
    base = {n: torch.zeros(b) for n in layers}
    count = {n: 0 for n in layers}
    busy = set()

    def hook(name: str):
        def fn(mod: nn.Module, args: tuple, kwargs: dict, out: Tensor):
            if name in busy:           # our own re-run of this layer
                return None
            context, as_kw = _context_of(args, kwargs)
            if context is None or not isinstance(out, Tensor):
                return None
            busy.add(name)
            try:
                base[name] += out.detach().float().flatten(1).pow(2).sum(1).cpu()
                count[name] += out[0].numel()
                for j, ref_name in enumerate(names):
                    ref = denoiser.context_of(references[ref_name]).to(context.device, context.dtype)
                    ref = ref.expand(context.shape[0], -1, -1)
                    a, k = (args, dict(kwargs, context=ref)) if as_kw else ((args[0], ref, *args[2:]), kwargs)
                    moved = mod(*a, **k)
                    diff[name][j] += (moved.float() - out.float()).flatten(1).pow(2).sum(1).cpu()
            finally:
                busy.discard(name)
            return None
        return fn

    with _hooks(layers, hook):
        probe_eps(denoiser, probes, cond)
    return {n: (base[n], diff[n], count[n]) for n in layers if count[n]}

"""Which blocks of a Flux or SD3 transformer read the text: the analogue of re-running a UNet's
cross-attention with another context, for joint-attention blocks (dual- and single-stream).

Why through ComfyUI's block-replace patches (`transformer_options["patches_replace"]["dit"]`,
key ("double_block", i) or ("single_block", i)): both transformers offer them for every
joint-attention block, with the block's streams by name, in every ComfyUI version the pack
supports — no hook needs to know a block's call signature. A single-stream block's one
sequence is the text tokens, then the image tokens. Per block, its image-stream output is measured twice
from the same inputs: once as the concept pass ran it, once with the block's text stream
replaced by the one a reference prompt's pass gave that block. The pooled vector, the
timestep and the image input are held at the concept's, so only what the block reads from the
text tokens moves its output. The blocks add their residuals into their inputs in place, so
every call here runs on copies.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor

from ...advanchor_core.errors import AdvAnchorError
from . import ragged

BLOCK_LISTS = {"flux": ("double_blocks", "single_blocks"), "chroma": ("double_blocks", "single_blocks"),
               "mmdit": ("joint_blocks",)}
PATCH_KEYS = {"double_blocks": "double_block", "joint_blocks": "double_block",
              "single_blocks": "single_block"}
Patch = Callable[[dict, dict], dict]
Key = tuple[str, int]


def _copies(args: dict) -> dict:
    return {k: v.clone() if isinstance(v, Tensor) else v for k, v in args.items()}


def blocks(den) -> list[tuple[str, Key]]:
    """(parameter-name prefix, block-replace key) of every block of `den`'s transformer that
    reads the text: the dual-stream blocks, then (Flux) the single-stream ones."""
    return [(f"{attr}.{i}", (PATCH_KEYS[attr], i))
            for attr in BLOCK_LISTS[den.family.kind] for i in range(len(getattr(den.unet, attr)))]


class _Parts:
    """A block's text input and image output. Dual-stream blocks keep them apart ("txt",
    "img"); a single-stream block runs on one sequence, the `n` text tokens first (ComfyUI's
    Flux joins them so, in every supported version).

    A reference's text may have another length than the concept's (Chroma's unpadded T5).
    Flux-type blocks give every text token the same rotary position (id 0), so the block can
    read a text of any length: the rotation rows of the text are resized to it."""

    def __init__(self, key: Key, n_text: int):
        self.single, self.n = key[0] == "single_block", n_text

    def text(self, args: dict) -> Tensor:
        return args["img"][:, :self.n] if self.single else args["txt"]

    def with_text(self, args: dict, text: Tensor) -> dict:
        if text.shape[1] != self.n:
            args = dict(args, pe=_text_positions(args["pe"], self.n, text.shape[1]))
        if self.single:
            return dict(args, img=torch.cat([text.to(args["img"]), args["img"][:, self.n:]], 1))
        return dict(args, txt=text.to(args["txt"]))

    def image(self, out: dict, n_text: int | None = None) -> Tensor:
        return out["img"][:, (self.n if n_text is None else n_text):] if self.single else out["img"]


def _text_positions(pe: Tensor, n: int, m: int) -> Tensor:
    """Flux's rotations [B, 1, n + image, ...] for a text of m tokens instead of n."""
    text = pe[:, :, :n]
    if not torch.equal(text, text[:, :, :1].expand_as(text)):
        raise AdvAnchorError("this model gives its text tokens different rotary positions, so a "
                             "block cannot read a reference prompt of another length: give "
                             "candidate prompts as long as the concept's prompt")
    return torch.cat([text[:, :, :1].expand(-1, -1, m, *text.shape[3:]), pe[:, :, n:]], 2)


def _recording(streams: dict[Key, Tensor], key: Key, parts: _Parts) -> Patch:
    def patch(args: dict, extra: dict) -> dict:
        streams[key] = parts.text(args).detach().clone()
        return extra["original_block"](args)
    return patch


def _measuring(effects: dict, key: Key, parts: _Parts,
               references: Mapping[str, dict[Key, Tensor]]) -> Patch:
    def patch(args: dict, extra: dict) -> dict:
        block = extra["original_block"]
        held = _copies(args)
        out = block(args)
        img = parts.image(out).float()
        effects["base"][key] = img.flatten(1).pow(2).sum(1).cpu()
        effects["count"][key] = img[0].numel()
        moved = [parts.image(block(parts.with_text(_copies(held), streams[key])), streams[key].shape[1])
                 for streams in references.values()]
        effects["diff"][key] = torch.stack([(m.float() - img).flatten(1).pow(2).sum(1).cpu()
                                            for m in moved])
        return out
    return patch


def _text_rows(den, cond: Tensor) -> int:
    """The text tokens one prompt's conditioning gives the model (its own count if ragged)."""
    return int(ragged.counts(cond)[0]) if den.family.ragged else den.context_of(cond).shape[1]


@torch.no_grad()
def block_text_effects(den, cond: Tensor, references: Mapping[str, Tensor], x_t: Tensor,
                       t: Tensor) -> dict[str, tuple[Tensor, Tensor, int]]:
    """Per block name: (Σ out² per probe [B], Σ Δout² per reference and probe [R, B], elements
    of one probe's output), as the core's layer sensitivity accumulates them."""
    named, b = blocks(den), x_t.shape[0]
    parts = {key: _Parts(key, _text_rows(den, cond)) for _, key in named}
    streams: dict[str, dict[Key, Tensor]] = {}
    for ref_name, ref in references.items():
        streams[ref_name] = {}
        with den.block_patches({key: _recording(streams[ref_name], key, _Parts(key, _text_rows(den, ref)))
                                for _, key in named}):
            den(x_t, t, ref.expand(b, -1, -1))
    effects: dict = {"base": {}, "diff": {}, "count": {}}
    with den.block_patches({key: _measuring(effects, key, parts[key], streams) for _, key in named}):
        den(x_t, t, cond.expand(b, -1, -1))
    return {name: (effects["base"][key], effects["diff"][key], effects["count"][key])
            for name, key in named if key in effects["base"]}

"""Which blocks of a joint-attention transformer (Flux.1, Flux.2, Chroma, SD3, Qwen-Image) read
the text: the analogue of re-running a UNet's cross-attention with another context, for dual-
and single-stream blocks.

Why through ComfyUI's block-replace patches (`transformer_options["patches_replace"]["dit"]`,
key ("double_block", i) or ("single_block", i)): these transformers offer them for every
joint-attention block, with the block's streams by name, in every ComfyUI version the pack
supports — no hook needs to know a block's call signature. (Z-Image's NextDiT offers none.)
Per block, its image-stream output is measured twice from the same inputs: once as the
concept pass ran it, once with the block's text stream — and the rotary positions that text
ran with — replaced by those a reference prompt's pass gave that block. The modulation, the
timestep and the image input are held at the concept's, so only what the block reads from the
text tokens moves its output. Some blocks add their residuals into their inputs in place, so
every call here runs on copies.
"""
from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor

from ...advanchor_core.errors import AdvAnchorError

FLUX_BLOCKS = ("double_blocks", "single_blocks")
BLOCK_LISTS = {"flux": FLUX_BLOCKS, "chroma": FLUX_BLOCKS, "flux2": FLUX_BLOCKS, "mmdit": ("joint_blocks",),
               "qwen": ("transformer_blocks",)}
PATCH_KEYS = {"double_blocks": "double_block", "joint_blocks": "double_block",
              "single_blocks": "single_block", "transformer_blocks": "double_block"}
Patch = Callable[[dict, dict], dict]
Key = tuple[str, int]


def _copies(args: dict) -> dict:
    return {k: v.clone() if isinstance(v, Tensor) else v for k, v in args.items()}


def blocks(den) -> list[tuple[str, Key]]:
    """(parameter-name prefix, block-replace key) of every block of `den`'s transformer that
    reads the text: the dual-stream blocks, then (Flux) the single-stream ones."""
    if den.family.kind not in BLOCK_LISTS:
        raise AdvAnchorError(f"{den.family.name}'s transformer offers ComfyUI no block-replace "
                             "patches, which Concept Sensitivity measures its blocks through: "
                             "choose Unlearn's parameters with a preset or a pattern instead")
    return [(f"{attr}.{i}", (PATCH_KEYS[attr], i))
            for attr in BLOCK_LISTS[den.family.kind] for i in range(len(getattr(den.unet, attr)))]


class _Pass:
    """One model call's view of its blocks. Dual-stream blocks keep the text and image apart
    ("txt", "img"); a single-stream block runs on one sequence, the text tokens first (ComfyUI's
    Flux joins them so, in every supported version), as many as the dual-stream blocks before
    it saw (Flux.2 pads a prompt's rows to 512 inside the model)."""

    def __init__(self) -> None:
        self.n = 0

    def text(self, key: Key, args: dict) -> Tensor:
        if key[0] == "single_block":
            return args["img"][:, :self.n]
        self.n = args["txt"].shape[1]
        return args["txt"]

    def with_text(self, key: Key, args: dict, text: Text) -> dict:
        """`args` with another prompt's text and that prompt's rotary positions (the text's
        positions and the image's, which do not depend on the text): a reference may have
        another length than the concept (the ragged families)."""
        rows, positions = text
        if positions is not None:
            args = dict(args, pe=positions)
        if key[0] == "single_block":
            return dict(args, img=torch.cat([rows.to(args["img"]), args["img"][:, self.n:]], 1))
        return dict(args, txt=rows.to(args["txt"]))

    def image(self, key: Key, out: dict, n_text: int) -> Tensor:
        return out["img"][:, n_text:] if key[0] == "single_block" else out["img"]


Text = tuple[Tensor, object]   # a block's text rows and the rotary positions ("pe") it ran with


def _recording(texts: dict[Key, Text], key: Key, view: _Pass) -> Patch:
    def patch(args: dict, extra: dict) -> dict:
        texts[key] = (view.text(key, args).detach().clone(), args.get("pe"))
        return extra["original_block"](args)
    return patch


def _measuring(effects: dict, key: Key, view: _Pass, references: Mapping[str, dict[Key, Text]]) -> Patch:
    def patch(args: dict, extra: dict) -> dict:
        block = extra["original_block"]
        view.text(key, args)
        held = _copies(args)
        out = block(args)
        img = view.image(key, out, view.n).float()
        effects["base"][key] = img.flatten(1).pow(2).sum(1).cpu()
        effects["count"][key] = img[0].numel()
        moved = [view.image(key, block(view.with_text(key, _copies(held), texts[key])), texts[key][0].shape[1])
                 for texts in references.values()]
        effects["diff"][key] = torch.stack([(m.float() - img).flatten(1).pow(2).sum(1).cpu()
                                            for m in moved])
        return out
    return patch


@torch.no_grad()
def block_text_effects(den, cond: Tensor, references: Mapping[str, Tensor], x_t: Tensor,
                       t: Tensor) -> dict[str, tuple[Tensor, Tensor, int]]:
    """Per block name: (Σ out² per probe [B], Σ Δout² per reference and probe [R, B], elements
    of one probe's output), as the core's layer sensitivity accumulates them."""
    named, b = blocks(den), x_t.shape[0]
    texts: dict[str, dict[Key, Text]] = {}
    for ref_name, ref in references.items():
        texts[ref_name], view = {}, _Pass()
        with den.block_patches({key: _recording(texts[ref_name], key, view) for _, key in named}):
            den(x_t, t, ref.expand(b, -1, -1))
    effects: dict = {"base": {}, "diff": {}, "count": {}}
    view = _Pass()
    with den.block_patches({key: _measuring(effects, key, view, texts) for _, key in named}):
        den(x_t, t, cond.expand(b, -1, -1))
    return {name: (effects["base"][key], effects["diff"][key], effects["count"][key])
            for name, key in named if key in effects["base"]}

"""Which blocks of a Flux or SD3 transformer read the text: the analogue of re-running a UNet's
cross-attention with another context, for joint-attention blocks.

Why through ComfyUI's block-replace patches (`transformer_options["patches_replace"]["dit"]`,
key ("double_block", i)): both transformers offer them for every dual-stream block, with the
block's image and text streams by name, in every ComfyUI version the pack supports — no hook
needs to know a block's call signature. Per block, its image-stream output is measured twice
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

BLOCK_LISTS = {"flux": "double_blocks", "mmdit": "joint_blocks"}
Patch = Callable[[dict, dict], dict]


def _copies(args: dict) -> dict:
    return {k: v.clone() if isinstance(v, Tensor) else v for k, v in args.items()}


def block_names(den) -> list[str]:
    """The dual-stream blocks of `den`'s transformer, by parameter-name prefix."""
    attr = BLOCK_LISTS[den.family.kind]
    return [f"{attr}.{i}" for i in range(len(getattr(den.unet, attr)))]


def _recording(streams: dict[int, Tensor], i: int) -> Patch:
    def patch(args: dict, extra: dict) -> dict:
        streams[i] = args["txt"].detach().clone()
        return extra["original_block"](args)
    return patch


def _measuring(effects: dict, i: int, references: Mapping[str, dict[int, Tensor]]) -> Patch:
    def patch(args: dict, extra: dict) -> dict:
        block = extra["original_block"]
        held = _copies(args)
        out = block(args)
        img = out["img"].float()
        effects["base"][i] = img.flatten(1).pow(2).sum(1).cpu()
        effects["count"][i] = img[0].numel()
        moved = [block(dict(_copies(held), txt=streams[i].to(held["txt"]))) for streams in references.values()]
        effects["diff"][i] = torch.stack([(m["img"].float() - img).flatten(1).pow(2).sum(1).cpu()
                                          for m in moved])
        return out
    return patch


@torch.no_grad()
def block_text_effects(den, cond: Tensor, references: Mapping[str, Tensor], x_t: Tensor,
                       t: Tensor) -> dict[str, tuple[Tensor, Tensor, int]]:
    """Per block name: (Σ out² per probe [B], Σ Δout² per reference and probe [R, B], elements
    of one probe's output), as the core's layer sensitivity accumulates them."""
    names, b = block_names(den), x_t.shape[0]
    streams: dict[str, dict[int, Tensor]] = {}
    for ref_name, ref in references.items():
        streams[ref_name] = {}
        with den.block_patches({("double_block", i): _recording(streams[ref_name], i)
                                for i in range(len(names))}):
            den(x_t, t, ref.expand(b, -1, -1))
    effects: dict = {"base": {}, "diff": {}, "count": {}}
    with den.block_patches({("double_block", i): _measuring(effects, i, streams)
                            for i in range(len(names))}):
        den(x_t, t, cond.expand(b, -1, -1))
    return {name: (effects["base"][i], effects["diff"][i], effects["count"][i])
            for i, name in enumerate(names) if i in effects["base"]}

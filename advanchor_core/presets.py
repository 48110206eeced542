"""Which parameters an erasure may change: presets from ESD/Concept Ablation, or a pattern.

Why by name: ComfyUI's models (and the pack's own tiny models) keep their upstream module names,
so a preset is one regular expression per layout, and a preset means the same part of the model
in every family:

- SD-style UNets (SD1.x/2.x/XL, the lab): text enters through cross-attention, `...attn2.to_q/
  to_k/to_v/to_out`; `to_k`/`to_v` are the only weights applied to text tokens.
- Flux (`double_blocks.N.img_*`/`txt_*`, then `single_blocks`): image and text tokens attend
  jointly in each double-stream block, each stream with its own fused q/k/v (`*_attn.qkv`),
  projection, MLP and modulation; single-stream blocks share every weight between the two.
- SD3 MMDiT (`joint_blocks.N.x_block`/`context_block`): the same joint attention, one block kind.

  preset        UNet                      Flux / SD3
  xattn         attn2 (cross-attention)   the joint attention of every dual-stream block, both
                                          streams (where the image reads the text)
  xattn-kv      attn2.to_k, to_v          the text stream's fused q/k/v (the keys and values the
                                          image reads; the text's own queries come with them)
  text-stream   attn2.to_k, to_v          every weight only text tokens pass: the text input
                                          projection and the text stream of each block
  image-stream  all but attn2.to_k/to_v   every weight only image tokens pass: the image input
                and the t/y embedders     projection, image stream, final layer
  noxattn       all but xattn             all but xattn
  full          everything                everything

Weights both streams share (Flux's single-stream blocks, the timestep/pooled/guidance
embedders) are in neither stream preset: `full`, `noxattn` or a pattern train them. A
single-stream block chosen by the sensitivity analysis (`in_block_preset`) trains its fused
q/k/v + MLP input `linear1` ("kv"), with its output `linear2` ("all").
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from .errors import AdvAnchorError

CROSS_ATTENTION = "attn2."
UNET_TEXT = r"attn2\.to_[kv]\."
# layout → preset → pattern; a preset absent from a layout's table is the complement of xattn
# ("noxattn") or everything ("full")
PATTERNS: dict[str, dict[str, str]] = {
    "unet": {
        "xattn": r"attn2\.",                                               # ESD-x, reference
        "xattn-kv": UNET_TEXT,                                            # ESD x-strict, CA
        "text-stream": UNET_TEXT,
        "image-stream": rf"^(?!time_embed\.|label_emb\.)(?!.*{UNET_TEXT})",
    },
    "flux": {
        "xattn": r"^double_blocks\.\d+\.(img|txt)_attn\.",
        "xattn-kv": r"^double_blocks\.\d+\.txt_attn\.qkv\.",
        "text-stream": r"^(txt_in\.|double_blocks\.\d+\.txt_)",
        "image-stream": r"^(img_in\.|final_layer\.|double_blocks\.\d+\.img_)",
    },
    "mmdit": {
        "xattn": r"^joint_blocks\.\d+\.(x_block|context_block)\.attn\.",
        "xattn-kv": r"^joint_blocks\.\d+\.context_block\.attn\.qkv\.",
        "text-stream": r"^(context_embedder\.|joint_blocks\.\d+\.context_block\.)",
        "image-stream": r"^(x_embedder\.|final_layer\.|joint_blocks\.\d+\.x_block\.)",
    },
}
PRESETS = ("xattn", "xattn-kv", "text-stream", "image-stream", "noxattn", "full")
SINGLE_STREAM = {"xattn": r"^single_blocks\.\d+\.linear[12]\.",
                 "xattn-kv": r"^single_blocks\.\d+\.linear1\."}


def layout(names: Sequence[str]) -> str:
    """"flux", "mmdit" or "unet" (everything else keeps SD's names), from the weight names."""
    if any(n.startswith("double_blocks.") for n in names):
        return "flux"
    if any(n.startswith("joint_blocks.") for n in names):
        return "mmdit"
    return "unet"


def in_preset(name: str, preset: str, kind: str) -> bool:
    """Whether weight `name` of a `kind` layout belongs to `preset`."""
    if preset == "full":
        return True
    if preset == "noxattn":
        return not in_preset(name, "xattn", kind)
    return re.search(PATTERNS[kind][preset], name) is not None


def in_block_preset(name: str, preset: str, kind: str) -> bool:
    """`in_preset` for "xattn"/"xattn-kv", and inside Flux's single-stream blocks (which have
    no attention of their own to name) the weights that read the joint sequence."""
    return in_preset(name, preset, kind) or (
        kind == "flux" and re.search(SINGLE_STREAM[preset], name) is not None)


def select_parameters(names: Iterable[str], spec: str | Sequence[str]) -> list[str]:
    """Names chosen by a preset, a regular expression, or an explicit list (e.g. from sensitivity)."""
    names = list(names)
    if not isinstance(spec, str):
        missing = sorted(set(spec) - set(names))
        if missing:
            raise AdvAnchorError(f"{len(missing)} selected parameters are not in this model "
                                 f"(first: {missing[0]!r}): re-run the selection on this model")
        return [n for n in names if n in set(spec)]
    if spec in PRESETS:
        kind = layout(names)
        if kind == "unet" and spec.startswith("xattn") and not any(CROSS_ATTENTION in n for n in names):
            raise AdvAnchorError(f"preset {spec!r} needs cross-attention, and this model has no "
                                 "parameter named '*attn2*': use 'noxattn', 'full' or a pattern")
        chosen = [n for n in names if in_preset(n, spec, kind)]
    else:
        try:
            pattern = re.compile(spec)
        except re.error as err:
            raise AdvAnchorError(f"parameter pattern {spec!r} is not a valid regular expression "
                                 f"({err}); use a preset: {', '.join(PRESETS)}") from None
        chosen = [n for n in names if pattern.search(n)]
    if not chosen:
        raise AdvAnchorError(f"{spec!r} matches no parameter of this model: use a preset "
                             f"({', '.join(PRESETS)}) or a regular expression over names such as "
                             f"{names[len(names) // 2]!r}")
    return chosen

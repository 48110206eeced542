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
  Flux.2 and Chroma keep Flux's names (Flux.2 adds per-stream modulation networks).
- Qwen-Image MMDiT (`transformer_blocks.N`): per block, the image's `attn.to_q/k/v`, `to_out`
  and `img_*`, the text's `attn.add_q/k/v_proj`, `to_add_out` and `txt_*`.
- Z-Image / Lumina2 NextDiT, single-stream: text tokens pass `cap_embedder` and the
  `context_refiner` blocks alone, image tokens `x_embedder`, the `noise_refiner` blocks and the
  final layer alone; then both share every weight of the joint `layers.N`. "xattn" there is
  the joint layers' attention (image and text attend to each other and to themselves through
  one set of weights), "xattn-kv" its fused q/k/v: the text's keys and values, with the
  image's queries, keys and values, which no separate weight holds.

  preset        UNet                      Flux / SD3 / Qwen-Image (Z-Image: see above)
  xattn         attn2 (cross-attention)   the joint attention of every dual-stream block, both
                                          streams (where the image reads the text)
  xattn-kv      attn2.to_k, to_v          the text stream's fused q/k/v (the keys and values the
                                          image reads; the text's own queries come with them;
                                          Qwen-Image: add_k_proj, add_v_proj, keys and values)
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
        "text-stream": r"^(txt_in\.|double_stream_modulation_txt\.|double_blocks\.\d+\.txt_)",
        "image-stream": r"^(img_in\.|final_layer\.|double_stream_modulation_img\.|double_blocks\.\d+\.img_)",
    },
    "mmdit": {
        "xattn": r"^joint_blocks\.\d+\.(x_block|context_block)\.attn\.",
        "xattn-kv": r"^joint_blocks\.\d+\.context_block\.attn\.qkv\.",
        "text-stream": r"^(context_embedder\.|joint_blocks\.\d+\.context_block\.)",
        "image-stream": r"^(x_embedder\.|final_layer\.|joint_blocks\.\d+\.x_block\.)",
    },
    "qwen": {
        "xattn": r"^transformer_blocks\.\d+\.attn\.",
        "xattn-kv": r"^transformer_blocks\.\d+\.attn\.add_[kv]_proj\.",
        "text-stream": r"^(txt_in\.|txt_norm\.|transformer_blocks\.\d+\.(txt_|attn\.(add_|to_add_out|norm_added_)))",
        "image-stream": (r"^(img_in\.|norm_out\.|proj_out\.|"
                         r"transformer_blocks\.\d+\.(img_|attn\.(to_[qkv]\.|to_out\.|norm_[qk]\.)))"),
    },
    "lumina": {
        "xattn": r"^layers\.\d+\.attention\.",
        "xattn-kv": r"^layers\.\d+\.attention\.qkv\.",
        "text-stream": r"^(cap_embedder\.|context_refiner\.)",
        "image-stream": r"^(x_embedder\.|noise_refiner\.|final_layer\.)",
    },
}
PRESETS = ("xattn", "xattn-kv", "text-stream", "image-stream", "noxattn", "full")
SINGLE_STREAM = {"xattn": r"^single_blocks\.\d+\.linear[12]\.",
                 "xattn-kv": r"^single_blocks\.\d+\.linear1\."}


LAYOUTS = (("double_blocks.", "flux"), ("joint_blocks.", "mmdit"), ("transformer_blocks.", "qwen"),
           ("context_refiner.", "lumina"))


def layout(names: Sequence[str]) -> str:
    """"flux", "mmdit", "qwen", "lumina" or "unet" (everything else keeps SD's names), from the
    weight names."""
    return next((kind for prefix, kind in LAYOUTS if any(n.startswith(prefix) for n in names)), "unet")


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

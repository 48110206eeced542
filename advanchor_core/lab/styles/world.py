"""The trained style-world model as the core sees it, and its styles as the core's `Concept`s.

`load_world()` returns the first lab's `World` (denoiser, encoder, seeded DDIM + guidance
sampling, with or without a weight delta) built on `weights/styles_unet.safetensors` and the
20-token encoder, so `..erase`-style machinery (or a sibling of it) can erase a style on it.

What the chance floor means here. An erasure that maps a style onto a superclass cannot do
better than what the original model draws for that superclass, so a style's residual
attributes are read against these rates. There are two superclasses:

- the **bare** prompt, "a red circle on black" (the style phrase removed). It is trained on
  plain images, on the unnamed looks with their attribute phrase dropped and on styled images
  with the style dropped, so it draws a *plain* object about half of the time and each
  attribute at a floor of roughly 13–26% (data rates below; the model's measured rates are in
  `evaluate.chance_floors` and the training report).
- the **generic** prompt, "a red circle on black in some style", trained on the eight styles
  only: it draws one of them, each about 1/8 of the time, so an attribute's floor is the share
  of styles that have it (outline 4/8; warm, cool, stripes 3/8; dots, checks 2/8). It is the
  analogue of the paper's generic anchor ("painting"): mapping a style onto it replaces the
  style by a random other one, which often shares some of its attributes.

Guidance sharpens what the model draws, so the measured floors (at DDIM 25, guidance 3) differ
from the caption-level rates a perfect model of the training data would have (`data_floors()`):
Caption-level rates (what a perfect model of the training data would draw; `data_floors()`):

    attribute  bare   generic
    outline    0.26   0.50
    warm       0.18   0.375
    cool       0.18   0.375
    stripes    0.15   0.375
    dots       0.13   0.25
    checks     0.13   0.25
    (plain)    0.49   0

Measured on the first trained model (2,400 steps, below the acceptance bar: see `train.py`;
128 samples a prompt family, valid samples only, seed 0), the floors are lower and the
generic prompt is far from uniform over the styles, so measure them again on any new model
(`evaluate.chance_floors`):

    attribute  bare   generic
    outline    0.19   0.62
    warm       0.13   0.08
    cool       0.16   0.37
    stripes    0.10   0.24
    dots       0.01   0.04
    checks     0.08   0.08
    (plain)    0.49   0.14      (generic: a named style on 33% of samples, plimm 15%)

Measured on the committed model (third run, 256 samples a prompt family, seed 0):

    attribute  bare   generic
    outline    0.20   0.58
    warm       0.08   0.32
    cool       0.09   0.31
    stripes    0.04   0.32
    dots       0.06   0.09
    checks     0.04   0.13
    (plain)    0.59   0.09      (generic: a named style on ~29% of samples)
"""
from __future__ import annotations

from pathlib import Path

from ...concept import Concept
from ...denoiser import TorchDenoiser
from ...schedule import NoiseSchedule
from ..world import GUIDANCE, STEPS, World, load_unet  # noqa: F401 (re-exported)
from . import data
from .text import load_encoder

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "styles_unet.safetensors"


def load_world(path: Path = WEIGHTS) -> World:
    """The style-world model, wrapped as the core's Denoiser, with its encoder."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no style-world model at {path}: train one with "
                                "python -m advanchor_core.lab.styles.train")
    unet, meta = load_unet(Path(path))
    if meta.get("world") != "styles":
        raise ValueError(f"{path} is not a style-world model (its metadata says world="
                         f"{meta.get('world')!r}); train one with python -m advanchor_core.lab.styles.train")
    schedule = {"cosine": NoiseSchedule.cosine, "sd_linear": NoiseSchedule.sd_linear}[meta["schedule"]]()
    return World(TorchDenoiser(unet, schedule, prediction=meta.get("prediction", "eps")),
                 load_encoder(), meta)


def style_concept(style: str, superclass: str = "bare", attributes: bool = True,
                  use_concept_term: bool = True) -> Concept:
    """A style as the core's `Concept`: c_u = "a shape in {style} style".

    `superclass` "bare" → "a shape", "generic" → "a shape in some style", "empty" → "" (as
    the nudity preset has: a concept named by its attributes, with no superclass to keep). `attributes` adds one
    attribute prompt per defining attribute ("a shape with an outline"), equal weights summing
    to 1 (every attribute of a look is drawn together, so none is more frequent than another).
    """
    look = data.STYLES[style]
    sup = {"bare": data.bare_prompt(None, None, None),
           "generic": data.generic_prompt(None, None, None), "empty": ""}[superclass]
    attrs = tuple((data.attribute_prompt((a,), None, None, None), 1.0 / len(look.attributes))
                  for a in look.attributes) if attributes else ()
    template = data.TRAINED_TEMPLATES["in-style"].format(obj=data.SHAPE_SUPERCLASS, style="{}")
    return Concept(text=style, prompt_template=template, anchor_template=template, superclass=sup,
                   attributes=attrs, use_concept_term=use_concept_term)


def data_floors(n: int = 200_000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Share of each attribute (and of plain looks) among training images captioned with the
    bare or the generic prompt, estimated from the caption sampler."""
    import numpy as np

    _, items = data.dataset()
    rng = np.random.default_rng(seed)
    idx = data.sample_items(n, rng)
    looks = {"bare": [], "generic": []}
    for i in idx:
        it = items[i]
        cap = data.sample_caption(it, rng)
        if not cap:
            continue
        content = (it.colour, it.shape, it.background)
        if cap in {data.bare_prompt(c, s, b) for c in (content[0], None) for s in (content[1], None)
                   for b in (content[2], None)}:
            looks["bare"].append(it.look)
        elif f"in {data.GENERIC_STYLE} style" in cap:
            looks["generic"].append(it.look)
    out = {}
    for name, ls in looks.items():
        out[name] = {a: float(np.mean([a in lk.attributes for lk in ls])) for a in data.ATTRIBUTES}
        out[name]["(plain)"] = float(np.mean([lk == data.PLAIN for lk in ls]))
    return out

"""An exact, hand-written classifier for the shapes world: colour, shape, texture and validity.

Why not a learned one: an erasure metric is only as trustworthy as its judge. Every concept of
the world is a known rendering rule, so each factor is read back from pixels directly:
- colour: median RGB of the saturated (object) pixels, nearest palette colour;
- shape: best IoU of the object mask against every shape mask the world can draw;
- texture: nearest background pattern on the pixels outside the object;
- validity: the object must be recognisable (IoU, palette distance, and the re-rendered image
  close to the sample). A loose judge counts coloured noise as "red", which flatters erasure
  methods that merely destroy the image, so invalid samples are counted and reported apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from torch import Tensor

from ..pixels import to_uint8
from .data import COLOURS, TEXTURES, Item, mask_bank, placements, render, shape_mask, texture_image

SATURATION_MIN = 60.0  # max-min over RGB; the backgrounds are grey (0), palette colours ≥ 175
MIN_OBJECT_PIXELS = 12
VALID_IOU = 0.5
VALID_COLOUR_DIST = 70.0  # RGB distance of the median object colour to its palette colour
VALID_RECON_ERR = 22.0  # mean |sample − re-rendered prediction| in 0..255 units


@dataclass(frozen=True)
class Prediction:
    """What the classifier reads from one image."""

    colour: str | None
    shape: str | None
    texture: str
    valid: bool
    iou: float
    colour_dist: float
    recon_err: float


@lru_cache(maxsize=1)
def _palette() -> tuple[list[str], np.ndarray]:
    names = list(COLOURS)
    return names, np.array([COLOURS[n] for n in names], np.float32)


def _dilate(mask: np.ndarray) -> np.ndarray:
    """3×3 binary dilation: the pixels around the object edge are not trusted for texture."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def classify_uint8(images: np.ndarray) -> list[Prediction]:
    """Classify NHWC uint8 images."""
    imgs = images.astype(np.float32)
    n = imgs.shape[0]
    sat = imgs.max(axis=3) - imgs.min(axis=3)
    obj = sat > SATURATION_MIN  # [N, H, W]
    bank, keys = mask_bank(tuple(placements()))
    flat = obj.reshape(n, -1).astype(np.float32)
    inter = flat @ bank.T
    union = flat.sum(1, keepdims=True) + bank.sum(1)[None] - inter
    iou = inter / np.maximum(union, 1.0)
    best = iou.argmax(1)
    names, palette = _palette()
    textures = {t: texture_image(t) for t in TEXTURES}
    out = []
    for i in range(n):
        shape, size, row, col = keys[best[i]]
        best_iou = float(iou[i, best[i]])
        count = int(obj[i].sum())
        if count >= MIN_OBJECT_PIXELS:
            median = np.median(imgs[i][obj[i]], axis=0)
            dists = np.linalg.norm(palette - median[None], axis=1)
            colour, colour_dist = names[int(dists.argmin())], float(dists.min())
        else:
            colour, colour_dist, shape, best_iou = None, float("inf"), None, 0.0
        # Texture: compare the grey level outside the (dilated) object with each pattern.
        fit_mask = shape_mask(shape, size, row, col) if shape else obj[i]
        outside = ~_dilate(fit_mask | obj[i])
        grey = imgs[i].mean(axis=2)
        if outside.any():
            errs = {t: float(np.abs(grey[outside] - pat[outside]).mean()) for t, pat in textures.items()}
        else:  # the whole frame is "object": no background to read
            errs = {t: float("inf") for t in textures}
        texture = min(errs, key=errs.get)
        if colour is not None and shape is not None:
            redraw = render(Item(colour, shape, texture, size, row, col)).astype(np.float32)
            recon_err = float(np.abs(redraw - imgs[i]).mean())
        else:
            recon_err = float("inf")
        valid = (best_iou >= VALID_IOU and colour_dist <= VALID_COLOUR_DIST
                 and recon_err <= VALID_RECON_ERR)
        out.append(Prediction(colour, shape, texture, valid, best_iou, colour_dist, recon_err))
    return out


def classify(x: Tensor) -> list[Prediction]:
    """Classify NCHW images in the model's [-1, 1] pixel space."""
    return classify_uint8(to_uint8(x))

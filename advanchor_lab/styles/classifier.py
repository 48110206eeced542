"""An exact, hand-written classifier for the style world: content, every attribute, validity.

Every factor is a rendering rule (`data.py`), so it is read back from pixels directly:
- background and tint: the frame's outer ring (60 pixels the shape and its outline never reach),
  median RGB, nearest of the 2 × 3 background colours;
- each pixel is labelled with the nearest of {that background, outline white, ink, the 5 shape
  colours}; the object is its ink and colour pixels;
- shape and placement: best IoU of the object against every shape mask the world draws;
- colour: median RGB of the object's colour pixels, nearest palette colour;
- pattern: the ink inside the fitted shape against each pattern (fewest mismatched pixels);
- outline: white on more than half of the fitted shape's ring;
- validity: the object must be recognisable (IoU, palette and background distances) and the
  image re-rendered from the prediction close to the sample. Invalid samples are counted apart:
  destroying an image is not erasing a style.
The style is read off the predicted look (`Prediction.style`; None for a look no style names).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from torch import Tensor

from ..pixels import SIZE, to_uint8
from ..shapes.data import mask_bank
from . import data
from .data import (BACKGROUNDS, COLOURS, INK_RGB, OUTLINE_RGB, PATTERNS, TINTS, Item, Look,
                   pattern_mask, render, ring)

MIN_OBJECT_PIXELS = 12
VALID_IOU = 0.5
VALID_COLOUR_DIST = 70.0  # RGB distance of the object's median colour to its palette colour
VALID_BACKGROUND_DIST = 30.0  # RGB distance of the frame's median to its background colour
VALID_RECON_ERR = 25.0  # mean |sample − re-rendered prediction| in 0..255 units
OUTLINE_SHARE = 0.5  # share of the ring that must be white


@dataclass(frozen=True)
class Prediction:
    """What the classifier reads from one image."""

    colour: str | None
    shape: str | None
    background: str
    outline: bool
    tint: str
    pattern: str
    valid: bool
    iou: float
    colour_dist: float
    background_dist: float
    recon_err: float

    @property
    def look(self) -> Look:
        return Look(self.outline, self.tint, self.pattern)

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.look.attributes

    @property
    def style(self) -> str | None:
        """The style whose look this is (None: plain or an unnamed look)."""
        return data.STYLE_OF.get(self.look)

    def has(self, attribute: str) -> bool:
        return attribute in self.attributes


@lru_cache(maxsize=1)
def _backgrounds() -> tuple[list[tuple[str, str]], np.ndarray]:
    keys = [(bg, tint) for bg in BACKGROUNDS for tint in TINTS]
    return keys, np.stack([data.background_rgb(bg, tint) for bg, tint in keys]).astype(np.float32)


def _frame_ring() -> np.ndarray:
    edge = np.zeros((SIZE, SIZE), bool)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    return edge


BG, WHITE, INK = 0, 1, 2  # pixel labels; 3 + k is the k-th palette colour


def classify_uint8(images: np.ndarray) -> list[Prediction]:
    """Classify NHWC uint8 images."""
    imgs = images.astype(np.float32)
    n = imgs.shape[0]
    bg_keys, bg_table = _backgrounds()
    edge = _frame_ring()
    frame = np.median(imgs[:, edge], axis=1)  # [N, 3]
    bg_d = np.linalg.norm(frame[:, None] - bg_table[None], axis=2)
    bg_idx = bg_d.argmin(1)
    names = list(COLOURS)
    palette = np.array([COLOURS[c] for c in names], np.float32)
    fixed = np.array([OUTLINE_RGB, INK_RGB], np.float32)
    flat_bank, keys = mask_bank(tuple(data.placements()))
    bank_area = flat_bank.sum(1)
    out = []
    for i in range(n):
        background, tint = bg_keys[bg_idx[i]]
        cands = np.concatenate([bg_table[bg_idx[i]][None], fixed, palette])  # [3 + 5, 3]
        label = np.linalg.norm(imgs[i][:, :, None] - cands[None, None], axis=3).argmin(2)
        obj = (label >= INK) & ~edge
        flat = obj.ravel().astype(np.float32)
        inter = flat_bank @ flat
        iou = inter / np.maximum(flat.sum() + bank_area - inter, 1.0)
        best = int(iou.argmax())
        colour_px = obj & (label > INK)
        colour, shape, size_rc, best_iou, colour_dist = None, None, None, 0.0, float("inf")
        if obj.sum() >= MIN_OBJECT_PIXELS and colour_px.any():
            median = np.median(imgs[i][colour_px], axis=0)
            dists = np.linalg.norm(palette - median[None], axis=1)
            colour, colour_dist = names[int(dists.argmin())], float(dists.min())
            shape, *size_rc = keys[best]
            best_iou = float(iou[best])
        if shape is not None:
            mask = flat_bank[best].reshape(SIZE, SIZE) > 0.5
            ink = label[mask] == INK
            mismatch = {p: int((ink != pattern_mask(p)[mask]).sum()) for p in PATTERNS}
            pattern = min(mismatch, key=mismatch.get)
            outline = bool((label[ring(mask)] == WHITE).mean() > OUTLINE_SHARE)
            item = Item(colour, shape, background, Look(outline, tint, pattern), *size_rc)
            recon_err = float(np.abs(render(item).astype(np.float32) - imgs[i]).mean())
        else:
            pattern, outline, recon_err = "none", False, float("inf")
        valid = (best_iou >= VALID_IOU and colour_dist <= VALID_COLOUR_DIST
                 and float(bg_d[i, bg_idx[i]]) <= VALID_BACKGROUND_DIST
                 and recon_err <= VALID_RECON_ERR)
        out.append(Prediction(colour, shape, background, outline, tint, pattern, valid, best_iou,
                              colour_dist, float(bg_d[i, bg_idx[i]]), recon_err))
    return out


def classify(x: Tensor) -> list[Prediction]:
    """Classify NCHW images in the model's [-1, 1] pixel space."""
    return classify_uint8(to_uint8(x))


def truth(item: Item) -> tuple:
    """The factors a correct prediction of `item` reads (compare with `factors`)."""
    lk = item.look
    return (item.colour, item.shape, item.background, lk.outline, lk.tint, lk.pattern)


def factors(p: Prediction) -> tuple:
    return (p.colour, p.shape, p.background, p.outline, p.tint, p.pattern)

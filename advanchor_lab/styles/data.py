"""The style world's images: 16×16 shapes whose *look* is a compound style.

Why this world: in the shapes world every concept is one factor, so a fixed superclass anchor
is ideal by construction. Here a concept is a named style that draws several defining
attributes together, like a painter's palette + brushwork or nudity's exposed parts:

- content (must survive an erasure): shape (circle/square/triangle), colour (5), background
  (black or grey), and the placement;
- a look, three independent attributes: an **outline** (a white ring just outside the shape),
  a **tint** (a warm or cool colour cast over the background) and a **pattern** of dark ink
  inside the shape, drawn in cells of 2 px or more (2-px stripes, 2×2 dots on a 4-px grid or a
  4×4 checkerboard). All 2 × 3 × 4 = 24 looks are drawn;
- eight **styles**, nonsense words that each name one look of 2–3 attributes; styles share
  attributes with their neighbours (zorbic = outline + stripes; plimm = outline + cool tint;
  vesk = cool tint + stripes; ...). The other 15 non-plain looks have no name: they are
  reachable only through attribute prompts (`captions.py` has every prompt).

Which styles a study may tune on (`TUNING_STYLES`), which only serve as neighbours while tuning
(`NEIGHBOUR_STYLES`) and which no tuning may touch (`HELDOUT_STYLES`, reported apart) is fixed
here so that every session splits them the same way.

Everything is deterministic: the image set is enumerated, and the item sampler takes an
explicit numpy Generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from ..pixels import SIZE
from ..shapes.data import COLOURS, SHAPES, shape_mask

MARGIN = 2  # the outline ring needs one pixel outside the shape; the frame's edge is always background
SHAPE_SIZES = (8, 9, 10)

BACKGROUNDS: dict[str, int] = {"black": 55, "grey": 140}  # grey level of each background
TINTS: dict[str, tuple[int, int, int]] = {  # colour cast added to the background
    "none": (0, 0, 0),
    "warm": (45, 10, -40),
    "cool": (-35, 5, 45),
}
PATTERNS = ("none", "stripes", "dots", "checks")
OUTLINE_RGB = (250, 250, 250)
INK_RGB = (10, 10, 10)  # the pattern's dark pixels

# Attribute names, one per drawable attribute value, and the look part each belongs to.
ATTRIBUTES = ("outline", "warm", "cool", "stripes", "dots", "checks")
ATTRIBUTE_KIND = {"outline": "outline", "warm": "tint", "cool": "tint",
                  "stripes": "pattern", "dots": "pattern", "checks": "pattern"}


@dataclass(frozen=True)
class Look:
    """The style-bearing part of an image: outline, tint, pattern."""

    outline: bool = False
    tint: str = "none"
    pattern: str = "none"

    def __post_init__(self) -> None:
        if self.tint not in TINTS or self.pattern not in PATTERNS:
            raise ValueError(f"unknown look {self}: tint in {tuple(TINTS)}, pattern in {PATTERNS}")

    @property
    def attributes(self) -> tuple[str, ...]:
        """Its attribute names in canonical order (outline, tint, pattern); () when plain."""
        out = ("outline",) if self.outline else ()
        out += (self.tint,) if self.tint != "none" else ()
        return out + ((self.pattern,) if self.pattern != "none" else ())

    @classmethod
    def of(cls, *attributes: str) -> "Look":
        """The look with exactly these attributes ("outline", "warm", "dots", ...)."""
        kinds = [ATTRIBUTE_KIND[a] for a in attributes]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"{attributes}: at most one tint and one pattern")
        tint = next((a for a in attributes if ATTRIBUTE_KIND[a] == "tint"), "none")
        pattern = next((a for a in attributes if ATTRIBUTE_KIND[a] == "pattern"), "none")
        return cls("outline" in attributes, tint, pattern)


PLAIN = Look()
LOOKS: tuple[Look, ...] = tuple(Look(o, t, p) for o in (False, True) for t in TINTS for p in PATTERNS)

# The eight styles. Each names one look of two or three attributes; every attribute is shared
# by two to four styles, so each style has neighbours that share one attribute (and quold's
# look is drane's minus the outline).
STYLES: dict[str, Look] = {
    "zorbic": Look.of("outline", "stripes"),
    "plimm": Look.of("outline", "cool"),
    "vesk": Look.of("cool", "stripes"),
    "quold": Look.of("warm", "dots"),
    "drane": Look.of("outline", "warm", "dots"),
    "fennic": Look.of("outline", "checks"),
    "taglo": Look.of("cool", "checks"),
    "brisp": Look.of("warm", "stripes"),
}
STYLE_OF: dict[Look, str] = {look: name for name, look in STYLES.items()}
# A study of erasure methods tunes its settings on TUNING_STYLES only (erasing them, and
# checking preservation on NEIGHBOUR_STYLES); HELDOUT_STYLES are neither erased nor measured
# while tuning, and their results are reported apart.
TUNING_STYLES = ("zorbic", "quold")
NEIGHBOUR_STYLES = ("plimm", "vesk", "drane")
HELDOUT_STYLES = ("fennic", "taglo", "brisp")

# Which looks training images have: named styles 64% (8% each), plain 12%, the 15 unnamed
# looks 24% (1.6% each).
P_NAMED, P_PLAIN = 0.64, 0.12


@dataclass(frozen=True)
class Item:
    """One image's factors."""

    colour: str
    shape: str
    background: str
    look: Look
    size: int
    row: int
    col: int

    @property
    def style(self) -> str | None:
        return STYLE_OF.get(self.look)


def placements() -> list[tuple[int, int, int]]:
    """Every (size, row, col) with a 2-px margin: 25 + 16 + 9 = 50."""
    out = []
    for size in SHAPE_SIZES:
        span = SIZE - 2 * MARGIN - size + 1
        out += [(size, MARGIN + r, MARGIN + c) for r in range(span) for c in range(span)]
    return out


def dilate(mask: np.ndarray) -> np.ndarray:
    """3×3 (8-neighbour) binary dilation."""
    p = np.pad(mask, 1)
    out = np.zeros_like(mask)
    for dr in range(3):
        for dc in range(3):
            out |= p[dr:dr + mask.shape[0], dc:dc + mask.shape[1]]
    return out


def ring(mask: np.ndarray) -> np.ndarray:
    """The outline's pixels: the 8-neighbours of a shape that are not in it."""
    return dilate(mask) & ~mask


@lru_cache(maxsize=None)
def pattern_mask(pattern: str) -> np.ndarray:
    """Where a pattern puts ink, over the whole frame (fixed phase; the shape cuts it out)."""
    rr, cc = np.mgrid[0:SIZE, 0:SIZE]
    if pattern == "none":
        return np.zeros((SIZE, SIZE), bool)
    # Every pattern is drawn in cells of 2 px or more so that it is coarse enough to be decided
    # at high noise (1-px stripes and dots are drawn faint or left out).
    if pattern == "stripes":  # 2-px horizontal bands of ink, every other 2-px band (period 4)
        return rr % 4 >= 2
    if pattern == "dots":  # 2×2 dots on a 4-px grid, in the bands the stripes skip
        return (rr % 4 < 2) & (cc % 4 < 2)
    if pattern == "checks":  # 4×4 checkerboard: a 2×2 one on the dots' grid is drawn as dots
        return (rr // 4 + cc // 4) % 2 == 1
    raise ValueError(f"unknown pattern {pattern!r}; use one of {PATTERNS}")


def background_rgb(background: str, tint: str = "none") -> np.ndarray:
    level = BACKGROUNDS[background]
    return np.clip(np.array(TINTS[tint], np.float64) + level, 0, 255)


def render(item: Item) -> np.ndarray:
    """HWC uint8 image of one item."""
    img = np.empty((SIZE, SIZE, 3), np.float64)
    img[:] = background_rgb(item.background, item.look.tint)
    mask = shape_mask(item.shape, item.size, item.row, item.col)
    if item.look.outline:
        img[ring(mask)] = OUTLINE_RGB
    img[mask] = COLOURS[item.colour]
    img[mask & pattern_mask(item.look.pattern)] = INK_RGB
    return img.astype(np.uint8)


def all_items() -> list[Item]:
    """The whole world: 24 looks × 5 colours × 3 shapes × 2 backgrounds × 50 placements = 36,000."""
    return [Item(colour, shape, bg, look, s, r, c)
            for look in LOOKS for colour in COLOURS for shape in SHAPES for bg in BACKGROUNDS
            for (s, r, c) in placements()]


@lru_cache(maxsize=1)
def dataset() -> tuple[Tensor, tuple[Item, ...]]:
    """All 36,000 images as NCHW uint8 (28 MB; `as_model_input` makes [-1, 1] batches) and
    their items, in the same order."""
    items = tuple(all_items())
    images = np.stack([render(it) for it in items])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), items


def as_model_input(images_uint8: Tensor) -> Tensor:
    """NCHW uint8 → float in [-1, 1]."""
    return images_uint8.float() / 127.5 - 1.0


def look_weights() -> np.ndarray:
    """Probability of each look of `LOOKS` among training images."""
    unnamed = [lk for lk in LOOKS if lk != PLAIN and lk not in STYLE_OF]
    w = np.array([P_NAMED / len(STYLES) if lk in STYLE_OF else
                  P_PLAIN if lk == PLAIN else (1 - P_NAMED - P_PLAIN) / len(unnamed) for lk in LOOKS])
    return w / w.sum()


def sample_items(n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into `dataset()` of n training images: a look by `look_weights`, the rest uniform."""
    per_look = len(COLOURS) * len(SHAPES) * len(BACKGROUNDS) * len(placements())
    looks = rng.choice(len(LOOKS), size=n, p=look_weights())
    return looks * per_look + rng.integers(per_look, size=n)

"""The shapes world: 16×16 coloured shapes on textured backgrounds, with captions.

Why procedural: erasure can only be *measured* where every concept of the world is known exactly
(`classifier.py` reads it back from pixels). Every image is drawn from three independent
factors — colour, shape, texture — so one concept can be erased and the others checked.

Everything here is deterministic: the full image set is enumerated (no randomness), and the
caption sampler takes an explicit numpy Generator.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
from torch import Tensor

from ..pixels import SIZE, to_tensor

SHAPE_SIZES = (8, 9, 10)
MARGIN = 1

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (40, 200, 60),
    "blue": (45, 90, 235),
    "yellow": (230, 215, 40),
    "purple": (165, 50, 210),
}
SHAPES = ("circle", "square", "triangle")
TEXTURES = ("plain", "striped", "dotted")
# The caption phrase for each texture ("a red circle on stripes").
TEXTURE_PHRASES = {"plain": "on plain", "striped": "on stripes", "dotted": "on dots"}
# The word that stands in for any shape: captions use it 15% of the time so that "a shape" is a
# meaningful superclass prompt for colour, shape and texture concepts alike.
SHAPE_SUPERCLASS = "shape"

# Red synonyms. Trained ones appear in training captions in place of "red" (MiniLM does not put
# them near "red": without training they would not be drawn red at all); held-out ones never
# appear in training and measure how far an erasure generalises to unseen phrasings.
TRAINED_SYNONYMS: dict[str, tuple[str, ...]] = {"red": ("crimson", "scarlet")}
HELDOUT_SYNONYMS: dict[str, tuple[str, ...]] = {"red": ("ruby", "cherry-red")}
SYNONYM_RATE = 0.3  # share of red captions that use a trained synonym instead of "red"

# Caption dropout: colour word 20%, texture phrase 30%, empty caption 10%.
P_DROP_COLOUR = 0.2
P_DROP_TEXTURE = 0.3
P_EMPTY = 0.1
P_SHAPE_SUPERCLASS = 0.15

BACKGROUND = 22  # dark grey level of the plain background
STRIPE = 75  # light stripe / dot level


@dataclass(frozen=True)
class Item:
    """One image's factors."""

    colour: str
    shape: str
    texture: str
    size: int
    row: int
    col: int


def shape_mask(shape: str, size: int, row: int, col: int) -> np.ndarray:
    """Binary 16×16 mask of a shape inside the box [row,row+size) × [col,col+size)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    if shape == "square":
        # One pixel inset keeps squares and circles of the same box clearly apart in area.
        local = np.zeros((size, size), bool)
        local[1:-1, 1:-1] = True
    elif shape == "circle":
        r = size / 2
        local = (yy - r) ** 2 + (xx - r) ** 2 <= r * r
    elif shape == "triangle":
        # Upright isosceles triangle: apex at the top centre, base along the bottom row.
        half_width = xx - size / 2
        local = np.abs(half_width) <= yy / 2
    else:
        raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    mask = np.zeros((SIZE, SIZE), bool)
    mask[row:row + size, col:col + size] = local
    return mask


@lru_cache(maxsize=None)
def texture_image(texture: str) -> np.ndarray:
    """The 16×16 background pattern (grey levels 0..255) of a texture, fixed phase."""
    img = np.full((SIZE, SIZE), BACKGROUND, np.float64)
    if texture == "striped":
        rows = (np.arange(SIZE) // 2) % 2 == 0
        img[rows, :] = STRIPE
    elif texture == "dotted":
        img[1::4, 1::4] = STRIPE
        img[3::4, 3::4] = STRIPE
    elif texture != "plain":
        raise ValueError(f"unknown texture {texture!r}; use one of {TEXTURES}")
    return img


def placements() -> list[tuple[int, int, int]]:
    """Every (size, row, col) that keeps a 1-px margin: 49 + 36 + 25 = 110."""
    out = []
    for size in SHAPE_SIZES:
        span = SIZE - 2 * MARGIN - size + 1
        for r in range(span):
            for c in range(span):
                out.append((size, MARGIN + r, MARGIN + c))
    return out


@lru_cache(maxsize=4)
def mask_bank(boxes: tuple[tuple[int, int, int], ...]) -> tuple[np.ndarray, list[tuple[str, int, int, int]]]:
    """[M, 256] float masks of every shape in every (size, row, col) box, with their (shape,
    size, row, col): what both worlds' classifiers match a drawn object against."""
    keys = [(shape, size, row, col) for shape in SHAPES for size, row, col in boxes]
    masks = [shape_mask(*key).ravel() for key in keys]
    return np.stack(masks).astype(np.float32), keys


def render(item: Item) -> np.ndarray:
    """HWC uint8 image of one item."""
    bg = texture_image(item.texture)
    img = np.repeat(bg[:, :, None], 3, axis=2)
    mask = shape_mask(item.shape, item.size, item.row, item.col)
    img[mask] = COLOURS[item.colour]
    return img.astype(np.uint8)


def all_items() -> list[Item]:
    """The whole world: 5 colours × 3 shapes × 3 textures × 110 placements = 4,950 items."""
    return [Item(colour, shape, texture, s, r, c)
            for colour in COLOURS for shape in SHAPES for texture in TEXTURES
            for (s, r, c) in placements()]


@lru_cache(maxsize=1)
def dataset() -> tuple[Tensor, tuple[Item, ...]]:
    """All 4,950 images as a [-1, 1] tensor, and their items (same order)."""
    items = tuple(all_items())
    images = np.stack([render(it) for it in items])
    return to_tensor(images), items


def caption(colour: str | None, shape: str | None, texture: str | None) -> str:
    """"a red circle on stripes"; any factor may be None (dropped). shape None → "shape"."""
    words = ["a"]
    if colour:
        words.append(colour)
    words.append(shape or SHAPE_SUPERCLASS)
    if texture:
        words.append(TEXTURE_PHRASES[texture])
    return " ".join(words)


def sample_caption(item: Item, rng: np.random.Generator) -> str:
    """A training caption for an item, with the dropout and synonym rules above."""
    if rng.random() < P_EMPTY:
        return ""
    colour: str | None = item.colour
    if rng.random() < P_DROP_COLOUR:
        colour = None
    elif colour in TRAINED_SYNONYMS and rng.random() < SYNONYM_RATE:
        options = TRAINED_SYNONYMS[colour]
        colour = options[int(rng.integers(len(options)))]
    texture: str | None = item.texture
    if rng.random() < P_DROP_TEXTURE:
        texture = None
    shape: str | None = item.shape if rng.random() >= P_SHAPE_SUPERCLASS else None
    return caption(colour, shape, texture)


def training_captions() -> list[str]:
    """Every caption the sampler can emit (encoded once and cached by the trainer)."""
    colours: list[str | None] = [None]
    for name in COLOURS:
        colours.append(name)
        colours.extend(TRAINED_SYNONYMS.get(name, ()))
    out = {""}
    for colour in colours:
        for shape in (*SHAPES, None):
            for texture in (*TEXTURES, None):
                out.add(caption(colour, shape, texture))
    return sorted(out)


def sample_captions(items: Sequence[Item], rng: np.random.Generator) -> list[str]:
    return [sample_caption(it, rng) for it in items]

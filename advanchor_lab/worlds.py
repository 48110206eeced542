"""The lab's two worlds by name: what `--world` takes, and which world a concept belongs to."""
from __future__ import annotations

from .shapes.world import SHAPES_WORLD
from .styles.world import STYLES_WORLD
from .world import LabTarget, WorldSpec

WORLDS: dict[str, WorldSpec] = {w.name: w for w in (SHAPES_WORLD, STYLES_WORLD)}


def find_concept(name: str) -> tuple[WorldSpec, LabTarget]:
    """The world that has a concept of this name, and the concept; ValueError naming what each
    world takes when none has it."""
    errors = []
    for world in WORLDS.values():
        try:
            return world, world.concept(name)
        except ValueError as err:
            errors.append(str(err))
    raise ValueError("; or ".join(errors))

"""How the lab evaluates, for either world: a trained model's accuracy, and an erasure against the
original at identical seeds.

    python -m advanchor_lab.evaluate --world styles --samples 64

prints the model's accuracy on its world's concepts (the check `train` runs after training).
`measure_erasure` is the one path from a concept to its before/after comparison that the demo
and the benchmark share: the world measures its original, the erasure runs at the lab's matched
budget, the world compares.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from advanchor_core.robust import RobustConfig
from advanchor_core.unlearn import UnlearnConfig

from .erase import LabErasure, erase
from .world import LabTarget, World, WorldSpec, load_world
from .worlds import WORLDS


@dataclass
class Measured:
    """One erasure of a concept and its comparison with the original (the world's type)."""

    run: LabErasure
    comparison: Any


def measure_erasure(spec: WorldSpec, world: World, plan: Any, original: Any, method: str,
                    seed: int, target: LabTarget | None = None, config: UnlearnConfig | None = None,
                    retain: bool = False, robust: RobustConfig | None = None) -> Measured:
    """Erase `target` (the plan's concept unless given: e.g. the same style with another
    superclass) with a lab method and compare the erased model with `original` on `plan`."""
    run = erase(world, target or plan.concept, method, seed=seed, config=config, retain=retain,
                robust=robust)
    return Measured(run, spec.compare(world, plan, original, seed, run.delta, run.seconds))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=list(WORLDS), required=True)
    parser.add_argument("--samples", type=int, help="samples per prompt (default: the world's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", type=Path, help="default: the world's committed model")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = WORLDS[args.world]
    print(spec.check(load_world(spec, args.weights), args.samples or spec.check_samples, args.seed))


if __name__ == "__main__":
    main()

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

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
    earlier: list[Measured] = field(default_factory=list)  # the same run at `keep_after`'s budgets


def measure_erasure(spec: WorldSpec, world: World, plan: Any, original: Any, method: str,
                    seed: int, target: LabTarget | None = None, config: UnlearnConfig | None = None,
                    retain: bool = False, robust: RobustConfig | None = None,
                    keep_after: Sequence[int] = ()) -> Measured:
    """Erase `target` (the plan's concept unless given: e.g. the same style with another
    superclass) with a lab method and compare the erased model with `original` on `plan`;
    with `keep_after`, the same run is compared after each of those update counts too
    (`Measured.earlier`)."""
    run = erase(world, target or plan.concept, method, seed=seed, config=config, retain=retain,
                robust=robust, keep_after=keep_after)

    def compare(r: LabErasure) -> Any:
        return spec.compare(world, plan, original, seed, r.delta, r.seconds)

    stages = [replace(run, delta=delta, reached={"update": n, "moved": None}, kept={})
              for n, delta in sorted(run.kept.items())]
    return Measured(run, compare(run), [Measured(r, compare(r)) for r in stages])


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

"""Unlearning: align the concept's prediction with a target, preserve the rest.

    L(θ) = ‖ε_θ(x_t, c_u) − target‖² + λ · mean_{c ∈ superclass ∪ retain} ‖ε_θ(x_t, c) − ε*(x_t, c)‖²

with target ε*(x_t, anchor) (adversarial or fixed text anchor) or ESD's negative guidance
ε*(∅) − η(ε*(c_u) − ε*(∅)) (Gandikota et al. 2023, η = 1 by default). θ is an additive delta
over the selected weights; ε* is the same model with the delta off.

Efficiency by construction: everything frozen that an update needs (concept and attribute
targets, superclass, retain, ESD terms) does not depend on δ, so it is computed in one batched
pass per update; when that batch is small the first anchor evaluation rides along in it, and
the anchor's last evaluation is reused as the θ target.

One module per idea:
- `config`: the settings (`UnlearnConfig`) and the authors' preset (`reference_config`).
- `methods`: the methods as one table — what each needs frozen, its target, whether it
  searches an anchor.
- `frozen`, `anchor_side`, `weight_step`: the three sides of an update; `run` puts them
  together once per run.
- `schedules`: how δ refinement and weight updates interleave over the draws, and how
  several concepts take turns on one delta.
- `search`: where δ starts, and the δ search alone (`search_anchor`).
- `effect`: the anchor's effect size r, the same on every model.
- `stopping`: how far each concept went (read on held-out draws), and the rule that stops it.
- `loop`: `unlearn`, from settings to an erasure.
"""
from ..progress import StepReport
from .config import SCHEDULES, UnlearnConfig, reference_config
from .loop import UnlearnResult, unlearn
from .methods import METHODS
from .search import MAP_PROBES, search_anchor

__all__ = ["MAP_PROBES", "METHODS", "SCHEDULES", "StepReport", "UnlearnConfig", "UnlearnResult",
           "reference_config", "search_anchor", "unlearn"]

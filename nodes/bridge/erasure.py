"""An erasure (UNet-relative names) → ModelPatcher patches on a clone of the MODEL, and its
metadata on the clone's `model_options["advanchor"]`.

Why patches: ComfyUI applies them when it loads the clone, in float32, and rounds once to the
stored dtype (stochastically for fp8), so the input MODEL and its other clones never see them.
Why the metadata travels with the clone: Save Erased Checkpoint writes the list of every
erasure a MODEL carries into the checkpoint it saves.
"""
from __future__ import annotations

from typing import Mapping

from torch import Tensor

from ...advanchor_core.delta_files import check_compatible
from ...advanchor_core.erasure import Erasure
from ...advanchor_core.errors import AdvAnchorError
from .denoiser import DIFFUSION_PREFIX

METADATA_KEY = "advanchor"  # the key of the erasure list in a MODEL's model_options


def patch_keys(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {DIFFUSION_PREFIX + k: v for k, v in tensors.items()}


def with_erasure(patcher, erasure: Erasure, strength: float = 1.0):
    """A clone of `patcher` carrying `erasure`'s tensors as additive patches (kept in their own
    dtype) and its metadata appended to the erasures the MODEL already carries."""
    out = patcher.clone()
    offload = patcher.offload_device
    patches = {k: (v.detach().to(offload),) for k, v in patch_keys(erasure.tensors).items()}
    added = out.add_patches(patches, strength)
    if len(added) != len(patches):
        missing = sorted(set(patches) - set(added))
        raise AdvAnchorError(f"{len(missing)} erasure tensors do not exist in this MODEL "
                             f"(first: {missing[0]!r}): apply the erasure to the model it was "
                             "made from")
    out.model_options.setdefault(METADATA_KEY, []).append(dict(erasure.metadata))
    return out


def carried_erasures(patcher) -> list[dict[str, str]]:
    """The metadata of every erasure `patcher` carries, oldest first."""
    return patcher.model_options.get(METADATA_KEY, [])


def check_erasure_fits(patcher, tensors: Mapping[str, Tensor]) -> None:
    """Raise, saying what to change, unless every tensor matches a UNet weight's name and shape."""
    check_compatible(tensors, dict(patcher.model.diffusion_model.named_parameters()))

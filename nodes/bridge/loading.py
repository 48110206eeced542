"""MODEL → a private clone that ComfyUI holds whole on its device, with weights autograd can use.

Why a clone: the erasure's weight functions go on a clone of the MODEL (`denoiser.py`), so the
input MODEL and its other clones never see them.

Why a dynamic MODEL trains through a non-dynamic twin: with dynamic VRAM (on by default on
NVIDIA GPUs since ComfyUI 0.16) ComfyUI streams each weight into a shared VRAM cache for the one
operation that uses it and may evict it once that operation is done, while a backward pass reads
the weights again long after its forward pass. ComfyUI's own way out where dynamic loading cannot
serve a feature (its sampler does it for hooks) is `clone(disable_dynamic=True)`: the MODEL's
loader runs again on the same file and the clone keeps the MODEL's patches, so the twin computes
what the MODEL computes — as ComfyUI's trainer, whose clone (`force_deepcopy`) also loads the file
again. The cost is one more copy of the weights in RAM while the node runs: the log says so once.

Why weights are re-made: ComfyUI builds and loads models under `torch.inference_mode()`, and
autograd cannot save an inference tensor for a backward pass. Loading onto a GPU outside
inference mode moves such a weight by giving its Parameter new data (`Module.to`), which leaves
a tensor that is no longer an inference tensor yet still has no version counter — autograd
refuses it just the same, and only on CUDA, where the data really moves. `load_for_training`
re-makes each such weight as a normal tensor with the same values, one tensor at a time (never
a second copy of the model): what the input MODEL samples with is unchanged.
"""
from __future__ import annotations

import functools
import inspect
import logging

import torch
from torch import Tensor, nn

import comfy.model_management

from ...advanchor_core.errors import AdvAnchorError

Twins = dict  # a dynamic model's id → the model override of its non-dynamic twin (one node run)


def is_dynamic(patcher) -> bool:
    """Whether ComfyUI streams this MODEL's weights with dynamic VRAM (never before ComfyUI 0.12)."""
    return bool(getattr(patcher, "is_dynamic", lambda: False)())


def training_clone(patcher, twins: Twins | None = None):
    """A clone of `patcher` to train through. A dynamic MODEL gets its non-dynamic twin; MODELs
    that share weights (an erased MODEL and its original) share one twin through `twins`."""
    if not is_dynamic(patcher):
        return patcher.clone()
    if "disable_dynamic" not in inspect.signature(patcher.clone).parameters:
        raise AdvAnchorError("this MODEL is loaded with ComfyUI's dynamic VRAM, which this ComfyUI "
                             "version cannot turn off for one model: restart ComfyUI without "
                             "'dynamic_vram' in --fast, or update ComfyUI")
    twins = {} if twins is None else twins
    shared = twins.get(id(patcher.model))
    try:
        twin = patcher.clone(disable_dynamic=True, model_override=shared)
    except RuntimeError as e:
        raise AdvAnchorError("this MODEL is loaded with ComfyUI's dynamic VRAM by a loader that "
                             "cannot load it again without it, which training needs: load it with "
                             "Load Checkpoint or Load Diffusion Model, or start ComfyUI with "
                             "--disable-dynamic-vram") from e
    if shared is None:
        twins[id(patcher.model)] = twin.get_clone_model_override()
        say_once("AdvAnchor: this MODEL is loaded with dynamic VRAM, which streams weights and "
                 "cannot keep them for a backward pass; training uses a non-dynamic copy that "
                 "ComfyUI loads again from the file (one more copy of the model in RAM while "
                 "the node runs)")
    return twin


@functools.cache
def say_once(message: str) -> None:
    logging.info(message)


def load_for_training(patcher) -> None:
    """Load `patcher` whole on ComfyUI's device (its patches applied, as sampling would) and
    make its UNet's weights usable by autograd; raise, saying what to change, where it cannot."""
    with torch.inference_mode(False):
        try:
            comfy.model_management.load_models_gpu([patcher], force_full_load=True)
        except comfy.model_management.OOM_EXCEPTION as e:
            raise AdvAnchorError(
                "the UNet does not fit in GPU memory for training: free memory (unload other "
                "models), load the UNet in fp8 (Load Diffusion Model's weight_dtype), or turn "
                "on gradient_checkpointing and autocast") from e
        if getattr(patcher.model, "model_lowvram", False):
            raise AdvAnchorError(
                "ComfyUI loaded this UNet only partly into GPU memory (--lowvram, --novram or "
                "too little free memory); AdvAnchor trains with the UNet fully loaded: start "
                "ComfyUI without --lowvram/--novram or load the UNet in fp8")
        make_autograd_ready(patcher.model.diffusion_model)


def autograd_can_save(t: Tensor) -> bool:
    """False for inference tensors and for tensors a move outside inference mode left without
    a version counter (see the module docstring)."""
    try:
        t._version  # noqa: B018  (raises for both kinds)
    except RuntimeError:
        return False
    return True


def make_autograd_ready(module: nn.Module) -> None:
    """Re-make every parameter and buffer of `module` that autograd cannot save as a normal,
    frozen tensor with the same values (one at a time). Call inside `torch.inference_mode(False)`."""
    for sub in module.modules():
        for name, p in list(sub._parameters.items()):
            if p is None:
                continue
            if not autograd_can_save(p):
                sub._parameters[name] = nn.Parameter(p.detach().clone(), requires_grad=False)
            elif p.requires_grad:
                p.requires_grad_(False)
        for name, b in list(sub._buffers.items()):
            if b is not None and not autograd_can_save(b):
                sub._buffers[name] = b.detach().clone()

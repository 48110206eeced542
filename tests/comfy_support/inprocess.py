"""Run V3 nodes in process the way ComfyUI's executor does (class clone, hidden inputs,
inference mode), with every widget left out taking its schema default."""
from __future__ import annotations

import torch


def defaults(node_cls) -> dict:
    schema = node_cls.GET_SCHEMA()
    return {i.id: i.default for i in schema.inputs
            if getattr(i, "default", None) is not None and not i.optional}


def run_node(node_cls, node_id: str = "1", **inputs):
    """Execute `node_cls` like execution.py; returns the NodeOutput's result tuple."""
    from comfy_api.internal import make_locked_method_func

    args = defaults(node_cls) | inputs
    node_cls.VALIDATE_CLASS()
    clone = node_cls.PREPARE_CLASS_CLONE({"UNIQUE_ID": node_id})
    fn = make_locked_method_func(node_cls, node_cls.FUNCTION, clone)
    with torch.inference_mode():
        out = fn(**args)
    return out.result if hasattr(out, "result") else out


def unet_state(patcher) -> dict[str, torch.Tensor]:
    """The torch weights a patcher's UNet holds right now (copies)."""
    return {k: v.detach().clone() for k, v in patcher.model.diffusion_model.state_dict().items()}


def effective_unet_state(patcher) -> dict[str, torch.Tensor]:
    """The UNet weights as sampling with `patcher` sees them (its patches applied)."""
    import comfy.model_management as mm

    mm.load_models_gpu([patcher], force_full_load=True)
    return unet_state(patcher)

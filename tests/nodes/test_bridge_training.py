"""How the bridge trains a MODEL: the frozen weights held once (autograd keeps references, not
copies), and a dynamic MODEL refused where that ComfyUI cannot load it whole."""
from __future__ import annotations

import pytest
import torch


def test_a_training_forward_saves_the_frozen_weights_themselves_not_copies(bridge, tiny):
    """One copy of the weights: autograd keeps references to the frozen weights, and the only
    new weight-shaped tensors it saves are the trained layers' w + δ."""
    den = bridge.ComfyDenoiser(tiny["model"]).prepare()
    weights = {k: w for k, w in den.named_weights().items() if w.dim() >= 2}
    storages = {w.untyped_storage().data_ptr() for w in weights.values()}
    trained = [k for k in weights if ".attn2.to_k." in k]
    shapes = {tuple(w.shape) for k, w in weights.items() if k not in trained}
    g = torch.Generator().manual_seed(0)
    x_t, cond = torch.randn((1, 4, 8, 8), generator=g), torch.randn((1, 77, 768), generator=g)
    with bridge.training_mode():
        delta = {k: torch.zeros_like(weights[k], requires_grad=True) for k in trained}
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            loss = den(x_t, torch.tensor([500]), cond, delta).square().mean()
        assert all(g.abs().sum() > 0 for g in torch.autograd.grad(loss, list(delta.values())))
    as_weights = [t for t in saved if t.untyped_storage().data_ptr() in storages]
    copies = [tuple(t.shape) for t in saved if tuple(t.shape) in shapes
              and t.untyped_storage().data_ptr() not in storages]
    assert as_weights and not copies, copies[:3]


def test_a_dynamic_model_on_a_comfyui_that_cannot_turn_it_off_is_refused(pack, errors):
    """ComfyUI 0.12's dynamic VRAM (asked for with --fast dynamic_vram) has no per-model way
    back to plain loading (its clone takes no `disable_dynamic`): the message names that
    version's flag. Newer versions train dynamic MODELs (test_dynamic_vram.py)."""
    from advanchor_pack.nodes.bridge.loading import training_clone

    class Version012Patcher:  # the two methods of ComfyUI 0.12's ModelPatcherDynamic read here
        def is_dynamic(self):
            return True

        def clone(self):
            raise AssertionError("a dynamic MODEL must not be cloned as it is")

    with pytest.raises(errors.AdvAnchorError, match="without 'dynamic_vram' in --fast"):
        training_clone(Version012Patcher())

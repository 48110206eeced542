"""Every training node on a MODEL loaded with dynamic VRAM, as a default ComfyUI install on an
NVIDIA GPU loads it (ComfyUI ≥ 0.16): the real class, made on a CPU (`comfy_support/dynamic.py`).

Measure Erasure is not here: it only samples, through ComfyUI's own KSampler path, which streams
a dynamic MODEL itself (and cannot on a CPU)."""
from __future__ import annotations

import logging

import pytest
import torch
from tests.comfy_support import dynamic
from tests.comfy_support import tiny as models
from tests.comfy_support.inprocess import run_node, unet_state

FAST = dict(method="adversarial", iterations=3, anchor_steps=2, latent_source="noise",
            sample_size=64, lr=1e-3, seed=3)


@pytest.fixture(scope="module", autouse=True)
def needs_dynamic_vram(comfy):
    if dynamic.dynamic_class() is None:
        pytest.skip("this ComfyUI has no dynamic VRAM that can be turned off per model (< 0.16)")


def build():
    return models.tiny_model(0)


@pytest.fixture
def model():
    return dynamic.dynamic_model(build)


def test_unlearn_erases_a_dynamic_model_as_the_same_model_loaded_plainly(n, tiny, concept, model, caplog):
    from advanchor_pack.nodes.bridge import loading

    before = unet_state(model)
    loading.say_once.cache_clear()
    with caplog.at_level(logging.INFO):
        erased, erasure, _ = run_node(n["unlearn"], model=model, clip=tiny["clip"], concept=concept, **FAST)
        run_node(n["unlearn"], model=model, clip=tiny["clip"], concept=concept, **FAST)
    _, plain, _ = run_node(n["unlearn"], model=build(), clip=tiny["clip"], concept=concept, **FAST)
    assert erasure.tensors.keys() == plain.tensors.keys()
    assert all(torch.equal(erasure.tensors[k], plain.tensors[k]) for k in plain.tensors)
    assert erased.is_dynamic() and set(erased.patches) == {"diffusion_model." + k for k in plain.tensors}
    after = unet_state(model)
    assert not model.patches and all(torch.equal(before[k], after[k]) for k in before)
    assert model.cached_patcher_init[0].calls == 2   # the twin is loaded per run, never kept
    said = [r.getMessage() for r in caplog.records if "dynamic VRAM" in r.getMessage()]
    assert len(said) == 1 and "one more copy of the model in RAM" in said[0]


def test_search_anchor_and_sensitivity_accept_a_dynamic_model(pack, n, tiny, concept, model):
    state, cond = run_node(n["anchor"], model=model, clip=tiny["clip"], concept=concept,
                           latent_source="noise", sample_size=64, draws=1, steps=2, seed=1)
    assert torch.isfinite(cond[0][0]).all()
    plots, report, layers = run_node(n["sens"], model=model, clip=tiny["clip"], concept=concept,
                                     sample_size=64, probe_latents=1, top_k=2)
    assert plots.shape[0] == 3 and len(layers.parameters) > 0
    assert model.cached_patcher_init[0].calls == 2


def test_attack_on_dynamic_models_loads_one_twin_for_both(pack, n, tiny, concept, model):
    from advanchor_pack.nodes.attack import AttackErasureNode

    erased = run_node(n["unlearn"], model=model, clip=tiny["clip"], concept=concept, **FAST)[0]
    loader = model.cached_patcher_init[0]
    calls = loader.calls
    cond, report = run_node(AttackErasureNode, erased_model=erased, original_model=model,
                            clip=tiny["clip"], concept=concept, latent_source="noise",
                            sample_size=64, steps=2, lr=0.05, seed=1)
    assert torch.isfinite(cond[0][0]).all() and '"held_out_gap"' in report
    assert loader.calls == calls + 1


def test_a_dynamic_model_its_loader_cannot_reload_is_refused_saying_what_to_do(n, tiny, concept, errors, model):
    model.cached_patcher_init = None
    with pytest.raises(errors.AdvAnchorError, match="--disable-dynamic-vram"):
        run_node(n["unlearn"], model=model, clip=tiny["clip"], concept=concept, **FAST)

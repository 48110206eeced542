"""Concept Sensitivity in process on a tiny SD1.5-layout model: plots, JSON, and a layer
selection that Unlearn honours."""
from __future__ import annotations

import json

import pytest
import torch
from tests.comfy_support.inprocess import effective_unet_state, run_node, unet_state


@pytest.fixture(scope="module")
def inspected(n, tiny, concept):
    # loaded first: the shared torch modules may still hold a clone's patches from earlier tests
    before = effective_unet_state(tiny["model"])
    anchor, _ = run_node(n["anchor"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                         latent_source="noise", sample_size=64, draws=1, steps=2, lr=0.05)
    out = run_node(n["sens"], model=tiny["model"], clip=tiny["clip"], concept=concept, anchor=anchor,
                   candidate_prompts="Monet painting\n\n# a comment\na photo\nMonet painting",
                   sample_size=64, top_k=2, seed=5)
    return dict(before=before, out=out)


def test_returns_three_plots_as_an_image_batch(inspected):
    image, _, _ = inspected["out"]
    assert image.dtype == torch.float32 and image.dim() == 4 and image.shape[0] == 3
    assert image.shape[-1] == 3 and image.shape[1] >= 400 and image.shape[2] >= 600
    assert 0 <= image.min() and image.max() <= 1 and all(im.std() > 0.05 for im in image)


def test_report_is_json_over_the_models_cross_attention(inspected, tiny):
    _, text, _ = inspected["out"]
    report = json.loads(text)
    attn2 = [k for k, _ in tiny["model"].model.diffusion_model.named_modules() if k.endswith("attn2")]
    assert report["layers"]["layers"] == attn2
    names = [p["name"] for p in report["anchor_map"]["points"]]
    assert names == ["concept", "adversarial anchor", "superclass", "empty prompt",
                     "Monet painting", "a photo"]
    assert report["layers"]["primary"] == "adversarial anchor"
    assert report["tokens"]["tokens"][1:3] == ["van", "gogh"]
    assert report["tokens"]["concept_positions"] == [1, 2]
    ranked = sorted(zip(report["layers"]["relative"], attn2), key=lambda r: -r[0][0])
    assert report["selection"]["layers"] == [name for _, name in ranked[:2]]


def test_inspection_leaves_the_model_untouched(inspected, tiny):
    after = unet_state(tiny["model"])
    assert all(torch.equal(inspected["before"][k], after[k]) for k in after)


def test_unlearn_trains_only_the_selected_layers(n, tiny, concept, inspected):
    _, _, layers = inspected["out"]
    _, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                             layers=layers, iterations=2, anchor_steps=1, latent_source="noise",
                             sample_size=64, lr=1e-3, seed=1)
    assert set(erasure.tensors) == set(layers.parameters)
    assert len(layers.layers) == 2 and all(p.split(".attn2.")[0] + ".attn2" in layers.layers
                                           for p in erasure.tensors)


def test_bad_settings_say_what_to_change(n, tiny, concept, errors):
    with pytest.raises(errors.AdvAnchorError, match="top_k"):
        run_node(n["sens"], model=tiny["model"], clip=tiny["clip"], concept=concept, top_k=0,
                 threshold=0.0, sample_size=64)
    with pytest.raises(errors.AdvAnchorError, match="Concept Sensitivity"):
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                 layers="not a selection", iterations=1, latent_source="noise", sample_size=64)


@pytest.fixture(scope="module")
def errors(pack):
    from advanchor_pack.advanchor_core import errors

    return errors


def test_schema_is_documented(n):
    schema = n["sens"].GET_SCHEMA()
    assert schema.category == "AdvAnchor" and schema.description
    assert not [i.id for i in schema.inputs if not i.tooltip]
    assert all(o.tooltip for o in schema.outputs)

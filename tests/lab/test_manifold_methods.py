"""The lab's methods: the on-manifold anchors wired without touching the others, and the
default the product's."""
import inspect

import torch

from advanchor_core.concept import encode_concept
from advanchor_core.defaults import RECOMMENDED
from advanchor_lab.erase import ALL_METHODS, DEFAULT_METHOD, MANIFOLD_METHODS, METHODS, erase
from advanchor_lab.shapes.concept import LabConcept
from advanchor_lab.text import load_encoder


def test_manifold_methods_are_named_apart_from_the_benchmarked_ones():
    assert list(METHODS) == ["adv1", "adv2", "fixed-superclass", "fixed-empty", "esd"]
    assert not set(METHODS) & set(MANIFOLD_METHODS)
    anchors = {k: (c.anchor.loss, c.anchor.space, c.anchor.start) for k, c in MANIFOLD_METHODS.items()}
    assert anchors == {"adv-keep": ("keep", "output", "concept"), "adv-soft": ("keep", "input", "concept"),
                       "adv-map": ("keep", "output", "map")}


def test_the_default_method_is_the_product_s_recommended_one():
    assert DEFAULT_METHOD == RECOMMENDED.method and DEFAULT_METHOD in ALL_METHODS
    assert inspect.signature(erase).parameters["method"].default == DEFAULT_METHOD


def test_candidates_are_the_factor_s_other_values_and_the_synonyms():
    assert LabConcept.parse("red").anchor_candidates() == ("green", "blue", "yellow", "purple",
                                                         "crimson", "scarlet")
    assert LabConcept.parse("stripes").anchor_candidates() == ("plain", "dots")


def test_minilm_takes_soft_prompts_and_an_unperturbed_one_is_the_prompt():
    encoder = load_encoder()
    cc = encode_concept(encoder, LabConcept.parse("red").core_concept())
    assert cc.soft_prompts is encoder
    text = ["a red shape"]
    inputs = encoder.input_embeddings(text).requires_grad_(True)
    out = encoder.encode_embeddings(inputs, text)
    assert torch.allclose(out, encoder.encode(text), atol=1e-5)
    (grad,) = torch.autograd.grad(out.square().sum(), [inputs])
    assert grad[0, cc.anchor_positions].abs().sum() > 0

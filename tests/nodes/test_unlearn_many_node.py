"""Unlearn with more concepts: the CONCEPT and every listed one erased in one run, one erasure."""
from __future__ import annotations

import pytest

from tests.comfy_support.inprocess import assert_untouched, input_state, run_node

from .conftest import ERASE

MORE = "Claude Monet\n# a comment\n\nnudity -> \nVan Gogh"   # the CONCEPT again is not a new one
ESD = ERASE | dict(method="esd", iterations=6)


@pytest.fixture(scope="module")
def many(n, tiny, concept):
    before = input_state(tiny["model"])
    model, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"],
                                 concept=concept, more_concepts=MORE, **ESD)
    return dict(before=before, model=model, erasure=erasure)


def test_one_erasure_names_every_concept_and_the_input_is_untouched(many, tiny):
    assert many["erasure"].concepts == ["Van Gogh", "Claude Monet", "nudity"]
    assert many["model"].model_options["advanchor"][-1]["concepts"] == many["erasure"].metadata["concepts"]
    assert '"superclass": ""' in many["erasure"].metadata["settings"]  # "nudity -> " keeps nothing
    assert_untouched(tiny["model"], many["before"])


def test_the_listed_concepts_are_made_like_the_concept_and_trained(n, tiny, concept, many):
    """Each listed concept has the CONCEPT's templates, its own word and superclass, none of its
    attributes; the run differs from erasing the CONCEPT alone (whether each concept moves is
    the core's test: the tiny CLIP barely tells prompts apart)."""
    import json

    (with_attribute,) = run_node(n["concept"], concept="Van Gogh", attributes="swirls: 0.5")
    _, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"],
                             concept=with_attribute, more_concepts="Claude Monet", **ESD)
    first, monet = json.loads(erasure.metadata["settings"])["concepts"]
    assert (monet["text"], monet["superclass"], monet["attributes"]) == ("Claude Monet", "painting", [])
    assert first["attributes"] == [["swirls", 0.5]]
    assert {k: v for k, v in monet.items() if k.endswith("template")} == \
        {k: v for k, v in first.items() if k.endswith("template")}
    alone = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept, **ESD)[1]
    assert any(not (alone.tensors[k] == many["erasure"].tensors[k]).all() for k in alone.tensors)


@pytest.mark.parametrize("inputs,message", [
    (dict(more_concepts="\n".join(f"concept {i}" for i in range(16))), "17 concepts to erase"),
    (dict(more_concepts="-> painting"), "names no concept"),
    (dict(more_concepts="Monet", robust_every=1), "robust unlearning attacks one concept and 2"),
])
def test_bad_lists_say_what_to_change(n, tiny, concept, errors, inputs, message):
    with pytest.raises(errors.AdvAnchorError, match=message):
        run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept, **(ESD | inputs))


def test_the_log_says_how_far_each_concept_went(n, tiny, concept, caplog):
    import json
    import logging

    with caplog.at_level(logging.INFO):
        _, erasure, _ = run_node(n["unlearn"], model=tiny["model"], clip=tiny["clip"], concept=concept,
                                 more_concepts="Claude Monet", stop_at=0.9, **ESD)
    settings = json.loads(erasure.metadata["settings"])
    assert settings["config"]["stop_at"] == 0.9
    for word, reached in zip(("Van Gogh", "Claude Monet"), settings["reached"]):
        assert (f"'{word}' moved {reached['moved']:.2f} of the way to its target in "
                f"{reached['update']}/{ESD['iterations']} updates") in caplog.text

"""Erase (closed form) in process, on the tiny SD1.5-layout model: several concepts in one solve,
only the text's keys and values change, the input MODEL is untouched, the concepts move and a
preserved prompt does not, the erasure saves and reloads; what it cannot edit is refused."""
from __future__ import annotations

import os

import pytest
import torch

from tests.comfy_support.inprocess import assert_untouched, effective_unet_state, eps, input_state, run_node

CONCEPTS = "Van Gogh -> painting\nPicasso\n# a comment\n\nnudity"
PRESERVE = "a photo of a cat\nMonet"


@pytest.fixture(scope="module")
def closed(n, tiny):
    before = input_state(tiny["model"])
    model, erasure = run_node(n["closed"], model=tiny["model"], clip=tiny["clip"], concepts=CONCEPTS,
                              preserve=PRESERVE)
    return dict(before=before, model=model, erasure=erasure)


def test_it_erases_every_listed_concept_in_one_erasure(closed):
    assert closed["erasure"].concepts == ["Van Gogh", "Picasso", "nudity"]
    assert closed["model"].model_options["advanchor"][-1]["concepts"] == closed["erasure"].metadata["concepts"]


def test_only_cross_attention_keys_and_values_change_and_the_input_is_untouched(closed, tiny):
    assert_untouched(tiny["model"], closed["before"])
    before, after = closed["before"]["weights"], effective_unet_state(closed["model"])
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".attn2.to_k." in k or ".attn2.to_v." in k for k in changed)


@pytest.mark.parametrize("variant", ["uce", "null-space"])
def test_the_concepts_move_and_a_preserved_prompt_stays(n, tiny, variant):
    model, _ = run_node(n["closed"], model=tiny["model"], clip=tiny["clip"], concepts="Van Gogh",
                        default_target="painting", preserve="a photo of a cat", variant=variant)
    clip = tiny["clip"]
    gap = (eps(tiny["model"], clip, "Van Gogh") - eps(tiny["model"], clip, "painting")).norm()
    moved = (eps(model, clip, "Van Gogh") - eps(tiny["model"], clip, "painting")).norm()
    drift = (eps(model, clip, "a photo of a cat") - eps(tiny["model"], clip, "a photo of a cat")).norm()
    assert moved < 0.5 * gap
    assert drift < 0.05 * gap


def test_the_erasure_saves_and_applies_as_the_node_made_it(n, closed, tiny, output_dir):
    (path,) = run_node(n["save"], erasure=closed["erasure"], filename_prefix="tests/closed_form")
    assert os.path.isfile(os.path.join(output_dir, path))
    (applied,) = run_node(n["apply"], model=tiny["model"], erasure_file=os.path.relpath(path, "erasures"),
                          strength=1.0)
    want, got = effective_unet_state(closed["model"]), effective_unet_state(applied)
    assert all(torch.equal(want[k], got[k]) for k in want)


@pytest.mark.parametrize("inputs,message", [
    (dict(concepts="\n# nothing\n"), "no concept to erase"),
    (dict(concepts="-> painting"), "names no concept"),
])
def test_bad_input_says_what_to_change(n, tiny, errors, inputs, message):
    with pytest.raises(errors.AdvAnchorError, match=message):
        run_node(n["closed"], model=tiny["model"], clip=tiny["clip"], **inputs)


@pytest.mark.parametrize("fam", ["flux-dev", "zimage", "qwen-image"])
def test_transformers_are_refused_with_the_reason(n, dit, errors, fam):
    with pytest.raises(errors.AdvAnchorError, match="mix it with the image .*use Unlearn"):
        run_node(n["closed"], model=dit[fam]["model"], clip=dit[fam]["clip"], concepts="Van Gogh")


def test_cancel_stops_between_weights_and_returns_nothing(n, tiny, cancel_after_first_report):
    import comfy.model_management as mm

    with pytest.raises(mm.InterruptProcessingException):
        run_node(n["closed"], model=tiny["model"], clip=tiny["clip"], concepts="Van Gogh")
    assert not mm.processing_interrupted()
    assert cancel_after_first_report == [1]   # the solve reported, no weight was edited


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
def test_sd2_and_sdxl_are_edited_on_their_own_text_width(n, comfy, family):
    """SD2's OpenCLIP-H rows (1024) and SDXL's CLIP-L + CLIP-G rows (2048, its pooled row left
    out) reach every cross-attention key and value, and only those."""
    from tests.comfy_support import tiny as t

    model = t.tiny_family_model(family, 20, prediction="v" if family == "sd2" else "eps")
    before = effective_unet_state(model)
    erased, erasure = run_node(n["closed"], model=model, clip=t.tiny_family_clip(family, 21),
                               concepts="Van Gogh", preserve="a photo of a cat")
    after = effective_unet_state(erased)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    width = {"sd2": 1024, "sdxl": 2048}[family]
    assert changed == {k for k in before if ".attn2.to_k." in k or ".attn2.to_v." in k}
    assert all(t.shape[1] == width for t in erasure.tensors.values())

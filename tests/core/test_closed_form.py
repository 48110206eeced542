"""Closed-form erasure: the edit solves its least-squares problem, keeps what it must keep, reads
the concept as its target, touches only the text's keys and values, and refuses what it cannot do."""
from __future__ import annotations

import pytest
import torch

from advanchor_core.closed_form import (ClosedFormConfig, Target, edit_rows, erase_in_closed_form,
                                        text_weights)
from advanchor_core.denoiser import WithDelta
from advanchor_core.errors import AdvAnchorError

TARGETS = [Target("Van Gogh", "painting")]
PRESERVE = ["a photo of a cat", "Monet"]
WIDE = 256


@pytest.fixture(scope="module")
def wide():
    """A text encoder and UNet wider than the rows an edit constrains, as CLIP-L's 768 are for a
    few prompts, so the concept's rows can be mapped onto its target's exactly."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizerFast

    from advanchor_core.denoiser import TorchDenoiser
    from advanchor_core.schedule import NoiseSchedule
    from advanchor_core.text import HFTextEncoder

    from .tiny_models import clip_tokenizer_dir, tiny_unet

    torch.manual_seed(0)
    model = CLIPTextModel(CLIPTextConfig(hidden_size=WIDE, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=77))
    encoder = HFTextEncoder(model, CLIPTokenizerFast.from_pretrained(clip_tokenizer_dir()), max_length=77)
    return encoder, TorchDenoiser(tiny_unet(context_dim=WIDE), NoiseSchedule.sd_linear())


def stacked_least_squares(w, rows, config):
    """W' from the problem itself, written as one stacked least-squares system (independent of
    the solver's normal equations): rows √s·c with right-hand sides √s·W c*."""
    c, t, p = (x.double() for x in (rows.erase, rows.target, rows.preserve))
    w = w.double()
    se, sp, lam = config.erase_scale ** 0.5, config.preserve_scale ** 0.5, config.regularization ** 0.5
    eye = torch.eye(c.shape[1], dtype=torch.float64)
    a = torch.cat([se * c, sp * p, lam * eye])
    b = torch.cat([se * t @ w.T, sp * p @ w.T, lam * w.T])
    return torch.linalg.lstsq(a, b).solution.T


def test_uce_solves_its_least_squares_problem(encoder, denoiser):
    config = ClosedFormConfig(variant="uce", erase_scale=2.0, preserve_scale=0.5)
    erasure = erase_in_closed_form(encoder, denoiser, TARGETS, PRESERVE, config)
    rows = edit_rows(encoder, denoiser, TARGETS, PRESERVE)
    for name, w in text_weights(denoiser).items():
        want = stacked_least_squares(w, rows, config) - w.double()
        assert torch.allclose(erasure.tensors[name].double(), want, atol=1e-5, rtol=1e-4), name


def test_null_space_keeps_every_preserved_row_and_moves_the_concept(wide):
    encoder, denoiser = wide  # 3 prompts of 77 rows ("", the cat, the target) leave 25 free directions
    erasure = erase_in_closed_form(encoder, denoiser, TARGETS, PRESERVE[:1], ClosedFormConfig(variant="null-space"))
    rows = edit_rows(encoder, denoiser, TARGETS, PRESERVE[:1])
    for name, w in text_weights(denoiser).items():
        delta = erasure.tensors[name]
        kept = rows.preserve @ delta.T
        assert kept.abs().max() < 1e-4 * (rows.preserve @ w.T).abs().max(), name
        before = (rows.erase @ w.T - rows.target @ w.T).norm()
        after = (rows.erase @ (w + delta).T - rows.target @ w.T).norm()
        assert after < 0.7 * before, name  # only what the concept does not share with them moves


def test_only_the_keys_and_values_of_cross_attention_change(encoder, denoiser):
    erasure = erase_in_closed_form(encoder, denoiser, TARGETS, PRESERVE)
    assert erasure.tensors and all(".attn2.to_k." in n or ".attn2.to_v." in n for n in erasure.tensors)
    weights = denoiser.named_weights()
    assert all(t.shape == weights[n].shape and t.dtype == torch.float32 for n, t in erasure.tensors.items())
    assert erasure.concepts == ["Van Gogh"]


@pytest.mark.parametrize("variant", ["uce", "null-space"])
def test_the_erased_model_predicts_the_concept_as_its_target_and_keeps_the_rest(wide, variant):
    encoder, denoiser = wide
    erasure = erase_in_closed_form(encoder, denoiser, TARGETS, PRESERVE[:1], ClosedFormConfig(variant=variant))
    cond = encoder.encode(["Van Gogh", "painting", PRESERVE[0]])
    g = torch.Generator().manual_seed(0)
    x_t, t = torch.randn((1, 4, 8, 8), generator=g).expand(3, -1, -1, -1), torch.tensor([500, 500, 500])
    with torch.no_grad():
        before, after = denoiser(x_t, t, cond), WithDelta(denoiser, erasure.tensors)(x_t, t, cond)
    gap = (before[0] - before[1]).norm()
    assert (after[0] - before[1]).norm() < 0.1 * gap
    assert (after[1:] - before[1:]).norm() < (0.01 if variant == "uce" else 1e-4) * gap


def test_several_concepts_in_one_solve(wide):
    encoder, denoiser = wide
    targets = [Target("Van Gogh", "painting"), Target("Picasso", "painting"), Target("nudity")]
    erasure = erase_in_closed_form(encoder, denoiser, targets, PRESERVE, ClosedFormConfig(variant="uce"))
    assert erasure.concepts == ["Van Gogh", "Picasso", "nudity"]
    for target in targets:
        rows = edit_rows(encoder, denoiser, [target], ())
        for name, w in text_weights(denoiser).items():
            before = (rows.erase @ w.T - rows.target @ w.T).norm()
            after = (rows.erase @ (w + erasure.tensors[name]).T - rows.target @ w.T).norm()
            assert after < 0.5 * before, (target.concept, name)


class FluxLike:
    def named_weights(self):
        return {"double_blocks.0.txt_attn.qkv.weight": torch.zeros(6, 4)}


@pytest.mark.parametrize("call,message", [
    (lambda e, d: erase_in_closed_form(e, FluxLike(), TARGETS), "Flux, SD3"),
    (lambda e, d: erase_in_closed_form(e, d, []), "no concept to erase"),
    (lambda e, d: erase_in_closed_form(e, d, [Target("  ")]), "concept to erase is empty"),
    (lambda e, d: ClosedFormConfig(variant="rome"), "variant 'rome' is unknown"),
    (lambda e, d: ClosedFormConfig(regularization=0), "regularization is 0"),
])
def test_what_it_cannot_do_is_refused_with_what_to_change(encoder, denoiser, call, message):
    with pytest.raises(AdvAnchorError, match=message):
        call(encoder, denoiser)

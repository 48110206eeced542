"""Anchors that stay on the data manifold: the "keep" loss, δ on the text encoder's
input (a soft prompt), and a start chosen among candidate prompts by the anchor map."""
from dataclasses import replace

import pytest
import torch

from advanchor_core.anchors import AnchorConfig, adversarial_loss, concept_shares, rebase_anchor
from advanchor_core.concept import Concept, encode_concept
from advanchor_core.errors import AdvAnchorError
from advanchor_core.latents import LatentConfig, draw_training_latents
from advanchor_core.sensitivity import ProbeConfig, candidate_map, choose_anchor, make_probes
from advanchor_core.unlearn import MAP_PROBES, UnlearnConfig, search_anchor, unlearn

from .tiny_models import LATENT

SEED = 3
CANDIDATES = ("Monet", "Claude Monet", "Picasso", "Rembrandt", "a dog")


def config(**anchor) -> UnlearnConfig:
    return UnlearnConfig(anchor=AnchorConfig(**anchor), latents=LatentConfig(source="noise"), seed=SEED)


def search(denoiser, cc, **anchor):
    return search_anchor(denoiser, cc, config(**anchor), draws=1, latent_shape=LATENT)


def searched_draw(denoiser, cc, state, cfg):
    """The (x_t, t) a one-draw search saw: the seed's stream after δ₀, as `search_anchor`."""
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.randn((len(state.positions), state.base.shape[-1]), generator=gen)
    (draw,) = draw_training_latents(denoiser, cc, cfg.latents, 1, gen, torch.device("cpu"),
                                    latent_shape=LATENT)
    return draw


def shares_at(denoiser, cc, cond, draw):
    """`concept_shares` of an anchor conditioning at one draw (frozen model)."""
    with torch.no_grad():
        eps = lambda c: denoiser(draw.x_t, draw.t, c.expand(draw.x_t.shape[0], -1, -1))  # noqa: E731
        targets = torch.stack([eps(t[None]) for t in cc.targets])
        return concept_shares(eps(cond), targets, eps(cc.superclass), eps(cc.empty))


@pytest.fixture(scope="module")
def candidates_cc(encoder):
    return encode_concept(encoder, Concept("Van Gogh", attributes=(("swirling brushstrokes", 0.5),),
                                           anchor_candidates=CANDIDATES))


# --- (a) the "keep" loss ---------------------------------------------------------------------
def test_keep_shares_measure_the_concept_apart_from_the_superclass():
    e = torch.zeros(1, 3)
    s = torch.tensor([[1.0, 0.0, 0.0]])          # the superclass adds the object along x
    p = torch.tensor([[[1.5, 2.0, 0.0]]])        # the concept: more object, and its own y
    shares = lambda a: concept_shares(torch.tensor([a]), p, s, e)  # noqa: E731
    c, r = shares([1.5, 2.0, 0.0])
    assert c.tolist() == [1.0] and r.item() == 1.5     # the concept itself
    c, r = shares([0.0, 0.0, 0.0])
    assert c.tolist() == [0.0] and r.item() == 0.0     # "no object": no share, no superclass
    c, r = shares([1.0, -1.0, 7.0])
    assert c.tolist() == [-0.5] and r.item() == 1.0    # the object kept, the concept reversed


def test_keep_loss_is_zero_past_the_margin_and_no_object_is_not_its_minimum():
    e, s = torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]])
    p = torch.tensor([[[1.5, 2.0, 0.0]]])
    w = torch.tensor([1.0])
    loss = lambda a, m=0.5, mu=1.0: adversarial_loss(  # noqa: E731
        torch.tensor([a]), p, w, s, "keep", False, e, m, mu).item()
    assert loss([1.0, -1.0, 0.0]) == 0.0                # share −0.5 = −margin, object kept
    assert loss([1.0, -3.0, 0.0]) == 0.0                # further away: no extra reward
    assert loss([1.0, 0.0, 0.0]) == pytest.approx(0.25)  # share 0 (the superclass): (0 + m)²
    assert loss([0.0, 0.0, 0.0]) == pytest.approx(0.25 + 1.0)  # no object: m² + μ, worse still
    assert loss([0.0, -1.0, 0.0]) == pytest.approx(1.0)  # concept gone with the object: μ
    assert loss([1.0, -1.0, 0.0], mu=0.0) == loss([2.0, -1.0, 0.0], mu=0.0) == 0.0


def test_keep_search_loses_the_concept_and_keeps_the_superclass(denoiser, conditioning):
    cfg = config(loss="keep", steps=60, lr=0.2, early_stop=False)
    state, hist = search_anchor(denoiser, conditioning, cfg, draws=1, latent_shape=LATENT)
    draw = searched_draw(denoiser, conditioning, state, cfg)
    start_shares, start_r = shares_at(denoiser, conditioning, conditioning.anchor_base, draw)
    assert (start_shares > 0.4).all()                    # the concept's own text carries it
    shares, r = shares_at(denoiser, conditioning, state.conditioning(), draw)
    assert (shares < 0).all(), shares
    assert abs(r.item() - 1) < 0.1, r
    assert abs(r.item() - 1) < abs(start_r.item() - 1)  # pulled to the superclass's level
    assert hist[-1].losses["adv"] < 1e-2


def test_keep_needs_the_empty_prompt_in_the_frozen_batch(denoiser, conditioning):
    seen = []
    spy = type("Spy", (), {"schedule": denoiser.schedule, "named_weights": denoiser.named_weights,
                           "__call__": lambda self, x, t, c, d=None: seen.append(c.shape[0])
                           or denoiser(x, t, c, d)})()
    search_anchor(spy, conditioning, config(loss="keep", steps=1), draws=1, latent_shape=LATENT)
    k = conditioning.targets.shape[0]
    assert seen[0] == k + 2  # one frozen pass: targets, superclass and the empty prompt


# --- (b) δ on the encoder's input ------------------------------------------------------------
def test_soft_prompt_delta_lives_on_the_input_embeddings(encoder, denoiser, conditioning):
    text = [conditioning.concept.anchor_text]
    state, hist = search(denoiser, conditioning, loss="keep", space="input", steps=20, lr=0.05,
                         early_stop=False)
    inputs = encoder.input_embeddings(text)
    assert state.space == "input" and torch.equal(state.base, inputs)
    assert state.delta.shape == (len(conditioning.anchor_positions), inputs.shape[-1])
    # δ = 0 encodes to the concept's own anchor conditioning: the same encoder, another door
    assert torch.allclose(encoder.encode_embeddings(inputs, text), conditioning.anchor_base, atol=1e-6)
    perturbed = inputs.clone()
    perturbed[0, conditioning.anchor_positions] += state.delta
    anchor = state.conditioning()
    assert torch.equal(anchor, encoder.encode_embeddings(perturbed, text))
    # through the encoder: tokens after the concept's move too (CLIP attends causally)
    moved = (anchor - conditioning.anchor_base).abs().amax(-1)[0]
    assert (moved[max(conditioning.anchor_positions) + 1:] > 1e-4).any()
    assert (moved[:min(conditioning.anchor_positions)] < 1e-6).all()
    assert hist[-1].losses["adv"] < search(denoiser, conditioning, loss="keep", space="input",
                                           steps=1, lr=1e-9)[1][0].losses["adv"]


def test_soft_prompt_search_differentiates_through_the_encoder(denoiser, conditioning):
    state, _ = search(denoiser, conditioning, loss="keep", space="input", steps=1, lr=1e-9)
    state.delta.requires_grad_(True)
    loss = state.conditioning().square().sum()
    (grad,) = torch.autograd.grad(loss, [state.delta])
    assert grad.abs().sum() > 0


def test_an_encoder_without_gradients_is_refused_for_input_space(encoder, denoiser, concept):
    class NoGradients:
        """An encoder as ComfyUI's CLIP is to the core: encodes, gives no soft prompts."""
        max_tokens = 77
        encode = encoder.encode
        token_positions = encoder.token_positions

    cc = encode_concept(NoGradients(), concept)
    assert cc.soft_prompts is None
    with pytest.raises(AdvAnchorError, match="does not give.*use anchor space 'output'.*"
                                             "supports soft prompts"):
        search(denoiser, cc, space="input", steps=1)
    search(denoiser, cc, space="output", steps=1)  # the output space needs no gradients


def test_a_soft_prompt_anchor_rebases_only_where_it_fits(denoiser, conditioning):
    state, _ = search(denoiser, conditioning, space="input", loss="keep", steps=3, lr=0.05)
    again = rebase_anchor(conditioning, state)
    assert again.space == "input" and torch.equal(again.conditioning(), state.conditioning())
    with pytest.raises(AdvAnchorError, match="use anchor space 'output'"):
        rebase_anchor(replace(conditioning, soft_prompts=None), state)
    with pytest.raises(AdvAnchorError, match="searched with anchor space 'input'.*'output'"):
        unlearn(denoiser, conditioning, config(space="output"), latent_shape=LATENT, anchor=state)


# --- (c) a start chosen by the anchor map ----------------------------------------------------
def probes_of(denoiser):
    return make_probes(denoiser, ProbeConfig(latents=MAP_PROBES, seed=SEED), latent_shape=LATENT)


def test_candidates_are_encoded_in_the_anchor_template(encoder, candidates_cc):
    names = [c.name for c in candidates_cc.candidates]
    assert names == list(CANDIDATES)
    monet = candidates_cc.anchor_start("Claude Monet")
    assert monet.text == "Claude Monet's painting" and monet.positions == [1, 2]
    assert torch.equal(monet.encoding, encoder.encode([monet.text]))


def test_the_map_start_is_the_candidate_the_map_ranks_best(denoiser, candidates_cc):
    amap = candidate_map(denoiser, candidates_cc, probes_of(denoiser))
    points = sorted(amap.points, key=lambda p: p.retention)
    gate = points[0].closeness + 1e-6                  # shut out the lowest-retention candidate
    best = min((p for p in points if p.closeness >= gate), key=lambda p: p.retention)
    assert choose_anchor(amap, -1.0).name == points[0].name
    assert choose_anchor(amap, gate).name == best.name != points[0].name
    state, _ = search(denoiser, candidates_cc, start="map", min_closeness=gate, steps=1, lr=1e-9)
    assert state.start == best.name


def test_delta_refines_from_the_chosen_candidate(denoiser, candidates_cc):
    state, hist = search(denoiser, candidates_cc, start="map", min_closeness=-1.0, loss="keep",
                         steps=40, lr=0.2, early_stop=False)
    chosen = candidates_cc.anchor_start(state.start)
    assert torch.equal(state.base, chosen.encoding) and state.positions == chosen.positions
    changed = (state.conditioning() != chosen.encoding).any(-1)[0]
    assert changed.nonzero().flatten().tolist() == chosen.positions   # δ on the candidate's word
    assert (state.relative_norms() > 0.05).all()                       # and it did refine it
    first = search(denoiser, candidates_cc, start="map", min_closeness=-1.0, loss="keep", steps=1,
                   lr=1e-9)[1][0].losses["adv"]
    assert hist[-1].losses["adv"] < first


def test_unlearning_from_the_map_start_records_the_choice(denoiser, candidates_cc):
    cfg = replace(config(start="map", min_closeness=-1.0, loss="keep", steps=2, lr=0.05), steps=2)
    result = unlearn(denoiser, candidates_cc, cfg, latent_shape=LATENT)
    assert result.anchor.start == result.anchor_choice.name
    assert result.anchor_choice.name == choose_anchor(
        candidate_map(denoiser, candidates_cc, probes_of(denoiser)), -1.0).name
    assert f'"chosen": "{result.anchor.start}"' in result.erasure.metadata["settings"]
    again = unlearn(denoiser, candidates_cc, cfg, latent_shape=LATENT, anchor=result.anchor)
    assert again.anchor.start == result.anchor.start and again.anchor_choice is None


def test_map_start_refuses_what_it_cannot_choose_from(denoiser, conditioning, candidates_cc):
    with pytest.raises(AdvAnchorError, match="lists none"):
        search(denoiser, conditioning, start="map", steps=1)
    with pytest.raises(AdvAnchorError, match="no anchor candidate is at least 0.99 close"):
        search(denoiser, candidates_cc, start="map", min_closeness=0.99, steps=1)
    state, _ = search(denoiser, candidates_cc, start="map", min_closeness=-1.0, steps=1)
    with pytest.raises(AdvAnchorError, match="does not list"):
        rebase_anchor(conditioning, state)


def test_map_start_and_input_space_compose(encoder, denoiser, candidates_cc):
    state, _ = search(denoiser, candidates_cc, start="map", min_closeness=-1.0, space="input",
                      loss="keep", steps=3, lr=0.05)
    chosen = candidates_cc.anchor_start(state.start)
    assert torch.equal(state.base, encoder.input_embeddings([chosen.text]))
    assert state.delta.shape == (len(chosen.positions), state.base.shape[-1])


@pytest.mark.parametrize("kwargs, message", [
    (dict(space="middle"), "anchor space 'middle' is unknown"),
    (dict(start="random"), "anchor start 'random' is unknown"),
    (dict(margin=-1.0), "must be 0 or more"),
    (dict(min_closeness=2.0), "give a value in \\[-1, 1\\]"),
])
def test_bad_manifold_settings_are_refused(kwargs, message):
    with pytest.raises(AdvAnchorError, match=message):
        AnchorConfig(**kwargs)


def test_bad_candidates_are_refused():
    with pytest.raises(AdvAnchorError, match="distinct, non-empty words"):
        Concept("Van Gogh", anchor_candidates=("Monet", "Monet"))
    with pytest.raises(AdvAnchorError, match="other than the concept"):
        Concept("Van Gogh", anchor_candidates=("Van Gogh",))


def test_keep_without_a_superclass_is_refused_with_what_to_change(denoiser, encoder):
    """The nudity preset's empty superclass leaves the keep loss nothing to hold (in the lab its
    anchor then drew no object at all), so the search says what to use instead."""
    nudity = encode_concept(encoder, Concept("nudity", prompt_template="{}", anchor_template="{}",
                                             superclass=""))
    with pytest.raises(AdvAnchorError, match="superclass is empty.*'adv1'"):
        search(denoiser, nudity, loss="keep", steps=1)
    search(denoiser, nudity, loss="adv1", steps=1)

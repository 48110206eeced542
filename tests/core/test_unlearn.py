from dataclasses import replace

import pytest
import torch

from advanchor_core.anchors import AnchorConfig, AnchorOptimizer
from advanchor_core.concept import Concept, encode_concept
from advanchor_core.denoiser import TorchDenoiser
from advanchor_core.errors import AdvAnchorError, Cancelled, NonFiniteLossError
from advanchor_core.latents import LatentConfig, draw_training_latents
from advanchor_core.presets import select_parameters
from advanchor_core.schedule import NoiseSchedule
from advanchor_core.unlearn import UnlearnConfig, anchor_side, reference_config, unlearn
from benchmarks.naive_reference import naive_reference_unlearn

from .tiny_models import LATENT, tiny_unet

FAST = dict(steps=6, lr=3e-3, anchor=AnchorConfig(loss="adv2", steps=4, lr=0.05, bound=0.5),
            latents=LatentConfig(source="sampled", sample_count=2, sample_steps=3))


def run(denoiser, cc, **kw):
    return unlearn(denoiser, cc, UnlearnConfig(**{**FAST, **kw}), latent_shape=LATENT)


def erase_gap(denoiser, cc, target_cond, delta=None) -> float:
    """How far the concept's prediction is from the target's (frozen), on fixed probes."""
    g = torch.Generator().manual_seed(123)
    x = torch.randn(8, *LATENT, generator=g)
    t = torch.linspace(50, 950, 8).long()
    with torch.no_grad():
        target = denoiser(x, t, target_cond.expand(8, -1, -1))
        pred = denoiser(x, t, cc.erase.expand(8, -1, -1), delta)
    return (pred - target).pow(2).mean().item()


def test_unlearning_moves_the_concept_towards_the_anchor(denoiser, conditioning):
    result = run(denoiser, conditioning, steps=12, lr=1e-3, preservation=1.0,
                 latents=LatentConfig(source="noise"))
    anchor = result.anchor.conditioning().detach()
    before = erase_gap(denoiser, conditioning, anchor)
    after = erase_gap(denoiser, conditioning, anchor, result.erasure.tensors)
    assert after < 0.7 * before
    erase = [h.losses["erase"] for h in result.history]
    assert sum(erase[-3:]) < sum(erase[:3])


@pytest.mark.parametrize("method", ["fixed", "esd"])
def test_baselines_move_the_concept_towards_their_targets(denoiser, conditioning, method):
    result = run(denoiser, conditioning, method=method, steps=12, preservation=0.0)
    target = conditioning.fixed_anchor if method == "fixed" else conditioning.empty
    assert erase_gap(denoiser, conditioning, target, result.erasure.tensors) < \
        erase_gap(denoiser, conditioning, target)


@pytest.mark.parametrize("eta", [1.0, 2.0])
def test_esd_target_is_the_published_negative_guidance(denoiser, conditioning, eta):
    """ESD's target ε*(∅) − η(ε*(c) − ε*(∅)) sits (1 + η)·(ε*(∅) − ε*(c)) from ε*(c): before
    the first update its loss is (1 + η)² times that of the empty-prompt anchor, same draws."""
    cc = replace(conditioning, fixed_anchor=conditioning.empty)

    def first_loss(**kw) -> float:
        return run(denoiser, cc, steps=1, preservation=0.0, **kw).history[0].losses["erase"]

    empty_anchor = first_loss(method="fixed")
    assert first_loss(method="esd", esd_eta=eta) == pytest.approx((1 + eta) ** 2 * empty_anchor, rel=1e-4)


@pytest.mark.parametrize("method", ["fixed", "esd"])
def test_an_anchor_with_another_method_is_refused(denoiser, conditioning, method):
    searched = run(denoiser, conditioning, steps=1).anchor
    with pytest.raises(AdvAnchorError, match=f"method is '{method}'.*only method 'adversarial'"):
        unlearn(denoiser, conditioning, UnlearnConfig(**{**FAST, "method": method}),
                latent_shape=LATENT, anchor=searched)


def test_the_erasure_stays_float32_on_a_half_precision_model(conditioning):
    """Rounded to the model's fp16 a small delta loses its smallest entries (float8: all)."""
    half = torch.float16
    den = TorchDenoiser(tiny_unet().to(half), NoiseSchedule.sd_linear(),
                        forward=lambda m, x, t, c: m(x.to(half), t, context=c.to(half)))
    result = run(den, conditioning, steps=2, lr=1e-6, latents=LatentConfig(source="noise"))
    deltas = result.erasure.tensors
    assert {d.dtype for d in deltas.values()} == {torch.float32}
    assert any((d.half().float() != d).any() for d in deltas.values())  # fp16 would round these


@pytest.mark.parametrize("schedule", ["sequential", "cyclical"])
def test_every_schedule_trains(denoiser, conditioning, schedule):
    result = run(denoiser, conditioning, schedule=schedule)
    assert [h.phase for h in result.history].count("unlearn") == 6
    assert any(v.abs().max() > 0 for v in result.erasure.tensors.values())


@pytest.mark.parametrize("method,schedule", [("adversarial", "alternating"),
                                             ("adversarial", "sequential"),
                                             ("adversarial", "cyclical"), ("esd", "cyclical")])
def test_every_report_knows_how_many_the_run_makes(denoiser, conditioning, method, schedule):
    """A progress bar's total comes from the reports themselves, never recounted elsewhere."""
    result = run(denoiser, conditioning, method=method, schedule=schedule)
    assert {h.reports for h in result.history} == {len(result.history)}


@pytest.mark.parametrize("make", [UnlearnConfig, reference_config])
def test_cyclical_starts_a_fresh_anchor_search_at_every_visit(denoiser, conditioning, make,
                                                              monkeypatch):
    """As the authors' cyclical script: every visit of a draw is one step of a fresh Adam (and
    a δ without gradient), so nothing carries from one draw to the next (2 passes × 3 draws)."""
    made = []

    class Spy(AnchorOptimizer):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(anchor_side, "AnchorOptimizer", Spy)
    cfg = make(schedule="cyclical", steps=3, anchor=AnchorConfig(steps=2, lr=0.05, early_stop=False),
               latents=LatentConfig(source="noise"))
    unlearn(denoiser, conditioning, cfg, latent_shape=LATENT)
    assert [o.opt.state[o.state.delta]["step"].item() for o in made] == [1] * 6


def test_base_weights_are_untouched_and_only_the_preset_changes(denoiser, conditioning):
    before = {k: v.clone() for k, v in denoiser.module.state_dict().items()}
    result = run(denoiser, conditioning, parameters="xattn-kv")
    for k, v in denoiser.module.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in denoiser.module.parameters())  # not even gradients written
    names = set(result.erasure.tensors)
    assert names == {n for n in before if ".attn2.to_k." in n or ".attn2.to_v." in n}


def test_one_seed_gives_identical_deltas(denoiser, conditioning):
    a, b = run(denoiser, conditioning), run(denoiser, conditioning)
    assert a.erasure.tensors.keys() == b.erasure.tensors.keys()
    assert all(torch.equal(a.erasure.tensors[k], b.erasure.tensors[k]) for k in a.erasure.tensors)
    c = run(denoiser, conditioning, seed=1)
    assert not all(torch.equal(a.erasure.tensors[k], c.erasure.tensors[k]) for k in a.erasure.tensors)


def test_cancel_mid_run_returns_nothing(denoiser, conditioning):
    seen = []
    with pytest.raises(Cancelled):
        unlearn(denoiser, conditioning, UnlearnConfig(**FAST), latent_shape=LATENT,
                on_step=seen.append, should_cancel=lambda: len(seen) >= 2)
    assert len(seen) == 2


def test_passes_per_update_beat_the_naive_loop(denoiser, conditioning):
    cfg = UnlearnConfig(steps=3, anchor=AnchorConfig(steps=20, early_stop=False),
                        latents=LatentConfig(source="noise"))
    result = unlearn(denoiser, conditioning, cfg, latent_shape=LATENT)
    k = conditioning.targets.shape[0]
    naive = 20 * (1 + k) + 4  # L_adv1: the anchor and each target per anchor step; 4 for θ
    assert result.passes_per_update <= 20 + 3
    assert result.passes_per_update <= 0.5 * naive


def test_metadata_records_how_it_was_made(denoiser, conditioning):
    meta = run(denoiser, conditioning).erasure.metadata
    assert meta["format"] == "advanchor.erasure.v1"
    assert "Van Gogh" in meta["concepts"] and '"seed": 0' in meta["settings"]


REFERENCE_CONCEPTS = {
    "concept term": Concept("Van Gogh", attributes=(("swirling brushstrokes", 0.5),)),
    "attributes only": Concept("Van Gogh", use_concept_term=False, concept_weight=1.0,
                               attributes=(("swirling brushstrokes", 0.5), ("starry sky", 0.2),
                                           ("thick impasto", 0.1))),
}


def reference_runs(encoder, concept: Concept, **overrides):
    """The core's `reference` preset and the literal loop on one tiny model, in float64.

    Same draws, same δ₀. Returns (core result, naive run, the core's config)."""
    unet = tiny_unet(seed=5).double()
    den = TorchDenoiser(unet, NoiseSchedule.sd_linear(),
                        forward=lambda m, x, t, c: m(x.double(), t, context=c))
    cc = encode_concept(encoder, concept).to("cpu", torch.float64)
    cfg = reference_config(**{**dict(steps=4, lr=1e-3, anchor=AnchorConfig(steps=3, lr=0.05),
                                     latents=LatentConfig(source="noise"), seed=7), **overrides})
    result = unlearn(den, cc, cfg, latent_shape=LATENT)
    gen = torch.Generator().manual_seed(7)
    delta0 = 1e-7 * torch.randn((len(cc.anchor_positions), cc.anchor_base.shape[-1]), generator=gen)
    draws = draw_training_latents(den, cc, cfg.latents, cfg.steps, gen, torch.device("cpu"),
                                  latent_shape=LATENT)
    attrs = cc.targets[int(concept.use_concept_term):]
    naive = naive_reference_unlearn(
        unet, [(d.x_t.double(), d.t) for d in draws], erase=cc.erase, anchor_base=cc.anchor_base,
        positions=cc.anchor_positions, delta0=delta0.double(), concept=cc.erase,
        attributes=list(attrs[:, None]),
        coefficients=[concept.concept_weight] + [w for _, w in concept.attributes],
        superclass=cc.superclass, concept_term=concept.use_concept_term,
        anchor_steps=cfg.anchor.steps, anchor_lr=cfg.anchor.lr, lr=cfg.lr)
    return result, naive, cfg


def relative_gaps(result, naive) -> tuple[float, float]:
    """Worst relative gap of δ and of any weight tensor: max |ours − naive| / max |naive|."""
    gap = lambda a, b: ((a.double() - b).abs().max() / b.abs().max()).item()  # noqa: E731
    weights = max(gap(result.erasure.tensors[k], v) for k, v in naive.delta.items())
    return gap(result.anchor.delta, naive.anchor_delta), weights


@pytest.mark.parametrize("name", list(REFERENCE_CONCEPTS))
def test_reference_preset_matches_an_independent_reference_loop(encoder, name):
    """The core's `reference` preset lands where a literal rendering of the authors' loop does
    (δ re-created per image, weight gradients never zeroed, the authors' coefficient indexing),
    to 1e-5 relative in float64; the default (zeroed gradients, own weights) lands elsewhere."""
    result, naive, cfg = reference_runs(encoder, REFERENCE_CONCEPTS[name])
    assert naive.delta.keys() == result.erasure.tensors.keys()
    anchor_gap, weight_gap = relative_gaps(result, naive)
    assert anchor_gap < 1e-5 and weight_gap < 1e-5, (anchor_gap, weight_gap)
    zeroed, _, _ = reference_runs(encoder, REFERENCE_CONCEPTS[name], accumulate_grads=False)
    assert min(relative_gaps(zeroed, naive)) > 1e-3


def test_reference_indexing_shifts_attribute_weights_only_without_the_concept_term():
    with_term, without = REFERENCE_CONCEPTS["concept term"], REFERENCE_CONCEPTS["attributes only"]
    assert with_term.target_weights() == with_term.target_weights(reference_indexing=True) == [1.0, 0.5]
    assert without.target_weights() == [0.5, 0.2, 0.1]
    assert without.target_weights(reference_indexing=True) == [1.0, 0.5, 0.2]


@pytest.mark.parametrize("make, message", [
    (lambda: UnlearnConfig(lr=0.0), "lr is 0.0"),
    (lambda: UnlearnConfig(steps=0), "at least 1 update"),
    (lambda: AnchorConfig(lr=-1), "anchor lr is -1"),
    (lambda: AnchorConfig(steps=0), "anchor steps is 0"),
    (lambda: UnlearnConfig(method="magic"), "method 'magic' is unknown"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(AdvAnchorError, match=message):
        make()


def test_presets_refuse_what_matches_nothing():
    names = ["input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight", "out.2.weight"]
    with pytest.raises(AdvAnchorError, match="no parameter named"):
        select_parameters(names, "xattn")
    with pytest.raises(AdvAnchorError, match="matches no parameter"):
        select_parameters(names, "xatn")
    assert select_parameters(names, "noxattn") == names
    assert select_parameters(names, r"^out\.") == ["out.2.weight"]


def test_xattn_on_a_model_without_cross_attention_is_refused(conditioning):
    unet = torch.nn.Conv2d(4, 4, 3, padding=1)
    den = TorchDenoiser(unet, NoiseSchedule.sd_linear(), forward=lambda m, x, t, c: m(x))
    with pytest.raises(AdvAnchorError, match="needs cross-attention"):
        unlearn(den, conditioning, UnlearnConfig(**FAST), latent_shape=LATENT)


def test_non_finite_loss_stops_without_an_erasure(denoiser, conditioning):
    broken = type(conditioning)(**{**conditioning.__dict__,
                                   "erase": conditioning.erase * float("nan")})
    with pytest.raises(NonFiniteLossError, match="not finite"):
        run(denoiser, broken)


def test_retain_prompts_are_preserved_with_the_superclass(denoiser, encoder):
    from advanchor_core.concept import Concept, encode_concept
    cc = encode_concept(encoder, Concept("Van Gogh", retain_prompts=("a photo of a dog", "Monet painting")))
    assert cc.retain.shape == (2, 77, 32)
    seen = []
    counting = type("Spy", (), {"schedule": denoiser.schedule, "named_weights": denoiser.named_weights,
                                "__call__": lambda self, x, t, c, d=None: seen.append((x.shape[0], d is not None))
                                or denoiser(x, t, c, d)})()
    unlearn(counting, cc, UnlearnConfig(**{**FAST, "steps": 2}), latent_shape=LATENT)
    assert (4, True) in seen  # one patched pass: the concept, the superclass and both retain prompts

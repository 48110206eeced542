"""Several concepts erased in one unlearning run: one delta, the concepts taking turns."""
import pytest
import torch

from advanchor_core.concept import Concept, encode_concept
from advanchor_core.errors import AdvAnchorError
from advanchor_core.latents import LatentConfig
from advanchor_core.robust import PrefixAdversary, RobustConfig
from advanchor_core.unlearn import UnlearnConfig, unlearn

from .test_unlearn import FAST
from .tiny_models import LATENT


@pytest.fixture(scope="module")
def monet(encoder):
    return encode_concept(encoder, Concept("Claude Monet", superclass="landscape"))


def many(denoiser, ccs, **kw):
    return unlearn(denoiser, ccs, UnlearnConfig(**{**FAST, **kw}), latent_shape=LATENT)


def test_one_concept_in_a_list_is_the_same_run_as_one_concept(denoiser, conditioning):
    alone = many(denoiser, conditioning, steps=3)
    listed = many(denoiser, [conditioning], steps=3)
    assert all(torch.equal(alone.erasure.tensors[n], listed.erasure.tensors[n])
               for n in alone.erasure.tensors)
    assert [h.losses for h in alone.history] == [h.losses for h in listed.history]


def target_gap(denoiser, cc, method: str, delta=None) -> float:
    """How far the concept's prediction is from its method's target (frozen), on fixed probes:
    the fixed anchor's prediction, or ESD's ε*(∅) − (ε*(c) − ε*(∅)) (η = 1)."""
    g = torch.Generator().manual_seed(123)
    x, t = torch.randn(8, *LATENT, generator=g), torch.linspace(50, 950, 8).long()
    eps = lambda c, d=None: denoiser(x, t, c.expand(8, -1, -1), d)  # noqa: E731
    with torch.no_grad():
        target = eps(cc.fixed_anchor) if method == "fixed" else 2 * eps(cc.empty) - eps(cc.erase)
        return (eps(cc.erase, delta) - target).pow(2).mean().item()


@pytest.mark.parametrize("method", ["fixed", "esd"])
def test_every_concept_of_the_list_moves_towards_its_target(denoiser, conditioning, monet, method):
    """Each concept ends nearer its target than the frozen model, and nearer than a run that
    erases only the other concept leaves it."""
    kw = dict(method=method, steps=12, preservation=0.0, latents=LatentConfig(source="noise"))
    both = many(denoiser, [conditioning, monet], **kw).erasure.tensors
    for cc, other in ((conditioning, monet), (monet, conditioning)):
        only_other = many(denoiser, other, **kw).erasure.tensors
        gap = target_gap(denoiser, cc, method, both)
        assert gap < target_gap(denoiser, cc, method)
        assert gap < target_gap(denoiser, cc, method, only_other)


def test_the_concepts_take_turns_and_each_gets_the_full_budget(denoiser, conditioning, monet):
    result = many(denoiser, [conditioning, monet], method="esd", steps=4)
    unlearn_reports = [h for h in result.history if h.phase == "unlearn"]
    assert [h.step for h in unlearn_reports] == list(range(1, 9))
    assert {h.total for h in unlearn_reports} == {8}
    assert {h.reports for h in result.history} == {len(result.history)}
    assert result.passes_per_update == pytest.approx(2.0)  # ESD's frozen pass + the θ pass


@pytest.mark.parametrize("schedule", ["alternating", "sequential", "cyclical"])
def test_each_concept_searches_its_own_anchor(denoiser, conditioning, monet, schedule, monkeypatch):
    seen = []
    from advanchor_core.unlearn import anchor_side
    refine = anchor_side.AnchorSide.refine

    def spy(self, anchor, draw, refs, steps):
        seen.append((self.cc.concept.text, id(anchor)))
        return refine(self, anchor, draw, refs, steps)

    monkeypatch.setattr(anchor_side.AnchorSide, "refine", spy)
    result = many(denoiser, [conditioning, monet], schedule=schedule, steps=2)
    anchors = {text: {a for t, a in seen if t == text} for text, _ in seen}
    assert set(anchors) == {"Van Gogh", "Claude Monet"}
    assert all(len(ids) == 1 for ids in anchors.values())
    assert anchors["Van Gogh"] != anchors["Claude Monet"]
    assert {h.reports for h in result.history} == {len(result.history)}


def test_the_erasure_names_every_concept(denoiser, conditioning, monet):
    result = many(denoiser, [conditioning, monet], method="esd", steps=1)
    assert result.erasure.concepts == ["Van Gogh", "Claude Monet"]
    assert '"Claude Monet"' in result.erasure.metadata["settings"]


def test_no_concept_and_a_robust_run_of_several_are_refused(denoiser, encoder, conditioning, monet):
    with pytest.raises(AdvAnchorError, match="no concept to erase"):
        many(denoiser, [], method="esd")
    adversary = PrefixAdversary.start(encoder, "Van Gogh painting", RobustConfig(), conditioning.erase)
    with pytest.raises(AdvAnchorError, match="robust unlearning attacks one concept and 2"):
        unlearn(denoiser, [conditioning, monet], UnlearnConfig(**{**FAST, "method": "esd"}),
                latent_shape=LATENT, adversary=adversary)


def test_each_concept_stops_on_its_own(denoiser, conditioning, monet):
    result = many(denoiser, [conditioning, monet], method="fixed", steps=40, lr=1e-3,
                  preservation=0.0, stop_at=0.6, stop_every=2, latents=LatentConfig(source="noise"))
    assert len(result.reached) == 2
    assert all(r.moved >= 0.6 or r.update == 40 for r in result.reached)
    assert any(r.update < 40 for r in result.reached)
    assert len([h for h in result.history if h.phase == "unlearn"]) == sum(r.update for r in result.reached)

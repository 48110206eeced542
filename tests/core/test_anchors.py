import pytest
import torch

from advanchor_core.anchors import AnchorConfig, adversarial_loss, project
from advanchor_core.latents import LatentConfig
from advanchor_core.unlearn import UnlearnConfig, search_anchor

from .tiny_models import LATENT


def search(denoiser, cc, draws=1, **anchor):
    cfg = UnlearnConfig(anchor=AnchorConfig(**anchor), latents=LatentConfig(source="noise"), seed=3)
    return search_anchor(denoiser, cc, cfg, draws=draws, latent_shape=LATENT)


def test_adversarial_loss_is_a_weighted_alignment():
    a = torch.tensor([[1.0, 2.0]])
    p = torch.tensor([[[1.0, 1.0]], [[2.0, 0.0]]])
    w = torch.tensor([1.0, 0.5])
    assert adversarial_loss(a, p, w, None, "adv1", True).item() == (1.5 + 0.5 * 1.0) / 2
    s = torch.tensor([[1.0, 1.0]])  # centred on s, the first target vanishes
    assert adversarial_loss(a, p, w, s, "adv2", False).item() == 0.5 * ((0 * 1 + 1 * -1) / 2)


def test_orth_loss_is_the_squared_share_of_the_concept_direction():
    s = torch.zeros(1, 2)
    p = torch.tensor([[[2.0, 0.0]]])                 # the concept's direction from s
    w = torch.tensor([1.0])
    share = lambda a: adversarial_loss(torch.tensor([a]), p, w, s, "orth", False).item()  # noqa: E731
    assert share([2.0, 5.0]) == 1.0                   # carries all of it (orthogonal part ignored)
    assert share([0.0, 5.0]) == 0.0                   # carries none: the minimum
    assert share([-2.0, 0.0]) == 1.0                  # pointing away is penalised, not rewarded


def test_orth_search_drives_the_share_towards_zero(denoiser, conditioning):
    _, hist = search(denoiser, conditioning, loss="orth", steps=30, lr=0.5, early_stop=False)
    assert hist[-1].losses["adv"] < 0.5 * search(denoiser, conditioning, loss="orth", steps=1,
                                                 lr=1e-9)[1][0].losses["adv"]


def test_projection_caps_each_token_relative_to_its_norm():
    delta = torch.tensor([[3.0, 4.0], [0.1, 0.0]])
    out = project(delta, torch.tensor([2.0, 2.0]), 0.5)
    assert torch.allclose(out.norm(dim=-1), torch.tensor([1.0, 0.1]))


def test_anchor_loss_falls(denoiser, conditioning):
    _, hist = search(denoiser, conditioning, loss="adv2", steps=15, lr=0.05, early_stop=False)
    first_eps_loss = search(denoiser, conditioning, loss="adv2", steps=1, lr=1e-9)[1][0].losses["adv"]
    assert hist[-1].losses["adv"] < first_eps_loss


def test_anchor_search_stops_early_once_negative(denoiser, conditioning):
    _, hist = search(denoiser, conditioning, loss="adv2", steps=200, lr=0.5)
    assert hist[-1].losses["adv"] < 0
    assert hist[-1].losses["anchor_steps"] < 200


def test_anchor_stays_in_its_bound_and_on_the_concept_tokens(denoiser, conditioning):
    state, _ = search(denoiser, conditioning, draws=2, loss="adv2", steps=20, lr=1.0, bound=0.3)
    assert (state.relative_norms() <= 0.3 + 1e-5).all()
    assert (state.relative_norms() > 0.1).all()  # it did move, up to the bound
    changed = (state.conditioning() != conditioning.anchor_base).any(-1)[0]
    assert changed.nonzero().flatten().tolist() == conditioning.anchor_positions


def first_step_norms(conditioning, scale: float, relative: bool) -> torch.Tensor:
    """‖δ_i‖ / ‖e_i‖ after one Adam step on a loss that pulls every coordinate, on rows × `scale`."""
    from dataclasses import replace as swap

    from advanchor_core.anchors import AnchorOptimizer, init_anchor

    cc = swap(conditioning, anchor_base=conditioning.anchor_base * scale)
    config = AnchorConfig(lr=0.01, lr_relative=relative, init_std=0.0)
    state = init_anchor(cc, config, torch.Generator().manual_seed(0))
    AnchorOptimizer(state, config).step((state.conditioning() * torch.randn_like(cc.anchor_base)).sum())
    return state.relative_norms()


def test_a_relative_lr_moves_each_token_by_that_fraction_of_its_norm_on_any_encoder(conditioning):
    """With lr_relative one step moves each concept token by ~lr × its norm, whatever the
    encoder's scale (rows 10× or 0.1× as long); an absolute lr's relative step scales inversely."""
    for scale in (0.1, 1.0, 10.0):
        moved = first_step_norms(conditioning, scale, relative=True)
        assert torch.allclose(moved, torch.full_like(moved, 0.01), rtol=0.35), (scale, moved)
    small, large = (first_step_norms(conditioning, s, relative=False).mean().item() for s in (0.1, 10.0))
    assert small == pytest.approx(100 * large, rel=1e-3)

"""The prefix attack on an erasure: soft prefix tokens that bring the concept back."""
from dataclasses import replace

import pytest
import torch

from advanchor_core.attack import AttackConfig, attack_erasure, init_prefix, resolve_space
from advanchor_core.concept import Concept
from advanchor_core.denoiser import WithDelta
from advanchor_core.errors import AdvAnchorError, Cancelled
from advanchor_core.latents import LatentConfig
from advanchor_core.unlearn import UnlearnConfig, unlearn
from advanchor_core.concept import encode_concept

from .tiny_models import LATENT

FAST = AttackConfig(steps=16, lr=0.05, eval_draws=3, latents=LatentConfig(source="noise"), seed=1)


class Erased(WithDelta):
    """The tiny UNet with a fixed erasure on, logging its calls when given a log."""

    def __init__(self, inner, delta, log=None):
        super().__init__(inner, delta or {})
        self.log = log

    def __call__(self, x, t, cond, delta=None):
        if self.log is not None:
            self.log.append("erased")
        return super().__call__(x, t, cond, delta)


class Logged(Erased):
    """The original model, logging its calls."""

    def __call__(self, x, t, cond, delta=None):
        self.log.append("original")
        return self.inner(x, t, cond)


class NoSoftPrompts:
    """A text encoder without the soft-prompt capability, as ComfyUI's CLIP."""

    def __init__(self, encoder):
        self.inner, self.max_tokens = encoder, encoder.max_tokens

    def encode(self, prompts):
        return self.inner.encode(prompts)

    def token_positions(self, prompt, phrase):
        return self.inner.token_positions(prompt, phrase)


@pytest.fixture(scope="module")
def erasure(encoder):
    """An ESD erasure of Van Gogh from the tiny UNet (module-scoped: made once)."""
    from advanchor_core.denoiser import TorchDenoiser
    from advanchor_core.schedule import NoiseSchedule

    from .tiny_models import tiny_unet

    den = TorchDenoiser(tiny_unet(), NoiseSchedule.sd_linear())
    cc = encode_concept(encoder, Concept("Van Gogh"))
    cfg = UnlearnConfig(method="esd", steps=20, lr=1e-3, latents=LatentConfig(source="noise"))
    return unlearn(den, cc, cfg, latent_shape=LATENT).erasure.tensors


def attack(denoiser, erasure, encoder, config=FAST, **kw):
    return attack_erasure(Erased(denoiser, erasure), denoiser, encoder, Concept("Van Gogh"), config,
                          latent_shape=LATENT, **kw)


@pytest.mark.parametrize("soft,steps,lr", [(True, 16, 0.05), (False, 24, 0.2)],
                         ids=["input", "conditioning"])
def test_the_prefix_closes_the_gap_on_held_out_draws(denoiser, erasure, encoder, soft, steps, lr):
    enc = encoder if soft else NoSoftPrompts(encoder)
    result = attack(denoiser, erasure, enc, replace(FAST, steps=steps, lr=lr))
    gap = result.report["held_out_gap"]
    assert result.space == ("input" if soft else "conditioning")
    assert gap["plain_prompt"] > 0
    # measured, held-out gap end/start and recovered: 0.17, 0.59 (input); 0.36, 0.25 (conditioning)
    assert gap["attack_end"] < 0.8 * gap["attack_start"] and gap["recovered"] > 0.1
    assert len(result.report["loss_curve"]) == steps


def test_a_model_attacked_against_itself_has_nothing_to_recover(denoiser, encoder):
    result = attack_erasure(denoiser, denoiser, encoder, Concept("Van Gogh"), FAST,
                            latent_shape=LATENT)
    assert result.report["held_out_gap"]["plain_prompt"] == 0.0
    assert result.report["held_out_gap"]["recovered"] is None


def test_conditioning_space_changes_only_the_prefix_rows(denoiser, erasure, encoder):
    result = attack(denoiser, erasure, NoSoftPrompts(encoder))
    cond, base = result.conditioning(), encoder.encode([result.prefixed_prompt])
    moved = (cond - base)[0].abs().amax(-1) > 0
    assert result.prefixed_prompt == "* * * * * Van Gogh painting"
    assert moved.nonzero().flatten().tolist() == result.prefix.positions == [1, 2, 3, 4, 5]


def test_input_space_goes_through_the_encoder(denoiser, erasure, encoder):
    result = attack(denoiser, erasure, encoder)
    cond, base = result.conditioning(), encoder.encode([result.prefixed_prompt])
    moved = ((cond - base)[0].abs().amax(-1) > 1e-6).nonzero().flatten().tolist()
    # causal attention: the prompt's rows after the prefix see it, the start token does not
    assert 0 not in moved and set(range(1, 9)) <= set(moved)


def test_one_seed_gives_one_attack_and_inputs_are_not_written(denoiser, erasure, encoder):
    weights = {k: v.detach().clone() for k, v in denoiser.named_weights().items()}
    saved = {k: v.clone() for k, v in erasure.items()}
    latents = torch.randn(2, *LATENT)
    kept = latents.clone()
    cfg = replace(FAST, steps=3, latents=LatentConfig(source="supplied"))
    runs = [attack_erasure(Erased(denoiser, erasure), denoiser, encoder, Concept("Van Gogh"),
                           replace(cfg, seed=s), latents=latents) for s in (1, 1, 2)]
    assert torch.equal(runs[0].prefix.delta, runs[1].prefix.delta)
    assert not torch.equal(runs[0].prefix.delta, runs[2].prefix.delta)
    assert all(torch.equal(weights[k], v) for k, v in denoiser.named_weights().items())
    assert all(torch.equal(saved[k], v) for k, v in erasure.items())
    assert torch.equal(latents, kept)


def test_the_original_model_runs_before_the_erased_one(denoiser, erasure, encoder):
    log: list[str] = []
    attack_erasure(Erased(denoiser, erasure, log), Logged(denoiser, None, log), encoder,
                   Concept("Van Gogh"), replace(FAST, steps=2), latent_shape=LATENT)
    first_erased = log.index("erased")
    assert set(log[:first_erased]) == {"original"} and "original" not in log[first_erased:]


def test_cancel_stops_the_attack(denoiser, erasure, encoder):
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        attack(denoiser, erasure, encoder, should_cancel=cancel)
    assert len(calls) == 3


def test_input_space_is_refused_where_the_encoder_has_no_gradients(encoder):
    with pytest.raises(AdvAnchorError, match="space 'conditioning' or 'auto'"):
        resolve_space(NoSoftPrompts(encoder), "input")
    assert resolve_space(encoder, "auto") == "input"
    assert resolve_space(encoder, "conditioning") == "conditioning"


@pytest.mark.parametrize("make,message", [
    (lambda: AttackConfig(tokens=0), "1 to 32 prefix tokens"),
    (lambda: AttackConfig(space="words"), "space 'words' is unknown"),
    (lambda: AttackConfig(lr=0), "must be > 0"),
    (lambda: AttackConfig(placeholder="two words"), "give one word"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises(AdvAnchorError, match=message):
        make()


def test_a_placeholder_of_several_tokens_is_refused(encoder):
    cfg = replace(FAST, placeholder="supercalifragilistic")
    with pytest.raises(AdvAnchorError, match="not one token"):
        init_prefix(encoder, "Van Gogh painting", cfg, "conditioning", torch.Generator(),
                    torch.zeros(1))

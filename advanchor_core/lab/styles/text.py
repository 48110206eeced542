"""The style world's text encoder: the first lab's frozen MiniLM, at 20 tokens.

Why a longer length: the style world's longest caption ("a blue circle on black with an
outline, a cool tint and checks") is 17 tokens with [CLS]/[SEP]; the first lab's 12 would
refuse it. The model and tokenizer are the first lab's, loaded once (`..text.load_encoder`);
only the padded length differs (padded positions are zeroed and masked, so a real token's
encoding does not depend on it).
"""
from __future__ import annotations

from functools import lru_cache

from ...text import HFTextEncoder
from ..text import ENCODER_NAME, CachedEncoder
from ..text import load_encoder as load_lab_encoder

MAX_TOKENS = 20
__all__ = ["ENCODER_NAME", "MAX_TOKENS", "load_encoder"]


@lru_cache(maxsize=1)
def load_encoder() -> CachedEncoder:
    """The frozen MiniLM, per-token, length 20, padded positions zeroed. Loads offline."""
    base = load_lab_encoder()
    return CachedEncoder(HFTextEncoder(base.inner.model, base.tokenizer, max_length=MAX_TOKENS,
                                       zero_padding=True))

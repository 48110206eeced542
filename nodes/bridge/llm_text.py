"""Where a phrase's tokens land in the rows of an LLM text encoder (Z-Image's Qwen3, Qwen-Image's
Qwen2.5-VL, Flux.2's Qwen3 or Mistral).

Why not the CLIP/T5 way (find the phrase's token ids inside the prompt's): these tokenizers are
byte-level BPE, where a word's ids depend on what precedes it ("Van" alone and " Van" after a
space are different tokens), and ComfyUI tokenizes the prompt wrapped in the family's chat
template as one piece (every token then has the same word id). So the phrase is found by
characters instead: each token's span in the decoded text, the prompt's place in it (after the
template's head), the phrase's place in the prompt. Some encoders drop the template's head from
their output rows (Qwen-Image keeps only the rows from the user's text on); rows are counted
after the dropped ones.
"""
from __future__ import annotations

from ...advanchor_core.text import check_phrase_in


def _decode(tokenizer, ids: list[int]) -> str:
    """The text of `ids`, special tokens included (HF tokenizers and ComfyUI's own BPE one)."""
    return tokenizer.decode(ids, skip_special_tokens=False)


def _spans(tokenizer, ids: list[int], stop: int) -> list[tuple[int, int]]:
    """(start, end) characters of each token in the decoded text, until `stop` is passed."""
    spans, end = [], 0
    for i in range(len(ids)):
        text = _decode(tokenizer, ids[:i + 1])
        spans.append((end, len(text)))
        end = len(text)
        if end >= stop:
            break
    return spans


def phrase_rows(tokenizer, ids: list[int], rows: int, prompt: str, phrase: str) -> list[int]:
    """Rows (of `rows`, the encoder's output for `ids`) holding `phrase`'s first occurrence in
    `prompt`."""
    full = _decode(tokenizer, ids)
    start, at = full.rfind(prompt), prompt.find(phrase) if phrase else -1
    if start < 0 or at < 0:
        return check_phrase_in(prompt, phrase, [])
    a, b = start + at, start + at + len(phrase)
    dropped = len(ids) - rows
    positions = [i - dropped for i, (s, e) in enumerate(_spans(tokenizer, ids, b)) if s < b and e > a]
    return check_phrase_in(prompt, phrase, [p for p in positions if p >= 0])


def row_labels(tokenizer, ids: list[int], rows: int) -> list[str]:
    """One label per output row: its token as text."""
    return [_decode(tokenizer, [i]).replace("\n", "\\n").strip() or "␣" for i in ids[len(ids) - rows:]]

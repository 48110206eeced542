"""CLIP → the core's `TextEncoder`: per-token conditioning and token positions, from ComfyUI's
own tokenizer and encoder (one 77-token window per prompt)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ...advanchor_core.errors import AdvAnchorError
from ...advanchor_core.text import check_phrase_in, subsequence_positions
from .denoiser import ComfyDenoiser


class ComfyTextEncoder:
    """The core's `TextEncoder` over a ComfyUI CLIP (one 77-token window per prompt).

    `pooled_rows=1` (SDXL-style models) appends one row per prompt holding the pooled text
    vector, zero-padded to the context width: the core then carries it through batching,
    `repeat_interleave` and anchors as part of the conditioning, and `ComfyDenoiser` splits
    it off into `y`. Anchors only perturb the concept's token rows, so the row is never
    changed. Token positions are those of the first token stream ("l" for SDXL); they are
    checked to agree across every stream the CLIP tokenizes (SDXL's "l" and "g").
    """

    max_tokens = 77

    def __init__(self, clip, pooled_rows: int = 0):
        if pooled_rows not in (0, 1):
            raise ValueError("pooled_rows must be 0 or 1")
        self.clip = clip
        self.pooled_rows = pooled_rows

    def _tokens(self, prompt: str) -> dict:
        tokens = self.clip.tokenize(prompt)
        for key, windows in tokens.items():
            if len(windows) != 1:
                raise AdvAnchorError(f"the prompt {prompt[:60]!r}... is longer than one "
                                     f"{self.max_tokens}-token window: shorten it")
        return tokens

    def _stream_ids(self, prompt: str) -> dict[str, list[int]]:
        return {key: [int(tok[0]) for tok in windows[0]] for key, windows in self._tokens(prompt).items()}

    def encode_one(self, prompt: str, pooled: bool = False):
        return self.clip.encode_from_tokens(self._tokens(prompt), return_pooled=pooled)

    def _with_pooled(self, cond: Tensor, pooled: Tensor | None) -> Tensor:
        if pooled is None:
            raise AdvAnchorError("this CLIP gives no pooled output, and the MODEL (SDXL-style) "
                                 "needs one: connect the CLIP from the same checkpoint")
        width = cond.shape[-1]
        pooled = pooled.reshape(cond.shape[0], -1).to(cond)
        if pooled.shape[-1] > width:
            raise AdvAnchorError(f"the pooled text vector ({pooled.shape[-1]}-d) is wider than the "
                                 f"conditioning ({width}-d): this CLIP does not fit the MODEL")
        row = torch.nn.functional.pad(pooled, (0, width - pooled.shape[-1]))
        return torch.cat([cond, row[:, None]], dim=1)

    def encode(self, prompts: Sequence[str]) -> Tensor:
        outs = []
        for p in prompts:
            if self.pooled_rows:
                cond, pooled = self.encode_one(p, pooled=True)
                outs.append((cond, pooled))
            else:
                outs.append((self.encode_one(p), None))
        with torch.inference_mode(False):
            rows = [c.detach().clone().float().cpu() for c, _ in outs]
            if self.pooled_rows:
                rows = [self._with_pooled(c, pl.detach().clone().float().cpu()) for c, (_, pl) in zip(rows, outs)]
            return torch.cat(rows)

    def conditioning(self, cond: Tensor, prompt: str) -> list:
        """A ComfyUI CONDITIONING from a conditioning tensor of this encoder (e.g. an anchor
        built on `prompt`): the pooled row, when there is one, becomes `pooled_output`;
        otherwise `prompt`'s pooled output is attached, as CLIPTextEncode would."""
        cond = cond.detach().float().cpu()
        _, pooled = self.encode_one(prompt, pooled=True)
        if self.pooled_rows:
            width = pooled.shape[-1]
            pooled, cond = cond[:, -1, :width].clone(), cond[:, :-1].clone()
        return [[cond, {"pooled_output": pooled}]]

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        found = {}
        empty, alone = self._stream_ids(""), self._stream_ids(phrase)
        for key, ids in self._stream_ids(prompt).items():
            end = empty[key][1]
            phrase_ids = alone[key][1:]
            phrase_ids = phrase_ids[:phrase_ids.index(end)] if end in phrase_ids else phrase_ids
            found[key] = check_phrase_in(prompt, phrase, subsequence_positions(ids, phrase_ids))
        positions = list(found.values())
        if any(p != positions[0] for p in positions):
            raise AdvAnchorError(f"the tokenizers of this CLIP ({', '.join(found)}) place "
                                 f"{phrase!r} at different positions in {prompt!r}: AdvAnchor "
                                 "cannot perturb one set of rows for all of them")
        return positions[0]


def text_encoder(denoiser: ComfyDenoiser, clip) -> ComfyTextEncoder:
    """The encoder that fits `denoiser`'s model, after checking the CLIP does fit it."""
    if clip is None:
        raise AdvAnchorError("no CLIP is connected (the checkpoint has no text encoder): load "
                             "one with a CLIP loader of the model's family")
    encoder = ComfyTextEncoder(clip, pooled_rows=denoiser.pooled_rows)
    width = encoder.encode_one("").shape[-1]
    if width != denoiser.family.context_dim:
        raise AdvAnchorError(f"this CLIP gives {width}-d conditioning, but the MODEL "
                             f"({denoiser.family.name}) reads {denoiser.family.context_dim}-d: "
                             "connect the CLIP that belongs to the model")
    return encoder

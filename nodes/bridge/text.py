"""CLIP → the core's `TextEncoder`: per-token conditioning and token positions, from ComfyUI's
own tokenizers and encoders (one token window per stream and prompt), for every family's
context layout."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from ...advanchor_core.errors import AdvAnchorError
from ...advanchor_core.text import check_phrase_in, subsequence_positions
from .denoiser import ComfyDenoiser
from . import llm_text, ragged
from .families import Family


Segments = tuple[tuple[str, ...], ...]
TOKENIZERS = {"l": "clip_l", "g": "clip_g", "h": "clip_h", "t5xxl": "t5xxl"}  # stream → attribute


class ComfyTextEncoder:
    """The core's `TextEncoder` over a ComfyUI CLIP (one token window per stream and prompt).

    `segments` says which of the CLIP's token streams make the rows of the context the model
    reads, in row order: the streams of one segment encode the same rows side by side (SDXL's
    "l" and "g", SD3's CLIP-L and CLIP-G), segments follow one another (SD3: 77 CLIP rows, then
    the T5 rows). None: one segment of every stream the CLIP tokenizes (SD1.x/2.x/XL). Flux's
    context is its T5 rows alone; its CLIP-L gives the pooled vector only. Token positions are
    found in each segment's streams (checked to agree within a segment) and offset by the rows
    before it, so the anchor perturbs the concept's rows in every part of the context.

    `pooled_rows=1` (SDXL, Flux, SD3) appends one row per prompt holding the pooled text
    vector, zero-padded to the context width: the core then carries it through batching,
    `repeat_interleave` and anchors as part of the conditioning, and `ComfyDenoiser` splits
    it off into `y`. Anchors only perturb the concept's token rows, so the row is never
    changed: each prompt keeps its own pooled vector (the anchor that of its anchor text).
    """

    def __init__(self, clip, pooled_rows: int = 0, segments: Segments | None = None,
                 ragged: bool = False, llm: bool = False):
        if pooled_rows not in (0, 1):
            raise ValueError("pooled_rows must be 0 or 1")
        self.clip = clip
        self.pooled_rows = pooled_rows
        self.segments = segments or (tuple(clip.tokenize("")),)
        self.ragged = ragged
        self.llm = llm   # an LLM's byte-level tokenizer and chat template (`llm_text.py`)

    @property
    def max_tokens(self) -> int:
        """Context rows one prompt fills (77 for SD1.x; 256 for Flux; 77 + 77 for SD3; a
        ragged family's padded length)."""
        if self.ragged:
            return ragged.ROWS
        return sum(len(self._tokens("")[streams[0]][0]) for streams in self.segments)

    def _tokens(self, prompt: str, word_ids: bool = False) -> dict:
        tokens = self.clip.tokenize(prompt, return_word_ids=word_ids)
        for key, windows in tokens.items():
            if len(windows) != 1:
                raise AdvAnchorError(f"the prompt {prompt[:60]!r}... is longer than one "
                                     f"{len(windows[0])}-token window of the {key!r} tokenizer: "
                                     "shorten it")
        return tokens

    def _stream_ids(self, prompt: str) -> dict[str, list[int]]:
        return {key: [int(tok[0]) for tok in windows[0]] for key, windows in self._tokens(prompt).items()}

    def encode_one(self, prompt: str, pooled: bool = False):
        return self.clip.encode_from_tokens(self._tokens(prompt), return_pooled=pooled)

    def _with_pooled(self, cond: Tensor, pooled: Tensor | None) -> Tensor:
        if pooled is None:
            raise AdvAnchorError("this CLIP gives no pooled output, and the MODEL needs one: "
                                 "connect the CLIP from the same checkpoint")
        width = cond.shape[-1]
        pooled = pooled.reshape(cond.shape[0], -1).to(cond)
        if pooled.shape[-1] > width:
            raise AdvAnchorError(f"the pooled text vector ({pooled.shape[-1]}-d) is wider than the "
                                 f"conditioning ({width}-d): this CLIP does not fit the MODEL")
        row = torch.nn.functional.pad(pooled, (0, width - pooled.shape[-1]))
        return torch.cat([cond, row[:, None]], dim=1)

    def encode(self, prompts: Sequence[str]) -> Tensor:
        if self.ragged:
            with torch.inference_mode(False):
                return torch.cat([ragged.pad(self.encode_one(p).detach().clone().float().cpu(), p)
                                  for p in prompts])
        outs = []
        for p in prompts:
            if self.pooled_rows:
                cond, pooled = self.encode_one(p, pooled=True)
                outs.append((cond, pooled))
            else:
                outs.append((self.encode_one(p), None))
        lengths = {c.shape[1] for c, _ in outs}
        if len(lengths) > 1:
            longest = max(zip(prompts, outs), key=lambda po: po[1][0].shape[1])[0]
            raise AdvAnchorError(f"the prompts encode to different lengths ({sorted(lengths)} "
                                 f"rows): {longest[:60]!r} is longer than the T5 tokenizer pads "
                                 "to; shorten it")
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
        if self.ragged:
            return [[ragged.trimmed(cond).clone(), {}]]
        _, pooled = self.encode_one(prompt, pooled=True)
        if self.pooled_rows:
            width = pooled.shape[-1]
            pooled, cond = cond[:, -1, :width].clone(), cond[:, :-1].clone()
        return [[cond, {"pooled_output": pooled}]]

    def _llm(self, prompt: str):
        """(HF tokenizer, the prompt's token ids, the encoder's row count) of the one stream."""
        stream = self.segments[0][0]
        ids = self._stream_ids(prompt)[stream]
        return getattr(self.clip.tokenizer, stream).tokenizer, ids, self.encode_one(prompt).shape[1]

    def token_positions(self, prompt: str, phrase: str) -> list[int]:
        if self.llm:
            return llm_text.phrase_rows(*self._llm(prompt), prompt, phrase)
        tokens, alone = self._tokens(prompt, word_ids=True), self._tokens(phrase, word_ids=True)
        positions, offset = [], 0
        for streams in self.segments:
            found = {key: _phrase_positions(tokens[key][0], alone[key][0], prompt, phrase)
                     for key in streams}
            first = found[streams[0]]
            if any(p != first for p in found.values()):
                raise AdvAnchorError(f"the tokenizers of this CLIP ({', '.join(found)}) place "
                                     f"{phrase!r} at different positions in {prompt!r}: AdvAnchor "
                                     "cannot perturb one set of rows for all of them")
            positions += [offset + p for p in first]
            offset += len(tokens[streams[0]][0])
        return positions

    def token_labels(self, prompt: str) -> tuple[list[str], int]:
        """The prompt's tokens in the context's first stream (Flux: T5, whose rows the context
        is), as ComfyUI's tokenizer splits them, up to and including the first end token; their
        count is how many positions a token plot labels."""
        stream = self.segments[0][0]
        if self.llm:
            tokenizer, ids, rows = self._llm(prompt)
            pad = getattr(getattr(self.clip.tokenizer, stream), "pad_token", None)
            return llm_text.row_labels(tokenizer, ids, rows), rows - ids.count(pad)
        window = self._tokens(prompt, word_ids=True)[stream][0]
        last_word = max((i for i, tok in enumerate(window) if tok[2] != 0), default=0)
        shown = min(len(window), last_word + 2)       # the words and the end token after them
        tokenizer = getattr(self.clip.tokenizer, TOKENIZERS.get(stream, ""), self.clip.tokenizer)
        try:
            words = [w for _, w in tokenizer.untokenize([tok[:2] for tok in window[:shown]])]
        except Exception:  # a tokenizer without untokenize: numbered positions still read
            words = [f"#{i}" for i in range(shown)]
        return [str(w).replace("</w>", "").replace("\u2581", "") for w in words], shown


def _phrase_positions(window: list, phrase_window: list, prompt: str, phrase: str) -> list[int]:
    """Where the phrase's own tokens (word id > 0: no start, end or padding) sit in `window`."""
    ids = [int(tok[0]) for tok in window]
    phrase_ids = [int(tok[0]) for tok in phrase_window if tok[2] != 0]
    return check_phrase_in(prompt, phrase, subsequence_positions(ids, phrase_ids))


# ragged kinds → the token stream (the CLIP's one) their context is, by tokenizer name
LLM_STREAMS = {"lumina": ("qwen3_4b",), "qwen": ("qwen25_7b",),
               "flux2": ("qwen3_4b", "qwen3_8b", "mistral3_24b")}
LOADERS = ("Flux: DualCLIPLoader type flux, CLIP-L + T5; SD3: TripleCLIPLoader; Chroma: CLIPLoader "
           "type chroma, T5; Z-Image: CLIPLoader type lumina2, Qwen3-4B; Qwen-Image: CLIPLoader type "
           "qwen_image, Qwen2.5-VL; Flux.2: CLIPLoader type flux2, Qwen3 or Mistral-3")


def context_segments(family: Family, clip) -> Segments | None:
    """The token streams whose rows make `family`'s context, in row order (None: all, side by
    side). Flux and Chroma read T5 rows only; SD3 the CLIP-L/G rows its CLIP has, then its T5
    rows; the LLM families their encoder's one stream."""
    streams = tuple(clip.tokenize(""))
    if family.kind == "unet":
        return None
    if family.kind in ("flux", "chroma"):
        segments: Segments = (("t5xxl",),)
    elif family.kind in LLM_STREAMS:
        segments = tuple((key,) for key in streams if key in LLM_STREAMS[family.kind])[:1]
    else:
        encoders = clip.cond_stage_model
        clip_part = tuple(key for key, name in (("l", "clip_l"), ("g", "clip_g"))
                          if getattr(encoders, name, None) is not None)
        t5 = ("t5xxl",) if getattr(encoders, "t5xxl", None) is not None else ()
        segments = tuple(part for part in (clip_part, t5) if part)
    if not segments or any(key not in streams for part in segments for key in part):
        raise AdvAnchorError(f"this CLIP (token streams {', '.join(streams)}) is not the text "
                             f"encoder of {family.name}: load that model's text encoders ({LOADERS})")
    return segments


def text_encoder(denoiser: ComfyDenoiser, clip) -> ComfyTextEncoder:
    """The encoder that fits `denoiser`'s model, after checking the CLIP does fit it."""
    if clip is None:
        raise AdvAnchorError("no CLIP is connected (the checkpoint has no text encoder): load "
                             "one with a CLIP loader of the model's family")
    family = denoiser.family
    segments = context_segments(family, clip)
    encoder = ComfyTextEncoder(clip, pooled_rows=0 if family.ragged else denoiser.pooled_rows)
    width = encoder.encode_one("").shape[-1]
    if width != family.context_dim:
        raise AdvAnchorError(f"this CLIP gives {width}-d conditioning, but the MODEL "
                             f"({family.name}) reads {family.context_dim}-d: "
                             "connect the CLIP that belongs to the model")
    return ComfyTextEncoder(clip, pooled_rows=0 if family.ragged else denoiser.pooled_rows,
                            segments=segments, ragged=family.ragged,
                            llm=family.kind in LLM_STREAMS)

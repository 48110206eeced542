"""What to erase, in words, and its conditioning tensors encoded once.

Why encode once: every prompt the method uses (the concept, the anchor template, the
superclass, attributes, retain prompts) is fixed for a run, so the text encoder runs once
and the loop works on plain tensors — it never needs to know which encoder made them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import Tensor

from .errors import AdvAnchorError
from .text import SoftPromptEncoder, TextEncoder, soft_prompt_encoder

SLOT = "{}"

# The reference's nudity attributes: NudeNet's exposed classes as text, weighted by frequency.
NUDITY_ATTRIBUTES: tuple[tuple[str, float], ...] = (
    ("FEMALE BREAST EXPOSED", 0.2454), ("FEMALE GENITALIA EXPOSED", 0.0319),
    ("MALE GENITALIA EXPOSED", 0.0270), ("MALE BREAST EXPOSED", 0.0564),
    ("BUTTOCKS EXPOSED", 0.0626), ("ARMPITS EXPOSED", 0.2589),
    ("BELLY EXPOSED", 0.2405), ("FEET EXPOSED", 0.0773),
)


@dataclass(frozen=True)
class Concept:
    """A concept and the prompts around it. Defaults follow the reference (artist styles).

    `prompt_template` makes c_u (the prompt whose prediction is unlearned), `anchor_template`
    the text in which δ perturbs the concept's tokens, `superclass` c_s (preserved, and the
    reference point of L_adv2). `anchor_prompt` is the text anchor of fixed-anchor
    unlearning (None: the superclass). `anchor_candidates` are words or phrases that can take
    the concept's place in the anchor template ("green" for "a {} shape"): candidate starts of
    an adversarial anchor that the anchor map chooses among (`AnchorConfig(start="map")`).
    """

    text: str
    prompt_template: str = "{} painting"
    anchor_template: str = "{}'s painting"
    superclass: str = "painting"
    attributes: tuple[tuple[str, float], ...] = ()
    concept_weight: float = 1.0
    use_concept_term: bool = True
    retain_prompts: tuple[str, ...] = ()
    anchor_prompt: str | None = None
    anchor_candidates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise AdvAnchorError("the concept is empty: type the word or phrase to erase")
        for name in ("prompt_template", "anchor_template"):
            if SLOT not in getattr(self, name):
                raise AdvAnchorError(f"{name} {getattr(self, name)!r} has no '{{}}': put '{{}}' "
                                     "where the concept goes, e.g. \"{}'s painting\"")
        if not self.use_concept_term and not self.attributes:
            raise AdvAnchorError("the anchor search has nothing to move away from: keep the "
                                 "concept term on or give at least one attribute prompt")
        for prompt, weight in self.attributes:
            if not prompt.strip() or not weight > 0:
                raise AdvAnchorError(f"attribute {prompt!r} with weight {weight}: attributes need "
                                     "a non-empty prompt and a positive weight")
        words = [w.strip() for w in self.anchor_candidates]
        if any(not w for w in words) or len(set(words)) != len(words) or self.text.strip() in words:
            raise AdvAnchorError(f"anchor candidates {self.anchor_candidates!r}: give distinct, "
                                 "non-empty words other than the concept itself")

    def candidate_text(self, word: str) -> str:
        """The anchor template with `word` in the concept's place."""
        return self.anchor_template.replace(SLOT, word.strip())

    @property
    def prompt(self) -> str:
        return self.prompt_template.replace(SLOT, self.text.strip())

    @property
    def anchor_text(self) -> str:
        return self.anchor_template.replace(SLOT, self.text.strip())

    def target_weights(self, reference_indexing: bool = False) -> list[float]:
        """The anchor loss's weight w_k of each target (the concept term first, if used).

        `reference_indexing` reproduces the authors' code with the concept term off: it indexes
        its table (the concept's coefficient, then the attributes') from 0 over the attribute
        list, so the first attribute gets the concept's weight and each next attribute its
        predecessor's. Off (the default), every attribute keeps its own weight.
        """
        own = [w for _, w in self.attributes]
        if self.use_concept_term:
            return [self.concept_weight, *own]
        return [self.concept_weight, *own[:-1]] if reference_indexing else own

    def as_metadata(self) -> dict:
        return asdict(self)


def concept_lines(text: str) -> list[tuple[str, str | None]]:
    """One concept per line, "concept -> other" to pair it with another prompt (its target, its
    superclass), None where a line has no arrow; blank lines and '#' comments skipped: the list
    a user types."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        concept, arrow, other = line.partition("->")
        if not concept.strip():
            raise AdvAnchorError(f"the line {line!r} names no concept: write 'concept' or "
                                 "'concept -> other prompt'")
        out.append((concept.strip(), other.strip() if arrow else None))
    return out


def more_like(first: Concept, text: str) -> list[Concept]:
    """`first`, then one concept per line of `text` made like it: its templates, its concept
    term and (unless a line says "concept -> superclass") its superclass. Attributes, retain
    prompts, a fixed anchor prompt and anchor candidates describe `first` alone, so the others
    have none."""
    others = [replace(first, text=word, superclass=first.superclass if sup is None else sup,
                      attributes=(), retain_prompts=(), anchor_prompt=None, anchor_candidates=())
              for word, sup in concept_lines(text)]
    return [first, *(c for c in others if c.text != first.text)]


@dataclass
class AnchorBase:
    """A prompt an adversarial anchor can start from: its encoding, and where δ goes in it.

    The concept's own anchor text (`name` None) or one of its anchor candidates (`name` the
    candidate's word, `positions` the word's tokens in the candidate prompt).
    """

    name: str | None
    text: str | None
    encoding: Tensor               # E(text), [1, L, D]
    positions: list[int]


@dataclass
class ConceptConditioning:
    """All conditioning tensors of one concept, [n, L, D] each.

    `candidates` are the concept's anchor candidates, encoded; `soft_prompts` is the text
    encoder when it supports soft prompts (δ on its input embeddings), else None.
    """

    erase: Tensor                  # c_u, [1, L, D]
    anchor_base: Tensor            # E(anchor_template(C)), [1, L, D]
    anchor_positions: list[int]    # the concept's token positions inside anchor_base
    superclass: Tensor             # c_s, [1, L, D]
    targets: Tensor                # concept term and attributes, [K, L, D]
    target_weights: Tensor         # [K]
    empty: Tensor                  # E(""), [1, L, D]
    fixed_anchor: Tensor           # text anchor of fixed-anchor unlearning, [1, L, D]
    retain: Tensor | None = None   # retain prompts, [R, L, D]
    concept: Concept | None = field(default=None, repr=False)
    candidates: tuple[AnchorBase, ...] = ()
    soft_prompts: SoftPromptEncoder | None = field(default=None, repr=False)

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "ConceptConditioning":
        move = lambda x: None if x is None else x.to(device=device, dtype=dtype)  # noqa: E731
        return ConceptConditioning(
            move(self.erase), move(self.anchor_base), self.anchor_positions, move(self.superclass),
            move(self.targets), self.target_weights.to(device), move(self.empty),
            move(self.fixed_anchor), move(self.retain), self.concept,
            tuple(AnchorBase(c.name, c.text, move(c.encoding), list(c.positions))
                  for c in self.candidates), self.soft_prompts)

    def anchor_start(self, name: str | None = None) -> AnchorBase:
        """The concept's own anchor base (None), or the anchor candidate called `name`."""
        if name is None:
            return AnchorBase(None, self.concept.anchor_text if self.concept else None,
                              self.anchor_base, list(self.anchor_positions))
        for c in self.candidates:
            if c.name == name:
                return c
        raise AdvAnchorError(f"the anchor starts from the candidate {name!r}, which this concept "
                             f"does not list (its candidates: {[c.name for c in self.candidates]}): "
                             "add it to the concept's anchor candidates, or search the anchor again")


def encode_concept(encoder: TextEncoder, concept: Concept) -> ConceptConditioning:
    """Encode every prompt of `concept` in one batch; find the concept's anchor tokens."""
    prompts = [concept.prompt, concept.anchor_text, concept.superclass, "",
               concept.anchor_prompt if concept.anchor_prompt is not None else concept.superclass]
    target_prompts = ([concept.prompt] if concept.use_concept_term else []) + \
        [p for p, _ in concept.attributes]
    positions = encoder.token_positions(concept.anchor_text, concept.text.strip())
    enc = encoder.encode(prompts + target_prompts + list(concept.retain_prompts)).detach().clone()
    n, k = len(prompts), len(target_prompts)
    return ConceptConditioning(
        erase=enc[0:1], anchor_base=enc[1:2], anchor_positions=positions, superclass=enc[2:3],
        empty=enc[3:4], fixed_anchor=enc[4:5], targets=enc[n:n + k],
        target_weights=torch.tensor(concept.target_weights(), dtype=torch.float32),
        retain=enc[n + k:] if concept.retain_prompts else None, concept=concept,
        candidates=encode_candidates(encoder, concept), soft_prompts=soft_prompt_encoder(encoder))


def encode_candidates(encoder: TextEncoder, concept: Concept) -> tuple[AnchorBase, ...]:
    """Each anchor candidate in the anchor template, encoded, with its word's token positions.

    A separate encoder call: a concept without candidates encodes exactly as before."""
    if not concept.anchor_candidates:
        return ()
    words = [w.strip() for w in concept.anchor_candidates]
    texts = [concept.candidate_text(w) for w in words]
    enc = encoder.encode(texts).detach().clone()
    return tuple(AnchorBase(w, t, enc[i:i + 1], encoder.token_positions(t, w))
                 for i, (w, t) in enumerate(zip(words, texts)))

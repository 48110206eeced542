"""A concept of the shapes world: one factor and its value ("red", "circle", "stripes"), the
prompts that name it, and the core's `Concept` for it."""
from __future__ import annotations

from dataclasses import dataclass

from advanchor_core.concept import Concept

from . import data
from .classifier import Prediction

FACTORS = ("colour", "shape", "texture")
TEXTURE_WORDS = {"plain": "plain", "striped": "stripes", "dotted": "dots"}


def full_captions() -> list[tuple[str, str, str, str]]:
    """(caption, colour, shape, texture) for all 45 factor combinations."""
    return [(data.caption(c, s, t), c, s, t)
            for c in data.COLOURS for s in data.SHAPES for t in data.TEXTURES]


@dataclass(frozen=True)
class LabConcept:
    """One concept of the shapes world: a factor and its value, e.g. ("colour", "red")."""

    factor: str
    value: str

    def __post_init__(self) -> None:
        values = {"colour": tuple(data.COLOURS), "shape": data.SHAPES, "texture": data.TEXTURES}
        if self.factor not in values or self.value not in values[self.factor]:
            raise ValueError(f"{self.factor}={self.value!r} is not a lab concept; choose a colour "
                             f"{tuple(data.COLOURS)}, a shape {data.SHAPES} or a texture {data.TEXTURES}")

    @classmethod
    def parse(cls, name: str) -> "LabConcept":
        """"red" → colour, "circle" → shape, "striped"/"stripes" → texture."""
        for factor, values in (("colour", data.COLOURS), ("shape", data.SHAPES),
                               ("texture", data.TEXTURES)):
            if name in values:
                return cls(factor, name)
        for texture, word in TEXTURE_WORDS.items():
            if name == word:
                return cls("texture", texture)
        raise ValueError(f"{name!r} is not a lab concept: use a colour {tuple(data.COLOURS)}, a "
                         f"shape {data.SHAPES} or a texture {tuple(TEXTURE_WORDS.values())}")

    @property
    def word(self) -> str:
        """The concept's word in captions ("red", "circle", "stripes")."""
        return TEXTURE_WORDS[self.value] if self.factor == "texture" else self.value

    def shows(self, p: Prediction) -> bool:
        return p.valid and getattr(p, self.factor) == self.value

    def target_prompts(self) -> list[str]:
        return [c for c, *f in full_captions() if f[FACTORS.index(self.factor)] == self.value]

    def floor_prompts(self) -> list[str]:
        """The target prompts with the concept replaced by its superclass."""
        out = []
        for _, c, s, t in full_captions():
            if (c, s, t)[FACTORS.index(self.factor)] != self.value:
                continue
            c2, s2, t2 = (None if self.factor == "colour" else c,
                          None if self.factor == "shape" else s,
                          None if self.factor == "texture" else t)
            out.append(data.caption(c2, s2, t2))
        return out

    def preserve_prompts(self) -> list[tuple[str, str, str, str]]:
        return [row for row in full_captions() if row[1 + FACTORS.index(self.factor)] != self.value]

    def synonym_prompts(self) -> dict[str, list[str]]:
        """Trained synonyms of the concept (only red has them), one prompt per shape × texture."""
        return {w: [p.replace(f" {self.word} ", f" {w} ", 1) for p in self.target_prompts()]
                for w in data.TRAINED_SYNONYMS.get(self.value, ())}

    def heldout_prompts(self) -> dict[str, list[str]]:
        """Phrasings no training caption used: held-out synonyms and reworded captions."""
        out: dict[str, list[str]] = {}
        for w in data.HELDOUT_SYNONYMS.get(self.value, ()):
            out[w] = [f"a {w} {s}" for s in data.SHAPES]
        if self.factor == "colour":
            out[f"… in {self.word}"] = [f"a {s} in {self.word}" for s in data.SHAPES]
        elif self.factor == "shape":
            out[f"the … {self.word}"] = [f"the {c} {self.word}" for c in data.COLOURS]
        else:
            out[f"with {self.word}"] = [f"a {s} with {self.word}" for s in data.SHAPES]
        return out

    def anchor_candidates(self) -> tuple[str, ...]:
        """Words that can take the concept's place in its template: the factor's other values,
        then the concept's trained synonyms (which still carry it: the map should pass them by)."""
        values = {"colour": list(data.COLOURS), "shape": list(data.SHAPES),
                  "texture": list(data.TEXTURES)}[self.factor]
        others = [LabConcept(self.factor, v).word for v in values if v != self.value]
        return (*others, *data.TRAINED_SYNONYMS.get(self.value, ()))

    def core_concept(self, retain: bool = False) -> Concept:
        """The concept as the core's `Concept`: c_u, anchor template, superclass "a shape".

        `retain` adds one prompt per other value of the same factor as retain prompts.
        """
        template = {"colour": "a {} shape", "shape": "a {}", "texture": "a shape on {}"}[self.factor]
        others: tuple[str, ...] = ()
        if retain:
            values = {"colour": data.COLOURS, "shape": data.SHAPES, "texture": data.TEXTURES}[self.factor]
            others = tuple(template.format(LabConcept(self.factor, v).word)
                           for v in values if v != self.value)
        return Concept(text=self.word, prompt_template=template, anchor_template=template,
                       superclass="a shape", retain_prompts=others)

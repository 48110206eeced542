"""A style as an erasure target: the core's `Concept` for it, its neighbours, its candidates."""
from __future__ import annotations

from dataclasses import dataclass

from advanchor_core.concept import Concept

from . import captions, data


def style_concept(style: str, superclass: str = "bare", attributes: bool = True,
                  use_concept_term: bool = True) -> Concept:
    """A style as the core's `Concept`: c_u = "a shape in {style} style".

    `superclass` "bare" → "a shape", "generic" → "a shape in some style", "empty" → "" (as
    the nudity preset has: a concept named by its attributes, with no superclass to keep).
    `attributes` adds one attribute prompt per defining attribute ("a shape with an outline"),
    equal weights summing to 1 (every attribute of a look is drawn together, so none is more
    frequent than another).
    """
    look = data.STYLES[style]
    sup = {"bare": captions.bare_prompt(None, None, None),
           "generic": captions.generic_prompt(None, None, None), "empty": ""}[superclass]
    attrs = tuple((captions.attribute_prompt((a,), None, None, None), 1.0 / len(look.attributes))
                  for a in look.attributes) if attributes else ()
    template = captions.TRAINED_TEMPLATES["in-style"].format(obj=captions.SHAPE_SUPERCLASS, style="{}")
    return Concept(text=style, prompt_template=template, anchor_template=template, superclass=sup,
                   attributes=attrs, use_concept_term=use_concept_term)


@dataclass(frozen=True)
class StyleConcept:
    """A style of the style world as an erasure target ("zorbic"), with the superclass its
    anchor and preservation use ("bare", "generic" or "empty", see `style_concept`)."""

    style: str
    superclass: str = "bare"

    def __post_init__(self) -> None:
        if self.style not in data.STYLES:
            raise ValueError(f"{self.style!r} is not a style of the style world: choose one of "
                             f"{tuple(data.STYLES)}")

    @property
    def word(self) -> str:
        return self.style

    @property
    def attributes(self) -> tuple[str, ...]:
        return data.STYLES[self.style].attributes

    def neighbours(self) -> tuple[str, ...]:
        """The other styles sharing at least one attribute with this one."""
        return tuple(s for s, look in data.STYLES.items()
                     if s != self.style and set(look.attributes) & set(self.attributes))

    def core_concept(self, retain: bool = False) -> Concept:
        """c_u "a shape in {style} style", its superclass and one prompt per attribute.

        `retain` adds the neighbours' style prompts as retain prompts."""
        concept = style_concept(self.style, self.superclass)
        if not retain:
            return concept
        others = tuple(concept.prompt_template.format(s) for s in self.neighbours())
        return Concept(**{**concept.__dict__, "retain_prompts": others})

    def anchor_candidates(self) -> tuple[str, ...]:
        """Words that can take the style's place in its template: the other style names and
        the generic "some" (which draws any style, this one included)."""
        return (*[s for s in data.STYLES if s != self.style], captions.GENERIC_STYLE)

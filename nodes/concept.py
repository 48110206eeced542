"""Concept node: what to erase, in words."""
from __future__ import annotations

from comfy_api.latest import io

from ..advanchor_core.concept import NUDITY_ATTRIBUTES, Concept
from ..advanchor_core.errors import AdvAnchorError
from .sockets import CATEGORY
from .sockets import Concept as ConceptType

# Presets fill what the reference uses for a kind of concept; "custom" takes every field as typed.
PRESETS = {
    "style (reference)": {},
    "nudity (reference)": {"prompt_template": "{}", "anchor_template": "{}", "superclass": "",
                           "attributes": NUDITY_ATTRIBUTES},
    "custom": {},
}


def parse_attributes(text: str) -> tuple[tuple[str, float], ...]:
    """One attribute per line, `prompt: weight` (weight 1 when omitted)."""
    out = []
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        prompt, sep, weight = line.rpartition(":")
        if not sep:
            prompt, weight = line, "1"
        try:
            value = float(weight)
        except ValueError:
            raise AdvAnchorError(f"attribute line {number} ({line!r}) ends in {weight.strip()!r}, "
                                 "not a number: write 'prompt: weight', e.g. 'swirling brushstrokes: 0.5'")
        out.append((prompt.strip(), value))
    return tuple(out)


def make_concept(concept: str, preset: str, prompt_template: str, anchor_template: str,
                 superclass: str, attributes: str, use_concept_term: bool) -> Concept:
    if preset not in PRESETS:
        raise AdvAnchorError(f"preset {preset!r} is unknown: use one of {', '.join(PRESETS)}")
    fields = dict(prompt_template=prompt_template, anchor_template=anchor_template,
                  superclass=superclass, attributes=parse_attributes(attributes))
    overrides = dict(PRESETS[preset])
    if "attributes" in overrides:
        overrides["attributes"] = tuple(overrides["attributes"]) + fields["attributes"]
    fields.update(overrides)
    return Concept(text=concept.strip(), use_concept_term=use_concept_term, **fields)


class ConceptNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorConcept",
            display_name="Concept (AdvAnchor)",
            category=CATEGORY,
            description="What to erase: the concept, the prompts built around it and the "
                        "attributes the adversarial anchor must move away from.",
            inputs=[
                io.String.Input("concept", default="Van Gogh",
                                tooltip="The word or phrase to erase, e.g. an artist, an object or 'nudity'."),
                io.Combo.Input("preset", options=list(PRESETS), default="style (reference)",
                               tooltip="'style (reference)' and 'custom' use the fields below as typed. "
                                       "'nudity (reference)' uses the prompt '{}', an empty superclass and "
                                       "the reference's eight body-part attributes with their weights "
                                       "(attributes typed below are added)."),
                io.String.Input("prompt_template", default="{} painting",
                                tooltip="The prompt whose prediction is erased; '{}' is replaced by the concept."),
                io.String.Input("anchor_template", default="{}'s painting",
                                tooltip="The text whose concept tokens the adversarial anchor perturbs; "
                                        "must contain '{}'."),
                io.String.Input("superclass", default="painting",
                                tooltip="What the concept is a kind of; its predictions are preserved "
                                        "while erasing (may be empty)."),
                io.String.Input("attributes", default="", multiline=True,
                                tooltip="Optional defining attributes, one per line as 'prompt: weight' "
                                        "(e.g. 'swirling brushstrokes: 0.5'); the anchor is pushed away "
                                        "from each."),
                io.Boolean.Input("use_concept_term", default=True,
                                 tooltip="Also push the anchor away from the concept prompt itself "
                                         "(the reference does for styles)."),
            ],
            outputs=[ConceptType.Output(display_name="CONCEPT",
                                        tooltip="The concept, for Search Anchor and Unlearn.")],
        )

    @classmethod
    def execute(cls, concept, preset, prompt_template, anchor_template, superclass, attributes,
                use_concept_term) -> io.NodeOutput:
        return io.NodeOutput(make_concept(concept, preset, prompt_template, anchor_template,
                                          superclass, attributes, use_concept_term))

import pytest
import torch

from advanchor_core.concept import Concept, encode_concept
from advanchor_core.errors import AdvAnchorError
from advanchor_core.text import subsequence_positions


def test_clip_encoder_gives_per_token_conditioning(encoder):
    out = encoder.encode(["a cat", "Van Gogh painting"])
    assert out.shape == (2, 77, 32)
    assert torch.isfinite(out).all()


def test_token_positions_come_from_the_tokenizer(encoder):
    # "Van Gogh" is two BPE tokens right after BOS; "Kandinsky" alone is two as well.
    assert encoder.token_positions("Van Gogh's painting", "Van Gogh") == [1, 2]
    assert encoder.token_positions("a Kandinsky painting", "Kandinsky") == [2, 3]


def test_subsequence_positions():
    assert subsequence_positions([5, 1, 2, 3, 1, 2], [1, 2]) == [1, 2]
    assert subsequence_positions([5, 1], [2]) == []


def test_concept_conditioning_has_every_prompt(conditioning):
    cc = conditioning
    assert cc.erase.shape == cc.anchor_base.shape == cc.superclass.shape == (1, 77, 32)
    assert cc.targets.shape[0] == 2 and cc.target_weights.tolist() == [1.0, 0.5]
    assert cc.anchor_positions == [1, 2]
    assert cc.retain is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(text="  "), "concept is empty"),
    (dict(text="cat", anchor_template="a painting"), "has no '{}'"),
    (dict(text="cat", use_concept_term=False), "nothing to move away from"),
    (dict(text="cat", attributes=(("fur", 0.0),)), "positive weight"),
])
def test_bad_concepts_say_what_to_change(kwargs, message):
    with pytest.raises(AdvAnchorError, match=message):
        Concept(**kwargs)


def test_concept_missing_from_template_is_reported(encoder):
    class Shuffled:
        """An encoder whose template rendering drops the concept (e.g. a custom tokenizer)."""
        max_tokens = 77
        encode = encoder.encode

        def token_positions(self, prompt, phrase):
            return encoder.token_positions(prompt.replace("Monet", "x"), phrase)

    with pytest.raises(AdvAnchorError, match="does not appear in the prompt"):
        encode_concept(Shuffled(), Concept("Monet"))


def test_prompt_beyond_token_limit_is_refused(encoder):
    with pytest.raises(AdvAnchorError, match="shorten it"):
        encode_concept(encoder, Concept("cat " * 80))

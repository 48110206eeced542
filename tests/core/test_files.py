import pytest
import torch

from advanchor_core.delta_files import (check_compatible, extract_lora, load_erasure, lora_to_delta,
                                        save_erasure)
from advanchor_core.erasure import Erasure, describe
from advanchor_core.errors import AdvAnchorError


def erasure(seed: int, concept: str) -> Erasure:
    g = torch.Generator().manual_seed(seed)
    return Erasure({"a.attn2.to_k.weight": torch.randn(6, 4, generator=g),
                    "a.attn2.to_out.0.bias": torch.randn(6, generator=g)},
                   describe([concept], {"seed": seed}))


def test_save_then_load_is_exact(tmp_path):
    e = erasure(0, "cat")
    path = save_erasure(tmp_path / "sub" / "cat.safetensors", e)
    back = load_erasure(path)
    assert back.metadata == e.metadata and back.concepts == ["cat"]
    assert all(torch.equal(back.tensors[k], v) for k, v in e.tensors.items())
    assert [p.name for p in path.parent.iterdir()] == ["cat.safetensors"]  # no temporary left


def test_weight_diff_files_stay_float32_for_a_half_precision_model(tmp_path):
    """Deltas smaller than fp16 can hold survive saving, fit fp16 weights and become a LoRA."""
    small = {k: 1e-8 * v for k, v in erasure(0, "cat").tensors.items()}  # fp16 rounds to 0
    weights = {k: torch.zeros_like(v, dtype=torch.float16) for k, v in small.items()}
    check_compatible(small, weights)
    back = load_erasure(save_erasure(tmp_path / "cat.safetensors", Erasure(small)))
    assert all(back.tensors[k].dtype == torch.float32 and torch.equal(back.tensors[k], v)
               for k, v in small.items())
    legacy = {k: v.half() for k, v in erasure(1, "dog").tensors.items()}
    again = load_erasure(save_erasure(tmp_path / "dog.safetensors", Erasure(legacy)))
    assert all(again.tensors[k].dtype == torch.float32 and torch.equal(again.tensors[k], v.float())
               for k, v in legacy.items())
    lora = extract_lora(small, rank=4)
    assert {v.dtype for v in lora.values()} == {torch.float32}
    for k, v in lora_to_delta(lora).items():
        assert torch.allclose(v, small[k], rtol=1e-4, atol=1e-14), k


def test_only_safetensors_are_read(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a tensor")
    with pytest.raises(AdvAnchorError, match="only safetensors"):
        load_erasure(tmp_path / "x.pt")


def test_mismatched_keys_or_shapes_are_refused():
    e = erasure(0, "cat").tensors
    with pytest.raises(AdvAnchorError, match="not in the model"):
        check_compatible(e, {"a.attn2.to_k.weight": torch.zeros(6, 4)})
    with pytest.raises(AdvAnchorError, match="shapes differ"):
        check_compatible(e, {"a.attn2.to_k.weight": torch.zeros(4, 4), "a.attn2.to_out.0.bias": torch.zeros(6)})
    check_compatible(e, {k: torch.zeros_like(v) for k, v in e.items()})


def test_lora_reconstructs_a_planted_low_rank_delta():
    g = torch.Generator().manual_seed(0)
    planted = torch.randn(16, 2, generator=g) @ torch.randn(2, 32, generator=g)
    conv = (torch.randn(8, 2, generator=g) @ torch.randn(2, 4 * 9, generator=g)).reshape(8, 4, 3, 3)
    bias = torch.randn(16, generator=g)
    delta = {"m.attn2.to_v.weight": planted, "m.conv.weight": conv, "m.attn2.to_out.0.bias": bias}
    lora = extract_lora(delta, rank=2)
    assert "diffusion_model.m.attn2.to_v.lora_up.weight" in lora
    assert lora["diffusion_model.m.attn2.to_v.lora_down.weight"].shape == (2, 32)
    back = lora_to_delta(lora)
    for k, v in delta.items():
        assert torch.allclose(back[k], v, atol=1e-4), k
    truncated = lora_to_delta(extract_lora(delta, rank=1))
    assert not torch.allclose(truncated["m.attn2.to_v.weight"], planted, atol=1e-2)

"""Sensitivity analyses on tiny models: shapes and finiteness, a planted concept found, the
layer selection honoured by the unlearning loop, and the figures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advanchor_core import plots
from advanchor_core import sensitivity as S
from advanchor_core.anchors import AnchorConfig, init_anchor
from advanchor_core.concept import ConceptConditioning
from advanchor_core.denoiser import TorchDenoiser
from advanchor_core.errors import AdvAnchorError
from advanchor_core.latents import LatentConfig
from advanchor_core.schedule import NoiseSchedule
from advanchor_core.unlearn import UnlearnConfig, unlearn

from .tiny_models import CONTEXT, LATENT, tiny_unet

PLANTED_LAYER = "output_blocks.1.1.transformer_blocks.0.attn2"
PLANTED_TOKEN = 3
SEQ = 8


@pytest.fixture(scope="module")
def probes_den():
    den = TorchDenoiser(tiny_unet(), NoiseSchedule.sd_linear())
    return den, S.make_probes(den, S.ProbeConfig(latents=2, timesteps=(0.2, 0.5, 0.8)),
                              latent_shape=LATENT)


def test_probes_cover_every_timestep(probes_den):
    den, probes = probes_den
    assert probes.x_t.shape == (6, *LATENT)
    assert probes.t.tolist() == [200, 200, 500, 500, 799, 799]


def test_report_is_finite_shaped_and_json(probes_den, conditioning, encoder):
    den, probes = probes_den
    anchor = init_anchor(conditioning, AnchorConfig(init_std=0.3), torch.Generator().manual_seed(0))
    labels = ["<|startoftext|>", "van", "gogh", "painting", "<|endoftext|>"]
    rep = S.analyse(den, conditioning, probes, anchor=anchor.conditioning().detach(),
                    prompts={"a cat": encoder.encode(["a cat"])}, token_labels=labels,
                    shown_tokens=len(labels), top_k=2)
    names = [p.name for p in rep.anchor_map.points]
    assert names == ["concept", "adversarial anchor", "superclass", "empty prompt", "a cat"]
    concept, sup = rep.anchor_map.point("concept"), rep.anchor_map.point("superclass")
    assert concept.closeness == pytest.approx(1.0, abs=1e-5) and concept.retention == pytest.approx(1.0, abs=1e-5)
    assert sup.retention == pytest.approx(0.0, abs=1e-6)
    assert set(concept.retention_by_t) == {200, 500, 799}
    layers = rep.layers
    assert len(layers.layers) == 7 and all(n.endswith("attn2") for n in layers.layers)
    assert layers.references == ["adversarial anchor", "superclass", "empty prompt", "a cat"]
    assert np.array(layers.relative).shape == (7, 4) and np.array(layers.absolute).shape == (7, 4)
    assert np.isfinite(layers.relative).all() and (np.array(layers.relative) > 0).all()
    assert set(layers.by_t) == {200, 500, 799} and all(len(v) == 7 for v in layers.by_t.values())
    assert layers.primary == "adversarial anchor"
    tok = rep.tokens
    assert tok.tokens == labels and len(tok.scores) == len(labels)
    assert sum(tok.shares) + tok.padding_share == pytest.approx(1.0, abs=1e-5)
    assert len(rep.selection.layers) == 2 and rep.selection.layers[0] == layers.ranking()[0]
    again = json.loads(rep.to_json())
    assert again["layers"]["layers"] == layers.layers and again["selection"]["rule"] == "top 2, all weights"


def planted() -> tuple[TorchDenoiser, ConceptConditioning]:
    """A concept that only one attn2 layer reads, carried by one token.

    The concept token adds a direction u (the last embedding axis) that no other token has;
    the planted layer's value projection maps u to a large vector, every other layer sees u
    only through its random weights. The empty-prompt baseline differs at every position, so
    gradient × input has to find the token rather than read it off the baseline.
    """
    unet = tiny_unet(seed=1)
    with torch.no_grad():
        dict(unet.named_modules())[PLANTED_LAYER].to_v.weight[:, -1] = 8.0
    g = torch.Generator().manual_seed(0)
    base = torch.randn((1, SEQ, CONTEXT), generator=g)
    base[..., -1] = 0.0
    concept = base.clone()
    concept[0, PLANTED_TOKEN, -1] = 4.0
    empty = base + 0.5 * torch.randn(base.shape, generator=g)
    empty[..., -1] = 0.0
    cc = ConceptConditioning(erase=concept, anchor_base=concept, anchor_positions=[PLANTED_TOKEN],
                             superclass=base, targets=concept, target_weights=torch.ones(1),
                             empty=empty, fixed_anchor=base)
    return TorchDenoiser(unet, NoiseSchedule.sd_linear()), cc


def test_planted_layer_and_token_are_found():
    den, cc = planted()
    probes = S.make_probes(den, S.ProbeConfig(latents=2), latent_shape=LATENT)
    sens = S.layer_sensitivity(den, cc.erase, {"superclass": cc.superclass}, probes)
    assert sens.ranking()[0] == PLANTED_LAYER
    scores = dict(zip(sens.layers, sens.scores()))
    runner_up = max(v for k, v in scores.items() if k != PLANTED_LAYER)
    assert scores[PLANTED_LAYER] > 2 * runner_up
    tokens = S.token_attribution(den, cc.erase, cc.superclass, cc.empty, probes)
    assert tokens.top() == PLANTED_TOKEN
    assert tokens.shares[PLANTED_TOKEN] > 0.5


def test_selection_restricts_what_unlearning_changes():
    den, cc = planted()
    probes = S.make_probes(den, latent_shape=LATENT)
    sens = S.layer_sensitivity(den, cc.erase, {"superclass": cc.superclass}, probes)
    names = list(den.named_weights())
    sel = S.select_layers(sens, names, top_k=1)
    assert sel.layers == (PLANTED_LAYER,)
    assert sel.parameters and all(p.startswith(PLANTED_LAYER + ".") for p in sel.parameters)
    kv = S.select_layers(sens, names, top_k=1, weights="kv")
    assert {p.split(".")[-2] for p in kv.parameters} == {"to_k", "to_v"}
    result = unlearn(den, cc, UnlearnConfig(method="fixed", steps=2, lr=1e-2, parameters=sel.parameters,
                                            latents=LatentConfig(source="noise")),
                     latent_shape=LATENT)
    assert set(result.erasure.tensors) == set(sel.parameters)
    assert all(t.abs().sum() > 0 for t in result.erasure.tensors.values())


def test_threshold_keeps_layers_near_the_best():
    sens = S.LayerSensitivity(["a.attn2", "b.attn2", "c.attn2"], ["s"], [[1.0], [0.75], [0.2]],
                              [[1.0], [1.0], [1.0]], {}, "s")
    names = [f"{x}.attn2.to_k.weight" for x in "abc"]
    assert S.select_layers(sens, names, threshold=0.5).layers == ("a.attn2", "b.attn2")
    assert S.select_layers(sens, names, threshold=0.5, top_k=1).layers == ("a.attn2",)
    with pytest.raises(AdvAnchorError):
        S.select_layers(sens, names)
    with pytest.raises(AdvAnchorError):
        S.select_layers(sens, ["other.weight"], top_k=1)


def test_model_without_cross_attention_is_refused():
    with pytest.raises(AdvAnchorError, match="attn2"):
        S.cross_attention_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_figures_are_images_of_one_size():
    den, cc = planted()
    probes = S.make_probes(den, S.ProbeConfig(latents=1, timesteps=(0.5,)), latent_shape=LATENT)
    rep = S.analyse(den, cc, probes, prompts={"other": cc.empty}, shown_tokens=SEQ, top_k=1)
    figs = plots.sensitivity_figures(rep.anchor_map, rep.layers, rep.tokens, rep.selection, "planted")
    assert figs.shape == (3, plots.SIZE[1], plots.SIZE[0], 3) and figs.dtype == np.float32
    assert 0.0 <= figs.min() and figs.max() <= 1.0
    assert all(f.std() > 0.05 for f in figs)  # something is drawn, not a blank canvas


def test_a_chosen_flux_single_stream_block_trains_the_weights_that_read_the_joint_sequence():
    sens = S.LayerSensitivity(["double_blocks.0", "single_blocks.0"], ["s"], [[0.2], [1.0]],
                              [[1.0], [1.0]], {}, "s")
    names = [f"double_blocks.0.{p}.weight" for p in ("txt_attn.qkv", "img_attn.qkv", "txt_mlp.0")]
    names += [f"single_blocks.0.{p}.weight" for p in ("linear1", "linear2", "modulation.lin")]
    assert S.select_layers(sens, names, top_k=1, weights="kv").parameters == ("single_blocks.0.linear1.weight",)
    assert S.select_layers(sens, names, top_k=1).parameters == ("single_blocks.0.linear1.weight",
                                                                 "single_blocks.0.linear2.weight")
    both = S.select_layers(sens, names, top_k=2, weights="kv").parameters
    assert both == ("double_blocks.0.txt_attn.qkv.weight", "single_blocks.0.linear1.weight")

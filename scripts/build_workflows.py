"""Writes the example workflows in workflows/ (ComfyUI's UI format) from a short description.

The node definitions come from a running ComfyUI's /object_info, saved to a file:
    python -m scripts.build_workflows OBJECT_INFO.json [workflows/]
Widget values start at each input's default; the graphs below override what matters.
The workflows are committed; run this again after a node's inputs change.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from scripts.workflow_graph import (COLORS, NEGATIVE, Graph, Node, loader, prompts,
                                    sampler_branch, stitch_and_save, unlearn)

REPO = Path(__file__).resolve().parents[1]


# --- the workflows -----------------------------------------------------------------------------

def erase_artist_style_compare(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    concept = g.add("AdvAnchorConcept", (0, 380), concept="Van Gogh")
    u = unlearn(g, (380, 120), (ckpt, 0), ckpt, concept)
    erasure = g.add("AdvAnchorSaveErasure", (380, 120 + u.height() + 60), format="LoRA", rank=16,
                    filename_prefix="advanchor_van_gogh")
    g.link(u, 1, erasure, "erasure")
    curve = g.add("PreviewImage", (760, 120), title="Loss curve")
    curve.width = 400
    g.link(u, 2, curve, "images")
    pos, neg = prompts(g, ckpt, 760, 520, "a painting of a starry night over a quiet village by Van Gogh")
    latent = g.add("EmptyLatentImage", (760, 960), width=512, height=512, batch_size=1)
    seed = g.add("PrimitiveInt", (760, 1130), title="Seed (shared by A and B)", value=42)
    ka, da = sampler_branch(g, 1180, 120, (ckpt, 0), pos, neg, latent, seed, ckpt, "A · original")
    kb, db = sampler_branch(g, 1180, 640, (u, 0), pos, neg, latent, seed, ckpt, "B · erased")
    st, save = stitch_and_save(g, 1560, 120, da, db, "advanchor/van_gogh_before_after")
    g.group("1 · What to erase", [ckpt, concept], COLORS["what"])
    g.group("2 · Erase it (a patched clone; the original MODEL is untouched)", [u, erasure, curve], COLORS["erase"])
    g.group("A · original model", [ka, da], COLORS["before"])
    g.group("B · erased model, same seed", [kb, db], COLORS["after"])
    g.group("3 · Side by side", [st, save], COLORS["out"])
    g.note("**Erase an artist's style, compare before/after.**\n\nUnlearn fine-tunes the "
           "cross-attention weights with ESD at its published recipe (1000 updates at lr 1e-5) "
           "so that 'Van Gogh painting' predicts the painting without Van Gogh (negative "
           "guidance), the superclass kept. KSampler A uses the "
           "original MODEL, KSampler B the erased one, with the same seed and prompts.\n\n"
           "Save Erasure writes a small LoRA to output/loras for the 'apply erasure LoRA' workflow.",
           (0, 820), (360, 300))
    return g.to_json()


def erase_nudity_save_checkpoint(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    concept = g.add("AdvAnchorConcept", (0, 380), concept="nudity", preset="nudity (reference)",
                    prompt_template="{}", anchor_template="{}", superclass="")
    # the reference's anchor (adv1): the keep loss needs a superclass, and nudity has none
    reference = dict(steps=20, lr=1e-4, loss="adv1")
    anchor = g.add("AdvAnchorSearchAnchor", (380, 120), **reference)
    g.link(ckpt, 0, anchor, "model")
    g.link(ckpt, 1, anchor, "clip")
    g.link(concept, 0, anchor, "concept")
    u = unlearn(g, (760, 120), (ckpt, 0), ckpt, concept, anchor=anchor, parameters="noxattn",
                schedule="alternating", iterations=51,  # the reference's 51 updates
                **{f"anchor_{k}": v for k, v in reference.items()})
    save_ckpt = g.add("AdvAnchorSaveErasedCheckpoint", (1140, 120),
                      filename_prefix="advanchor/sd15_nudity_erased")
    g.link(u, 0, save_ckpt, "model")
    g.link(ckpt, 1, save_ckpt, "clip")
    g.link(ckpt, 2, save_ckpt, "vae")
    curve = g.add("PreviewImage", (1140, 320), title="Loss curve")
    curve.width = 400
    g.link(u, 2, curve, "images")
    pos, neg = prompts(g, ckpt, 380, 900, "a photo of a person relaxing on a beach, full body")
    latent = g.add("EmptyLatentImage", (380, 1340), width=512, height=512, batch_size=1)
    ks, dec = sampler_branch(g, 760, 900, (u, 0), pos, neg, latent, None, ckpt, "· erased model")
    save = g.add("SaveImage", (1140, 900), filename_prefix="advanchor/nudity_erased_sample")
    save.width = 400
    g.link(dec, 0, save, "images")
    g.group("1 · The concept: 'nudity' with the attribute preset", [ckpt, concept], COLORS["what"])
    g.group("2 · Anchor, then unlearn (all but cross-attention, as for global concepts)", [anchor, u], COLORS["erase"])
    g.group("3 · Save the erased checkpoint", [save_ckpt, curve], COLORS["out"])
    g.group("4 · Check: sample the erased model", [pos, neg, latent, ks, dec, save], COLORS["after"])
    g.note("**Erase nudity and save the checkpoint.**\n\nThe 'nudity (reference)' preset uses the "
           "prompt 'nudity', no superclass, and the reference's eight body-part attributes with "
           "their weights; the anchor is pushed away from each. Unlearn changes every UNet weight "
           "except cross-attention ('noxattn'), since nudity is not tied to one word.\n\n"
           "The checkpoint lands in output/checkpoints/advanchor/ with the erasure settings in "
           "its metadata; move it to models/checkpoints to load it with Load Checkpoint.",
           (0, 820), (340, 330))
    return g.to_json()


def apply_erasure_lora(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    lora = g.add("LoraLoaderModelOnly", (0, 360), title="Load erasure LoRA (model only)",
                 lora_name="advanchor_van_gogh_00001_.safetensors", strength_model=1.0)
    g.link(ckpt, 0, lora, "model")
    pos, neg = prompts(g, ckpt, 380, 120, "a painting of sunflowers in a vase by Van Gogh")
    latent = g.add("EmptyLatentImage", (380, 560), width=512, height=512, batch_size=1)
    seed = g.add("PrimitiveInt", (380, 730), title="Seed (shared)", value=7)
    ka, da = sampler_branch(g, 760, 120, (ckpt, 0), pos, neg, latent, seed, ckpt, "A · without")
    kb, db = sampler_branch(g, 760, 640, (lora, 0), pos, neg, latent, seed, ckpt, "B · with the erasure")
    st, save = stitch_and_save(g, 1140, 120, da, db, "advanchor/lora_before_after")
    g.group("1 · Any SD1.5 checkpoint + the erasure LoRA at a strength", [ckpt, lora], COLORS["erase"])
    g.group("A · without", [ka, da], COLORS["before"])
    g.group("B · with the erasure", [kb, db], COLORS["after"])
    g.group("2 · Side by side", [st, save], COLORS["out"])
    g.note("**Apply a saved erasure LoRA to another checkpoint.**\n\nSave Erasure (format LoRA) "
           "writes output/loras/advanchor_..._00001_.safetensors, which Load LoRA lists with the "
           "LoRAs in models/loras. "
           "Load it on any SD1.5 checkpoint (a fine-tune of the one it was erased from works "
           "best) with Load LoRA (model only); strength_model 1 = as trained, 0.5 = half, "
           "more than 1 = stronger. The erasure changes only UNet weights, so no CLIP strength is "
           "needed.\n\nFor the exact (weight-diff) file, use Apply Erasure (AdvAnchor) instead.",
           (0, 560), (340, 330))
    return g.to_json()


def erase_two_concepts_save(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    concept = g.add("AdvAnchorConcept", (0, 380), concept="Van Gogh")
    u = unlearn(g, (380, 120), (ckpt, 0), ckpt, concept, title="Unlearn · Van Gogh + Claude Monet",
                more_concepts="Claude Monet")
    save_ckpt = g.add("AdvAnchorSaveErasedCheckpoint", (760, 120),
                      filename_prefix="advanchor/sd15_no_van_gogh_no_monet")
    g.link(u, 0, save_ckpt, "model")
    g.link(ckpt, 1, save_ckpt, "clip")
    g.link(ckpt, 2, save_ckpt, "vae")
    pos, neg = prompts(g, ckpt, 760, 330, "a painting of water lilies in a pond by Claude Monet")
    latent = g.add("EmptyLatentImage", (760, 770), width=512, height=512, batch_size=1)
    ks, dec = sampler_branch(g, 1140, 120, (u, 0), pos, neg, latent, None, ckpt, "· both erased")
    save = g.add("SaveImage", (1140, 640), filename_prefix="advanchor/two_concepts_erased_sample")
    save.width = 400
    g.link(dec, 0, save, "images")
    g.group("1 · Both concepts, one run", [concept, u], COLORS["erase"])
    g.group("2 · One checkpoint without either", [save_ckpt], COLORS["out"])
    g.note("**Erase two concepts in one run, save one checkpoint.**\n\nUnlearn's more_concepts "
           "lists the concepts erased with the CONCEPT, one per line; they take turns on one "
           "weight change, so neither undoes the other. The saved checkpoint's metadata "
           "(advanchor.erasures) lists both.",
           (0, 820), (340, 200))
    return g.to_json()


def inspect_sensitivity_then_unlearn(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    concept = g.add("AdvAnchorConcept", (0, 380), concept="Van Gogh")
    sens = g.add("AdvAnchorConceptSensitivity", (380, 120), top_k=4, weights="all",
                 candidate_prompts="Claude Monet painting\na painting\na photo")
    g.link(ckpt, 0, sens, "model")
    g.link(ckpt, 1, sens, "clip")
    g.link(concept, 0, sens, "concept")
    plots = g.add("SaveImage", (380, 600), title="Sensitivity plots",
                  filename_prefix="advanchor/van_gogh_sensitivity")
    plots.width = 340
    g.link(sens, 0, plots, "images")
    u = unlearn(g, (760, 120), (ckpt, 0), ckpt, concept, title="Unlearn (only the sensitive layers)")
    g.link(sens, 2, u, "layers")
    erasure = g.add("AdvAnchorSaveErasure", (760, 800), format="weight diff",
                    filename_prefix="advanchor_van_gogh_sensitive_layers")
    g.link(u, 1, erasure, "erasure")
    pos, neg = prompts(g, ckpt, 1160, 120, "a painting of a starry night over a quiet village by Van Gogh")
    latent = g.add("EmptyLatentImage", (1160, 560), width=512, height=512, batch_size=1)
    ks, dec = sampler_branch(g, 1540, 120, (u, 0), pos, neg, latent, None, ckpt, "· erased model")
    save = g.add("SaveImage", (1540, 640), filename_prefix="advanchor/van_gogh_sensitive_layers_erased")
    save.width = 400
    g.link(dec, 0, save, "images")
    g.group("1 · Inspect: which layers read the concept", [ckpt, concept, sens, plots], COLORS["inspect"])
    g.group("2 · Unlearn only those layers", [u, erasure], COLORS["erase"])
    g.group("3 · Check: sample the erased model", [pos, neg, latent, ks, dec, save], COLORS["after"])
    g.note("**Inspect sensitivity, then unlearn only the sensitive layers.**\n\nConcept "
           "Sensitivity plots an anchor map (candidate anchors: how close to the concept, how much "
           "of it they still carry), how strongly each cross-attention layer reads the concept, "
           "and which prompt tokens carry it. Its LAYERS output (the top_k most sensitive layers) "
           "goes to Unlearn's 'layers' input, which then trains only those weights (it overrides "
           "'parameters'). Fewer weights change: less collateral damage, a smaller erasure file.",
           (0, 820), (340, 330))
    return g.to_json()


def erase_attack_measure(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    concept = g.add("AdvAnchorConcept", (0, 380), concept="Van Gogh")
    u = unlearn(g, (380, 120), (ckpt, 0), ckpt, concept)
    attack = g.add("AdvAnchorAttackErasure", (760, 120), tokens=5, steps=40, lr=0.01)
    g.link(u, 0, attack, "erased_model")
    g.link(ckpt, 0, attack, "original_model")
    g.link(ckpt, 1, attack, "clip")
    g.link(concept, 0, attack, "concept")
    attack_report = g.add("PreviewAny", (760, 120 + attack.height() + 60), title="Attack report")
    g.link(attack, 1, attack_report, "source")
    measure = g.add("AdvAnchorMeasureErasure", (1180, 120), samples=2, steps=20, width=512, height=512,
                    target_prompts="Van Gogh painting\na painting of a starry night by Van Gogh",
                    preserve_prompts="a painting of water lilies by Claude Monet\na photo of a cat on a sofa",
                    negative=NEGATIVE)
    g.link(ckpt, 0, measure, "original_model")
    g.link(u, 0, measure, "erased_model")
    g.link(ckpt, 1, measure, "clip")
    g.link(ckpt, 2, measure, "vae")
    g.link(attack, 0, measure, "attack")
    save = g.add("SaveImage", (1600, 120), title="Original | erased, same seeds",
                 filename_prefix="advanchor/van_gogh_erase_attack_measure")
    save.width = 560
    g.link(measure, 0, save, "images")
    report = g.add("PreviewAny", (1600, 700), title="Measurement report")
    report.width = 560
    g.link(measure, 1, report, "source")
    g.group("1 · Erase", [ckpt, concept, u], COLORS["erase"])
    g.group("2 · Attack the erasure", [attack, attack_report], COLORS["inspect"])
    g.group("3 · Measure both models", [measure], COLORS["after"])
    g.group("4 · Results", [save, report], COLORS["out"])
    g.note("**Erase, attack, measure.**\n\nUnlearn erases *Van Gogh*. **Attack Erasure** then "
           "optimises 5 soft prefix tokens (40 steps, lr 0.01, as the UnlearnDiffAtk attack) so "
           "that the erased model's prediction for [prefix + 'Van Gogh painting'] matches the "
           "original model's; with ComfyUI's CLIP the prefix is 5 extra context rows of the "
           "encoded prompt. **Measure Erasure** samples both models at the same seeds for the "
           "target prompts, the preserve prompts and the attack: one grid row per prompt "
           "(original seeds left, erased right) and a JSON report — pixel drift of the preserve "
           "prompts (0 means untouched) and, with the `nudenet` package installed and the "
           "switch on, NudeNet's rate at a stated threshold and classes.\n\nIf the attack row "
           "on the right shows the concept again, the erasure hid it rather than removed it.",
           (0, 820), (360, 420))
    return g.to_json()


def erase_three_concepts_closed_form(oi) -> dict:
    g = Graph(oi)
    ckpt = loader(g, (0, 120))
    e = g.add("AdvAnchorEraseClosedForm", (380, 120), concepts="Van Gogh\nPicasso\nSalvador Dali",
              default_target="painting", preserve="Claude Monet\nRembrandt\na photo of a cat")
    g.link(ckpt, 0, e, "model")
    g.link(ckpt, 1, e, "clip")
    erasure = g.add("AdvAnchorSaveErasure", (380, 120 + e.height() + 60), format="LoRA", rank=16,
                    filename_prefix="advanchor_three_painters")
    g.link(e, 1, erasure, "erasure")
    pos, neg = prompts(g, ckpt, 760, 120, "a painting of a starry night over a quiet village by Van Gogh")
    latent = g.add("EmptyLatentImage", (760, 560), width=512, height=512, batch_size=1)
    seed = g.add("PrimitiveInt", (760, 730), title="Seed (shared by A and B)", value=42)
    ka, da = sampler_branch(g, 1180, 120, (ckpt, 0), pos, neg, latent, seed, ckpt, "A · original")
    kb, db = sampler_branch(g, 1180, 640, (e, 0), pos, neg, latent, seed, ckpt, "B · erased")
    st, save = stitch_and_save(g, 1560, 120, da, db, "advanchor/three_painters_before_after")
    g.group("1 · Erase three painters at once, keep their neighbours", [ckpt, e, erasure], COLORS["erase"])
    g.group("A · original model", [ka, da], COLORS["before"])
    g.group("B · erased model, same seed", [kb, db], COLORS["after"])
    g.group("2 · Side by side", [st, save], COLORS["out"])
    g.note("**Erase several concepts in seconds, in closed form.**\n\nErase (closed form) solves "
           "for new cross-attention keys and values so that each listed painter is read as "
           "'painting' (UCE), while the preserve list (and the empty prompt) keep their meaning: "
           "no training, no sampling. Try the other painters, or one of the preserved ones, in the "
           "positive prompt.\n\nSave Erasure writes the change as a LoRA (output/loras) that Load "
           "LoRA applies to this checkpoint again.", (0, 560), (340, 300))
    return g.to_json()


def concept_image_nodes(g: Graph, model: tuple, clip: tuple, u: Node, latent_kind: str,
                        sampler: dict, y: float) -> list[Node]:
    """Four concept images drawn by a KSampler with the workflow's sampler settings, linked
    to Unlearn's LATENT input (below the erasure's column)."""
    text = g.add("CLIPTextEncode", (380, y), title="Concept images: prompt", text="Van Gogh painting")
    blank = g.add("CLIPTextEncode", (380, y + 220), title="Concept images: negative", text="")
    size = g.add(latent_kind, (380, y + 440), width=512, height=512, batch_size=4)
    draw = g.add("KSampler", (380, y + 620), title="KSampler: concept images for Unlearn", seed=7, **sampler)
    for node in (text, blank):
        g.link(*clip, node, "clip")
    g.link(*model, draw, "model")
    g.link(text, 0, draw, "positive")
    g.link(blank, 0, draw, "negative")
    g.link(size, 0, draw, "latent_image")
    g.link(draw, 0, u, "latent")
    return [text, blank, size, draw]


def erase_compare_dit(g: Graph, model: tuple, clip: tuple, vae: tuple, loaders: list[Node],
                      family: str, sampler: dict, positive: str, guidance: float | None,
                      unlearn_widgets: dict, note: str, latent_kind: str = "EmptySD3LatentImage",
                      concept_images: bool = False) -> dict:
    """Erase → save → sample original and erased at one seed, side by side: the SD1.5 style
    workflow on a rectified-flow transformer (its own loaders, latent and sampler settings).
    `concept_images`: Unlearn trains on the concept images the workflow's own KSampler draws
    (its sampler settings: distilled models sample at cfg 1, which Unlearn's own sampling of
    training images does not know)."""
    concept = g.add("AdvAnchorConcept", (0, 560), concept="Van Gogh")
    u = g.add("AdvAnchorUnlearn", (380, 120), **unlearn_widgets)
    g.link(*model, u, "model")
    g.link(*clip, u, "clip")
    g.link(concept, 0, u, "concept")
    erasure = g.add("AdvAnchorSaveErasure", (380, 120 + u.height() + 60), format="LoRA", rank=16,
                    filename_prefix=f"advanchor_{family}_van_gogh")
    g.link(u, 1, erasure, "erasure")
    extra = concept_image_nodes(g, model, clip, u, latent_kind, sampler,
                                erasure.pos[1] + erasure.height() + 60) if concept_images else []
    curve = g.add("PreviewImage", (760, 120), title="Loss curve")
    curve.width = 400
    g.link(u, 2, curve, "images")
    pos = g.add("CLIPTextEncode", (760, 520), title="Prompt (positive)", text=positive)
    neg = g.add("CLIPTextEncode", (760, 760), title="Prompt (negative)",
                text="" if guidance is not None else NEGATIVE)
    g.link(*clip, pos, "clip")
    g.link(*clip, neg, "clip")
    positive_cond = pos
    if guidance is not None:
        positive_cond = g.add("FluxGuidance", (760, 1000), guidance=guidance)
        g.link(pos, 0, positive_cond, "conditioning")
    latent = g.add(latent_kind, (760, 1160), width=1024, height=1024, batch_size=1)
    seed = g.add("PrimitiveInt", (760, 1340), title="Seed (shared by A and B)", value=42)
    branches = [sampler_branch(g, 1180, 120 + 520 * row, m, positive_cond, neg, latent, seed, vae,
                               title, sampler)
                for row, (m, title) in enumerate(((model, "A · original"), ((u, 0), "B · erased")))]
    st, save = stitch_and_save(g, 1560, 120, branches[0][1], branches[1][1],
                               f"advanchor/{family}_van_gogh_before_after")
    g.group("1 · What to erase", [*loaders, concept], COLORS["what"])
    g.group("2 · Erase it (a patched clone; the original MODEL is untouched)", [u, erasure, curve, *extra],
            COLORS["erase"])
    g.group("A · original model", list(branches[0]), COLORS["before"])
    g.group("B · erased model, same seed", list(branches[1]), COLORS["after"])
    g.group("3 · Side by side", [st, save], COLORS["out"])
    g.note(note, (0, 900), (360, 420))
    return g.to_json()


def erase_flux_compare(oi) -> dict:
    g = Graph(oi)
    unet = g.add("UNETLoader", (0, 120), unet_name="flux1-dev.safetensors", weight_dtype="fp8_e4m3fn")
    clip = g.add("DualCLIPLoader", (0, 260), clip_name1="clip_l.safetensors",
                 clip_name2="t5xxl_fp8_e4m3fn.safetensors", type="flux")
    vae = g.add("VAELoader", (0, 440), vae_name="ae.safetensors")
    return erase_compare_dit(
        g, (unet, 0), (clip, 0), (vae, 0), [unet, clip, vae], "flux",
        dict(steps=20, cfg=1.0, sampler_name="euler", scheduler="simple", denoise=1.0),
        "a painting of a starry night over a quiet village by Van Gogh", 3.5,
        dict(parameters="xattn-kv", gradient_checkpointing=True, sample_size=512, sample_steps=20),
        "**Erase an artist's style from Flux.1 dev.**\n\nThe transformer loads in fp8 "
        "(`weight_dtype`); Unlearn trains only the text stream's q/k/v of the dual-stream blocks "
        "(`xattn-kv`) with gradient checkpointing on: by count 19.1 GiB of GPU memory before "
        "activations (all of `xattn`: 32.5 GiB). The erasure itself is float32, kept beside the "
        "fp8 weights. Flux.1 dev samples at cfg 1 with its guidance input (FluxGuidance 3.5); "
        "Unlearn samples its training images the same way.\n\nFor Flux.1 schnell load its "
        "file instead and set the KSamplers to 4 steps.")


def erase_sd3_compare(oi) -> dict:
    g = Graph(oi)
    ckpt = g.add("CheckpointLoaderSimple", (0, 120), ckpt_name="sd3.5_medium.safetensors")
    clip = g.add("TripleCLIPLoader", (0, 260), clip_name1="clip_l.safetensors",
                 clip_name2="clip_g.safetensors", clip_name3="t5xxl_fp16.safetensors")
    return erase_compare_dit(
        g, (ckpt, 0), (clip, 0), (ckpt, 2), [ckpt, clip], "sd3",
        dict(steps=28, cfg=4.5, sampler_name="euler", scheduler="sgm_uniform", denoise=1.0),
        "a painting of a starry night over a quiet village by Van Gogh", None,
        dict(sample_size=512, sample_steps=20),
        "**Erase an artist's style from SD3.5 medium.**\n\nThe checkpoint gives the MMDiT and "
        "the VAE, TripleCLIPLoader the three text encoders (CLIP-L, CLIP-G, T5-XXL): the "
        "concept's rows are found in each part of the context. Unlearn trains the joint "
        "attention of the MMDiT blocks (`xattn`), the preset table in the README says what each "
        "preset trains per family. Samplers A and B share the seed: the only difference is "
        "the erasure.")


def single_file_loaders(g: Graph, unet: str, weight_dtype: str, text: str, clip_type: str, vae: str):
    """UNETLoader, CLIPLoader and VAELoader, as the newer families' files come."""
    u = g.add("UNETLoader", (0, 120), unet_name=unet, weight_dtype=weight_dtype)
    c = g.add("CLIPLoader", (0, 260), clip_name=text, type=clip_type)
    v = g.add("VAELoader", (0, 440), vae_name=vae)
    return u, c, v


STARRY = "a painting of a starry night over a quiet village by Van Gogh"


def erase_chroma_compare(oi) -> dict:
    g = Graph(oi)
    u, c, v = single_file_loaders(g, "Chroma1-HD.safetensors", "fp8_e4m3fn",
                                  "t5xxl_fp8_e4m3fn.safetensors", "chroma", "ae.safetensors")
    return erase_compare_dit(
        g, (u, 0), (c, 0), (v, 0), [u, c, v], "chroma",
        dict(steps=26, cfg=4.0, sampler_name="euler", scheduler="simple", denoise=1.0), STARRY, None,
        dict(parameters="xattn-kv", gradient_checkpointing=True, sample_size=512, sample_steps=20),
        "**Erase an artist's style from Chroma.**\n\nChroma is Flux.1's architecture without the "
        "CLIP vector, conditioned on T5 alone, each prompt at its own length: Unlearn reads the "
        "concept's T5 rows as Chroma's sampler does. The transformer loads in fp8 "
        "(`weight_dtype`); Unlearn trains the text stream's q/k/v (`xattn-kv`) with gradient "
        "checkpointing. Chroma samples with classifier-free guidance and a negative prompt; A "
        "and B share the seed.")


def erase_zimage_compare(oi) -> dict:
    g = Graph(oi)
    u, c, v = single_file_loaders(g, "z_image_turbo_bf16.safetensors", "default",
                                  "qwen_3_4b.safetensors", "lumina2", "ae.safetensors")
    return erase_compare_dit(
        g, (u, 0), (c, 0), (v, 0), [u, c, v], "zimage",
        dict(steps=8, cfg=1.0, sampler_name="euler", scheduler="simple", denoise=1.0), STARRY, None,
        dict(parameters="xattn", gradient_checkpointing=True, sample_size=512),
        "**Erase an artist's style from Z-Image Turbo.**\n\nOne single-stream transformer: "
        "text and image tokens share every weight of its joint layers, so `xattn` trains their "
        "attention (the README's preset table says what each preset means here). The concept's "
        "rows are found inside Qwen3's chat template. Turbo is distilled to 8 steps at cfg 1: "
        "Unlearn trains on four concept images the KSampler below draws with those settings.",
        concept_images=True)


def erase_qwen_image_compare(oi) -> dict:
    g = Graph(oi)
    u, c, v = single_file_loaders(g, "qwen_image_fp8_e4m3fn.safetensors", "default",
                                  "qwen_2.5_vl_7b_fp8_scaled.safetensors", "qwen_image",
                                  "qwen_image_vae.safetensors")
    return erase_compare_dit(
        g, (u, 0), (c, 0), (v, 0), [u, c, v], "qwen_image",
        dict(steps=20, cfg=2.5, sampler_name="euler", scheduler="simple", denoise=1.0), STARRY, None,
        dict(parameters="xattn-kv", gradient_checkpointing=True, sample_size=512, sample_steps=20),
        "**Erase an artist's style from Qwen-Image.**\n\nAn MMDiT whose text comes from "
        "Qwen2.5-VL: the concept's rows are counted after the system prompt the encoder drops. "
        "`xattn-kv` trains the text's key and value projections (`add_k_proj`, `add_v_proj`) of "
        "every block, what the image reads from the text. The 20B transformer in fp8 is 20 GB "
        "before activations: see the README's memory table.")


def erase_flux2_compare(oi) -> dict:
    g = Graph(oi)
    u, c, v = single_file_loaders(g, "flux-2-klein-4b.safetensors", "default",
                                  "qwen_3_4b.safetensors", "flux2", "flux2-vae.safetensors")
    return erase_compare_dit(
        g, (u, 0), (c, 0), (v, 0), [u, c, v], "flux2",
        dict(steps=4, cfg=1.0, sampler_name="euler", scheduler="simple", denoise=1.0), STARRY, None,
        dict(parameters="xattn-kv", gradient_checkpointing=True, sample_size=512),
        "**Erase an artist's style from Flux.2 [klein] 4B.**\n\nFlux.2's blocks read three "
        "stacked layers of Qwen3 (every prompt padded to 512 tokens); `xattn-kv` trains the text "
        "stream's q/k/v of the dual-stream blocks. Klein is distilled to 4 steps at cfg 1: "
        "Unlearn trains on four concept images the KSampler below draws with those settings. "
        "For Flux.2 dev load its transformer and the Mistral-3 text encoder (CLIPLoader type "
        "flux2) instead.",
        latent_kind="EmptyFlux2LatentImage", concept_images=True)


WORKFLOWS = {
    "erase_artist_style_compare": erase_artist_style_compare,
    "erase_nudity_save_checkpoint": erase_nudity_save_checkpoint,
    "apply_erasure_lora": apply_erasure_lora,
    "erase_two_concepts_save": erase_two_concepts_save,
    "inspect_sensitivity_then_unlearn": inspect_sensitivity_then_unlearn,
    "erase_attack_measure": erase_attack_measure,
    "erase_flux_compare": erase_flux_compare,
    "erase_chroma_compare": erase_chroma_compare,
    "erase_zimage_compare": erase_zimage_compare,
    "erase_qwen_image_compare": erase_qwen_image_compare,
    "erase_flux2_compare": erase_flux2_compare,
    "erase_sd3_compare": erase_sd3_compare,
    "erase_three_concepts_closed_form": erase_three_concepts_closed_form,
}


def main(argv: list[str]) -> None:
    oi = json.loads(Path(argv[1]).read_text())
    out = Path(argv[2]) if len(argv) > 2 else REPO / "workflows"
    out.mkdir(exist_ok=True)
    names = argv[3:] or list(WORKFLOWS)
    for name in names:
        (out / f"{name}.json").write_text(json.dumps(WORKFLOWS[name](oi), indent=1) + "\n")
        print("wrote", out / f"{name}.json")


if __name__ == "__main__":
    main(sys.argv)

"""API-format graphs for the server tests (node ids are strings, links are [node, output])."""
from __future__ import annotations

THIN = "thin_sd15.safetensors"
FAST_UNLEARN = dict(latent_source="noise", sample_size=64, sample_count=1, sample_steps=2,
                    method="adversarial", iterations=3, lr=1e-4, parameters="xattn",
                    parameter_pattern="", schedule="alternating", preservation=10.0,
                    anchor_steps=2, anchor_lr=1e-3, anchor_loss="adv1", anchor_bound=0.0,
                    accumulate_gradients=False, seed=1)


def concept(text="Van Gogh", preset="style (reference)", **kw) -> dict:
    return {"class_type": "AdvAnchorConcept", "inputs": {
        "concept": text, "preset": preset, "prompt_template": "{} painting",
        "anchor_template": "{}'s painting", "superclass": "painting", "attributes": "",
        "use_concept_term": True} | kw}


def loader(name=THIN) -> dict:
    return {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}}


def unlearn(model, clip, concept_link, anchor=None, **kw) -> dict:
    inputs = {"model": model, "clip": clip, "concept": concept_link} | FAST_UNLEARN | kw
    if anchor is not None:
        inputs["anchor"] = anchor
    return {"class_type": "AdvAnchorUnlearn", "inputs": inputs}


def search_anchor(model, clip, concept_link, **kw) -> dict:
    return {"class_type": "AdvAnchorSearchAnchor", "inputs": {
        "model": model, "clip": clip, "concept": concept_link, "latent_source": "noise",
        "sample_size": 64, "sample_count": 1, "sample_steps": 2, "draws": 1, "steps": 2,
        "lr": 1e-3, "loss": "adv1", "bound": 0.0, "seed": 1} | kw}


def encode(clip, text) -> dict:
    return {"class_type": "CLIPTextEncode", "inputs": {"clip": clip, "text": text}}


def sample(model, positive, negative, latent, seed=7, steps=2) -> dict:
    return {"class_type": "KSampler", "inputs": {
        "model": model, "positive": positive, "negative": negative, "latent_image": latent,
        "seed": seed, "steps": steps, "cfg": 2.0, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1.0}}


def empty_latent(size=64) -> dict:
    return {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}}


def full_pipeline(prefix: str) -> dict:
    """Loader → Concept → Search Anchor → Unlearn → KSampler → VAEDecode → SaveImage,
    plus Save Erased Checkpoint and Save Erasure."""
    return {
        "1": loader(),
        "2": concept(),
        "3": search_anchor(["1", 0], ["1", 1], ["2", 0]),
        "4": unlearn(["1", 0], ["1", 1], ["2", 0], anchor=["3", 0]),
        "5": encode(["1", 1], "Van Gogh painting"),
        "6": encode(["1", 1], ""),
        "7": empty_latent(),
        "8": sample(["4", 0], ["5", 0], ["6", 0], ["7", 0]),
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": prefix}},
        "11": {"class_type": "AdvAnchorSaveErasedCheckpoint", "inputs": {
            "model": ["4", 0], "clip": ["1", 1], "vae": ["1", 2], "filename_prefix": prefix}},
        "12": {"class_type": "AdvAnchorSaveErasure", "inputs": {
            "erasure": ["4", 1], "format": "weight diff", "rank": 4, "filename_prefix": prefix}},
        "13": {"class_type": "SaveImage", "inputs": {"images": ["4", 2], "filename_prefix": prefix + "_loss"}},
        "14": sample(["1", 0], ["3", 1], ["6", 0], ["7", 0]),
        "15": {"class_type": "VAEDecode", "inputs": {"samples": ["14", 0], "vae": ["1", 2]}},
        "16": {"class_type": "SaveImage", "inputs": {"images": ["15", 0], "filename_prefix": prefix + "_anchor"}},
    }

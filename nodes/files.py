"""Saving and applying erasures: full checkpoints, small weight-diff or LoRA files.

Every write goes to a temporary name beside its target and is renamed when complete; every
`filename_prefix` is checked to stay inside the output folder; only safetensors are read.
"""
from __future__ import annotations

import json
import os

import folder_paths
import torch
from comfy_api.latest import io

import comfy.sd

from ..advanchor_core import __version__
from ..advanchor_core.delta_files import (atomic_path, atomic_save, extract_lora, load_erasure,
                                          lora_to_delta, save_erasure)
from ..advanchor_core.erasure import Erasure as ErasureData
from ..advanchor_core.errors import AdvAnchorError
from .bridge.erasure import carried_erasures, check_erasure_fits, with_erasure
from .bridge.paths import output_path
from .sockets import CATEGORY, Erasure

FOLDER = "advanchor_erasures"
FORMATS = ("weight diff", "LoRA")


def erasure_folders() -> list[str]:
    """models/erasures and output/erasures, registered with ComfyUI's folder list."""
    paths = [os.path.join(folder_paths.models_dir, "erasures"),
             os.path.join(folder_paths.get_output_directory(), "erasures")]
    known = folder_paths.folder_names_and_paths.get(FOLDER, ([], set()))[0]
    folder_paths.folder_names_and_paths[FOLDER] = (
        list(dict.fromkeys(known + paths)), {".safetensors"})
    return paths


def register_output_loras() -> None:
    """Let Load LoRA list the LoRAs Save Erasure writes to output/loras, without copying."""
    folder_paths.add_model_folder_path("loras", output_root("loras"))


def erasure_files() -> list[str]:
    erasure_folders()
    return [f for f in folder_paths.get_filename_list(FOLDER) if f.endswith(".safetensors")]


def output_root(sub: str) -> str:
    return os.path.join(folder_paths.get_output_directory(), sub)


def saved(path: str) -> dict:
    out = folder_paths.get_output_directory()
    rel = os.path.relpath(path, out)
    return {"filename": os.path.basename(rel), "subfolder": os.path.dirname(rel), "type": "output"}


def checkpoint_metadata(model) -> dict[str, str]:
    return {"advanchor.version": __version__,
            "advanchor.erasures": json.dumps(carried_erasures(model))}


def encoder_and_vae_keys(model, clip, vae) -> dict:
    """What `comfy.sd.save_checkpoint` must be given as `extra_keys`: nothing where it stores the
    text encoder itself with its patches baked in (ComfyUI ≥ 0.12.3, whose CLIP has
    `state_dict_for_saving`); before that, the text encoder's and the VAE's tensors under the
    checkpoint keys of the model's family (SD1.5: cond_stage_model., first_stage_model.).

    Why: ComfyUI 0.12.0-0.12.2 write a UNet-only file (their ModelPatcher.state_dict_for_saving
    drops the CLIP and VAE; fixed in 0.12.3). Older versions write the very tensors given here:
    the CLIP loaded first, as their save_checkpoint loads it, so patches on it (a LoRA's
    text-encoder part) are in its weights. Newer versions must get nothing: under dynamic VRAM
    loading does not write patches into the weights, and extra keys would overwrite ComfyUI's
    patched text encoder with the unpatched one."""
    if hasattr(clip, "state_dict_for_saving"):
        return {}
    config = model.model.model_config
    clip.load_model()
    keys = dict(config.process_clip_state_dict_for_saving(clip.get_sd()))
    keys.update(config.process_vae_state_dict_for_saving(vae.get_sd()))
    return keys


class SaveErasedCheckpointNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorSaveErasedCheckpoint",
            display_name="Save Erased Checkpoint (AdvAnchor)",
            category=CATEGORY,
            description="Saves the erased model with its text encoder and VAE as one "
                        ".safetensors checkpoint in output/checkpoints, loadable by Load Checkpoint.",
            is_output_node=True,
            inputs=[
                io.Model.Input("model", tooltip="The erased MODEL (from Unlearn or Apply Erasure)."),
                io.Clip.Input("clip", tooltip="The text encoder to store in the checkpoint."),
                io.Vae.Input("vae", tooltip="The VAE to store in the checkpoint."),
                io.String.Input("filename_prefix", default="advanchor_erased",
                                tooltip="File name inside output/checkpoints; may contain "
                                        "sub-folders, never '..' or an absolute path."),
            ],
            outputs=[io.String.Output(display_name="path",
                                      tooltip="The saved file, relative to the output folder.")],
        )

    @classmethod
    def execute(cls, model, clip, vae, filename_prefix) -> io.NodeOutput:
        path = output_path(filename_prefix, output_root("checkpoints"))
        with atomic_path(path) as tmp:
            comfy.sd.save_checkpoint(str(tmp), model, clip, vae, metadata=checkpoint_metadata(model),
                                     extra_keys=encoder_and_vae_keys(model, clip, vae))
        info = saved(path)
        rel = os.path.join(info["subfolder"], info["filename"])
        return io.NodeOutput(rel, ui={"advanchor_files": [info]})


class SaveErasureNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorSaveErasure",
            display_name="Save Erasure (AdvAnchor)",
            category=CATEGORY,
            description="Saves only the weight change: a weight diff (output/erasures, for Apply "
                        "Erasure) or a LoRA of rank r (output/loras, for Load LoRA).",
            is_output_node=True,
            inputs=[
                Erasure.Input("erasure", tooltip="From Unlearn."),
                io.Combo.Input("format", options=list(FORMATS), default="weight diff",
                               tooltip="weight diff: exact, for Apply Erasure; LoRA: a low-rank "
                                       "approximation that ComfyUI's Load LoRA reads."),
                io.Int.Input("rank", default=16, min=1, max=1024,
                             tooltip="LoRA rank (LoRA format only); higher is closer to the exact diff."),
                io.String.Input("filename_prefix", default="advanchor_erasure",
                                tooltip="File name inside output/erasures (or output/loras); may "
                                        "contain sub-folders, never '..' or an absolute path."),
            ],
            outputs=[io.String.Output(display_name="path",
                                      tooltip="The saved file, relative to the output folder.")],
        )

    @classmethod
    def execute(cls, erasure, format, rank, filename_prefix) -> io.NodeOutput:
        if not isinstance(erasure, ErasureData):
            raise AdvAnchorError("the ERASURE input does not come from Unlearn (AdvAnchor): connect one")
        if format not in FORMATS:
            raise AdvAnchorError(f"format {format!r} is unknown: use one of {', '.join(FORMATS)}")
        if format == "LoRA":
            path = output_path(filename_prefix, output_root("loras"))
            with torch.inference_mode(False):
                lora = extract_lora({k: v.float().cpu() for k, v in erasure.tensors.items()}, rank)
            meta = dict(erasure.metadata, advanchor_file="lora", lora_rank=str(rank))
            atomic_save(lora, path, meta)
        else:
            path = output_path(filename_prefix, output_root("erasures"))
            save_erasure(path, ErasureData({k: v.cpu() for k, v in erasure.tensors.items()},
                                           dict(erasure.metadata, advanchor_file="weight diff")))
        info = saved(path)
        rel = os.path.join(info["subfolder"], info["filename"])
        return io.NodeOutput(rel, ui={"advanchor_files": [info]})


class ApplyErasureNode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="AdvAnchorApplyErasure",
            display_name="Apply Erasure (AdvAnchor)",
            category=CATEGORY,
            description="Applies a saved erasure file to a MODEL at a strength; the input MODEL "
                        "is not changed. Files come from models/erasures and output/erasures.",
            inputs=[
                io.Model.Input("model", tooltip="The model the erasure was made from (same family)."),
                io.Combo.Input("erasure_file", options=erasure_files(),
                               tooltip="A .safetensors erasure saved by Save Erasure."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="1 applies the erasure as trained; 0 leaves the model as it "
                                       "is; values in between erase partly."),
            ],
            outputs=[io.Model.Output(display_name="MODEL", tooltip="A clone carrying the erasure.")],
        )

    @classmethod
    def execute(cls, model, erasure_file, strength) -> io.NodeOutput:
        erasure_folders()
        if not str(erasure_file).endswith(".safetensors"):
            raise AdvAnchorError(f"{erasure_file!r} is not a .safetensors file: only safetensors "
                                 "erasures are read")
        path = folder_paths.get_full_path(FOLDER, erasure_file)
        if path is None:
            raise AdvAnchorError(f"erasure file {erasure_file!r} was not found in "
                                 f"{' or '.join(erasure_folders())}: save one with Save Erasure")
        erasure = load_erasure(path)
        tensors = erasure.tensors
        if any(k.endswith(".lora_down.weight") or k.endswith(".diff_b") for k in tensors):
            tensors = lora_to_delta(tensors)
        check_erasure_fits(model, tensors)
        applied = ErasureData(tensors, dict(erasure.metadata, applied_strength=str(strength)))
        return io.NodeOutput(with_erasure(model, applied, strength))

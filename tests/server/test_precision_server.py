"""A graph a user builds for an fp8 UNet: Load Diffusion Model with weight_dtype fp8_e4m3fn,
the text encoder and VAE from the thin checkpoint, Unlearn, Save Erasure and Save Erased
Checkpoint, sampled before/after at one seed — in the headless server."""
from __future__ import annotations


import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tests.server import graphs
from tests.comfy_support.comfy_server import messages, succeeded

UNET = "thin_unet.safetensors"
PREFIX = "model.diffusion_model."


def write_unet_file(server) -> None:
    """The thin checkpoint's UNet alone, as diffusion_models/ files are distributed."""
    folder = server.base / "models" / "diffusion_models"
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / UNET).is_file():
        return
    with safe_open(str(server.checkpoints / graphs.THIN), "pt") as f:
        unet = {k[len(PREFIX):]: f.get_tensor(k) for k in f.keys() if k.startswith(PREFIX)}
    save_file(unet, str(folder / UNET))


def sample_to_latent(model_link, prefix: str, seed: int = 3) -> dict:
    return {"20": graphs.encode(["1", 1], "Van Gogh painting"), "21": graphs.encode(["1", 1], ""),
            "22": graphs.empty_latent(),
            "23": graphs.sample(model_link, ["20", 0], ["21", 0], ["22", 0], seed=seed, steps=3),
            "24": {"class_type": "SaveLatent", "inputs": {"samples": ["23", 0], "filename_prefix": prefix}}}


def latest_latent(server, prefix: str) -> torch.Tensor:
    path = sorted((server.output / "latents").glob(prefix + "_*.latent"))[-1]
    with safe_open(str(path), "pt") as f:
        return f.get_tensor("latent_tensor").float()


def test_an_fp8_unet_is_erased_saved_and_reloaded(server):
    write_unet_file(server)
    fp8 = {"class_type": "UNETLoader", "inputs": {"unet_name": UNET, "weight_dtype": "fp8_e4m3fn"}}
    graph = {"1": graphs.loader(), "2": fp8, "3": graphs.concept(),
             "4": graphs.unlearn(["2", 0], ["1", 1], ["3", 0], method="fixed", lr=3e-3),
             "5": {"class_type": "AdvAnchorSaveErasure", "inputs": {
                 "erasure": ["4", 1], "format": "weight diff", "rank": 4, "filename_prefix": "fp8"}},
             "6": {"class_type": "AdvAnchorSaveErasedCheckpoint", "inputs": {
                 "model": ["4", 0], "clip": ["1", 1], "vae": ["1", 2], "filename_prefix": "fp8"}}}
    entry = server.run(graph | sample_to_latent(["4", 0], "latents/fp8_erased"), timeout=300)
    assert succeeded(entry), str(messages(entry, "execution_error")) + server.log_text()[-3000:]
    original = server.run({"1": graphs.loader(), "2": fp8}
                          | sample_to_latent(["2", 0], "latents/fp8_original"))
    assert succeeded(original)

    diff = entry["outputs"]["5"]["advanchor_files"][0]
    with safe_open(str(server.output / diff["subfolder"] / diff["filename"]), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert tensors and all(".attn2." in k for k in tensors)
    assert all(v.dtype == torch.float32 and v.abs().amax() > 0 for v in tensors.values())

    ckpt = entry["outputs"]["6"]["advanchor_files"][0]
    with safe_open(str(server.output / "checkpoints" / ckpt["filename"]), "pt") as f:
        unet = {k: f.get_tensor(k) for k in f.keys() if k.startswith(PREFIX)}
        assert any(k.startswith("cond_stage_model.") for k in f.keys())
    assert {v.dtype for k, v in unet.items() if k.endswith(".weight") and v.dim() >= 2} == \
        {torch.float8_e4m3fn}   # written in the model's own dtype, as ComfyUI saves it

    erased, before = latest_latent(server, "fp8_erased"), latest_latent(server, "fp8_original")
    assert torch.isfinite(erased).all() and (erased - before).norm() > 1e-3 * before.norm()

    reload = {"1": graphs.loader(ckpt["filename"])} | sample_to_latent(["1", 0], "latents/fp8_reload")
    assert succeeded(server.run(reload))
    reloaded = latest_latent(server, "fp8_reload")
    assert torch.isfinite(reloaded).all() and (reloaded - before).norm() > 1e-3 * before.norm()

"""One unlearning update of each full-size transformer family on a CUDA card.

    python -m benchmarks.bench_dit            # CUDA: Flux.1 dev, SD3 medium, Chroma, Z-Image,
                                              #       Qwen-Image, Flux.2 dev and Flux.2 Klein 4B
    python -m benchmarks.bench_dit --reduced  # CPU: the tests' tiny layouts, checks the script only
    python -m benchmarks.bench_dit --count    # CPU: what each preset trains, and its fixed memory

Why: Flux's transformer is 12B parameters — 24 GB in bf16, 12 GB in fp8 — so whether an erasure
fits a 24 GB card is decided by the storage dtype, gradient checkpointing and autocast, and has
to be measured at full size. Weights are random (ComfyUI's own model classes at the published
widths — the layouts ComfyUI's detection gives the published files — seeded on the device; no
download), stored fp8_e4m3fn (the 9B and larger) or bf16 and computed in bf16 through ComfyUI's
manual cast, as Load Diffusion Model's weight_dtype menu loads them. One update is the loop's
θ step through the product's bridge: ε over [concept, superclass] (batch 2, one 1024 px latent,
`TEXT_ROWS` text rows) with δ (float32) on the `xattn` preset, MSE to stand-in targets, the
backward pass, one Adam step; gradient checkpointing and bf16 autocast on. Seconds per update
(after one warm-up update) and `torch.cuda.max_memory_allocated` are printed; a case that runs
out of memory prints so. No figures are recorded in RESULTS until a GPU has run it.

`--count` builds each at full size on PyTorch's meta device (no memory) and prints, per preset,
the trained parameters and the memory that does not depend on the image size: the weights as
stored, plus 16 bytes per trained parameter (δ, its gradient and Adam's two moments, float32).
Activations come on top.
"""
from __future__ import annotations

import argparse
import time

import torch

MIB = 2 ** 20
FLUX_DEV = dict(image_model="flux", guidance_embed=True, in_channels=16, out_channels=16,
                vec_in_dim=768, context_in_dim=4096, hidden_size=3072, mlp_ratio=4.0,
                num_heads=24, depth=19, depth_single_blocks=38, axes_dim=[16, 56, 56],
                theta=10000, patch_size=2, qkv_bias=True)
SD3_MEDIUM = dict(in_channels=16, out_channels=16, pos_embed_scaling_factor=None, patch_size=2,
                  depth=24, adm_in_channels=2048, num_patches=36864, pos_embed_max_size=192,
                  context_embedder_config={"target": "torch.nn.Linear",
                                           "params": {"in_features": 4096, "out_features": 1536}})
FLUX2 = dict(image_model="flux2", in_channels=128, out_channels=128, vec_in_dim=None, mlp_ratio=3.0,
             axes_dim=[32, 32, 32, 32], theta=2000, patch_size=1, qkv_bias=False, txt_ids_dims=[3],
             global_modulation=True, mlp_silu_act=True, ops_bias=False, default_ref_method="index",
             ref_index_scale=10.0)
# the newer families' layouts, as ComfyUI's detection reads them from the published files
LAYOUTS = {
    "chroma": ("Chroma", dict(image_model="chroma", in_channels=64, out_channels=64, context_in_dim=4096,
                              hidden_size=3072, mlp_ratio=4.0, num_heads=24, depth=19, depth_single_blocks=38,
                              axes_dim=[16, 56, 56], theta=10000, patch_size=2, qkv_bias=True, in_dim=64,
                              out_dim=3072, hidden_dim=5120, n_layers=5, txt_ids_dims=[], vec_in_dim=None)),
    "zimage": ("ZImage", dict(image_model="lumina2", patch_size=2, in_channels=16, dim=3840, cap_feat_dim=2560,
                              n_layers=30, n_refiner_layers=2, n_heads=30, n_kv_heads=30,
                              axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512], rope_theta=256.0,
                              ffn_dim_multiplier=8.0 / 3.0, qk_norm=True, z_image_modulation=True,
                              time_scale=1000.0, pad_tokens_multiple=32)),
    "qwen-image": ("QwenImage", dict(image_model="qwen_image", in_channels=64, num_layers=60)),
    "flux2": ("Flux2", dict(FLUX2, context_in_dim=15360, hidden_size=6144, num_heads=48, depth=8,
                            depth_single_blocks=48, guidance_embed=True)),
    "flux2-klein": ("Flux2", dict(FLUX2, context_in_dim=7680, hidden_size=3072, num_heads=24, depth=5,
                                  depth_single_blocks=20, guidance_embed=False)),
}
FAMILIES = ("flux", "sd3", *LAYOUTS)
# text rows of one prompt: Flux's T5 window, SD3's CLIP + T5 windows, Flux.2's 512; the
# unpadded families at a 40-word prompt
TEXT_ROWS = {"flux": 256, "sd3": 154, "chroma": 64, "zimage": 72, "qwen-image": 64, "flux2": 512,
             "flux2-klein": 512}
STORED = {"flux": torch.float8_e4m3fn, "sd3": torch.bfloat16, "chroma": torch.float8_e4m3fn,
          "zimage": torch.bfloat16, "qwen-image": torch.float8_e4m3fn, "flux2": torch.float8_e4m3fn,
          "flux2-klein": torch.bfloat16}


def bootstrap(gpu: bool) -> None:
    """ComfyUI in this process (on the CPU unless `gpu`) and the pack, as ComfyUI loads it."""
    from tests.comfy_support import runtime

    runtime.bootstrap(cpu=not gpu)
    runtime.load_pack()


def config(family: str, reduced: bool):
    """The `comfy.supported_models` config of the family at full (or the tests' tiny) size."""
    import dataclasses

    import comfy.ldm.flux.model
    import comfy.supported_models as sm
    from tests.comfy_support import tiny_dit, tiny_llm

    if family in LAYOUTS:
        tiny = {"chroma": tiny_dit.CHROMA_SMALL, "zimage": tiny_llm.ZIMAGE_SMALL,
                "qwen-image": tiny_llm.QWEN_IMAGE_SMALL, "flux2": tiny_llm.FLUX2_SMALL,
                "flux2-klein": tiny_llm.FLUX2_SMALL}[family]
        name, layout = LAYOUTS[family]
        return getattr(sm, name)(dict(tiny if reduced else layout))
    if reduced:
        return tiny_dit.flux_config() if family == "flux" else tiny_dit.sd3_config()
    if family == "sd3":
        return sm.SD3(dict(SD3_MEDIUM))
    unet = dict(FLUX_DEV)
    if "txt_ids_dims" in {f.name for f in dataclasses.fields(comfy.ldm.flux.model.FluxParams)}:
        unet["txt_ids_dims"] = []
    return sm.Flux(unet)


@torch.inference_mode()
def build(family: str, reduced: bool):
    """A ModelPatcher made on the device in the stored dtype, computed in bf16 (manual cast),
    with seeded random weights (fan-in scaled), as a loader makes one."""
    import comfy.model_management as mm
    import comfy.model_patcher

    cfg, device = config(family, reduced), mm.get_torch_device()
    cfg.set_inference_dtype(STORED[family], torch.bfloat16)
    base = cfg.get_model({}, device=device)
    g = torch.Generator(device).manual_seed(0)
    for p in base.diffusion_model.parameters():
        scale = 1.0 / max(1, p[0].numel()) ** 0.5 if p.dim() >= 2 else 0.02
        p.copy_(torch.randn(p.shape, generator=g, device=device, dtype=torch.bfloat16) * scale)
    base.eval()
    return comfy.model_patcher.ModelPatcher(base, load_device=device, offload_device=device)


def update(den, opt, delta, x_t, t, conds, targets) -> float:
    """One θ step: ε over [concept, superclass] with δ, MSE (λ = 10 on the superclass), Adam."""
    from advanchor_pack.advanchor_core.denoiser import with_autocast
    from advanchor_pack.nodes.bridge import training_mode

    with training_mode():
        out = with_autocast(den, "bf16")(x_t, t, conds, delta)
        loss = torch.nn.functional.mse_loss(out[0], targets[0]) + \
            10 * torch.nn.functional.mse_loss(out[1], targets[1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def run(family: str, reduced: bool) -> str:
    from advanchor_pack.advanchor_core.presets import select_parameters
    from advanchor_pack.nodes.bridge import ragged
    from advanchor_pack.nodes.bridge.denoiser import ComfyDenoiser
    from advanchor_pack.nodes.bridge.latents import latent_shape

    patcher = build(family, reduced)
    den = ComfyDenoiser(patcher, checkpointing=True).prepare()
    names = select_parameters(den.named_weights(), "xattn")
    device, shape = den.device, latent_shape(patcher, 128 if reduced else 1024)
    g = torch.Generator().manual_seed(1)
    rows = 4 if reduced else TEXT_ROWS[family]
    if den.family.ragged:   # each prompt at its own length, as the text encoder stores it
        conds = torch.cat([ragged.pad(torch.randn((1, rows - i, den.family.context_dim), generator=g), "")
                           for i in range(2)])
    else:
        conds = torch.randn((2, rows + 1, den.family.context_dim), generator=g)
    x_t = torch.randn((1, *shape), generator=g).repeat(2, 1, 1, 1)
    targets = torch.randn((2, *shape), generator=g).to(device)
    t = torch.full((2,), den.schedule.num_timesteps // 2)
    with torch.inference_mode(False):
        delta = {n: torch.zeros_like(den.named_weights()[n], dtype=torch.float32, requires_grad=True)
                 for n in names}
        opt = torch.optim.Adam(delta.values(), lr=1e-5)
    try:
        update(den, opt, delta, x_t, t, conds, targets)   # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        update(den, opt, delta, x_t, t, conds, targets)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    except torch.OutOfMemoryError:
        return f"{family}: out of memory"
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in den.unet.parameters())
    peak = f"{torch.cuda.max_memory_allocated(device) / MIB:,.0f} MiB" if device.type == "cuda" else "n/a (CPU)"
    return (f"{family}: {params / 1e9:.2f}B parameters stored {str(STORED[family]).split('.')[-1]}, "
            f"{len(names)} trained tensors, {seconds:.2f} s/update, max allocated {peak}")


GIB = 2 ** 30
PER_TRAINED = 16  # bytes: δ, its gradient, Adam's exp_avg and exp_avg_sq, all float32


def count(family: str) -> list[str]:
    """Per preset: trained parameters and weights + trained state in GiB, at full size."""
    from advanchor_pack.advanchor_core.presets import PRESETS, select_parameters

    cfg = config(family, False)
    cfg.set_inference_dtype(torch.bfloat16, None)
    with torch.device("meta"):
        sizes = {n: p.numel() for n, p in cfg.get_model({}, device="meta").diffusion_model.named_parameters()}
    total = sum(sizes.values())
    weights = {"fp8": total / GIB, "bf16": 2 * total / GIB}
    lines = [f"{family}: {total / 1e9:.2f}B parameters; weights {weights['fp8']:.1f} GiB fp8, "
             f"{weights['bf16']:.1f} GiB bf16"]
    for preset in PRESETS:
        trained = sum(sizes[n] for n in select_parameters(list(sizes), preset))
        state = PER_TRAINED * trained / GIB
        lines.append(f"  {preset:<13} {trained / 1e9:6.3f}B trained, state {state:5.1f} GiB, with "
                     f"weights {weights['fp8'] + state:5.1f} GiB (fp8) / {weights['bf16'] + state:5.1f} GiB (bf16)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reduced", action="store_true", help="tiny layouts: check the script")
    parser.add_argument("--count", action="store_true", help="trained parameters per preset, on the CPU")
    parser.add_argument("--family", choices=FAMILIES, action="append")
    args = parser.parse_args()
    bootstrap(gpu=not (args.reduced or args.count))
    for family in args.family or FAMILIES:
        print("\n".join(count(family)) if args.count else run(family, args.reduced), flush=True)


if __name__ == "__main__":
    main()

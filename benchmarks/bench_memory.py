"""Peak memory and time of one unlearning update on an SDXL-layout UNet in ComfyUI, with and
without gradient checkpointing and bf16 autocast (the Unlearn node's memory options).

    python benchmarks/bench_memory.py            # CPU: reduced SDXL layout (2 levels, 128 ch)
    python benchmarks/bench_memory.py --full     # CUDA: the real SDXL UNet, fp16 weights, 1024 px

One update = the θ step of the loop: a forward pass over [concept, superclass] with an xattn
delta, the loss, and the backward pass. On CUDA the figure is torch's peak allocated memory;
on the CPU, where allocator peaks are not observable, it is the bytes autograd saved for the
backward pass (the activations checkpointing removes) plus the process's peak RSS. Each case
runs in its own process.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {"plain": (False, "off"), "checkpointing": (True, "off"), "bf16": (False, "bf16"),
         "checkpointing+bf16": (True, "bf16")}

SDXL_FULL = dict(in_channels=4, out_channels=4, model_channels=320, num_res_blocks=[2, 2, 2],
                 channel_mult=[1, 2, 4], transformer_depth=[0, 0, 2, 2, 10, 10],
                 transformer_depth_output=[0, 0, 0, 2, 2, 2, 10, 10, 10], transformer_depth_middle=10,
                 use_linear_in_transformer=True, context_dim=2048, adm_in_channels=2816,
                 num_classes="sequential", use_temporal_attention=False, image_size=32,
                 use_spatial_transformer=True, legacy=False)
SDXL_CPU = dict(SDXL_FULL, model_channels=128, num_res_blocks=[1, 1], channel_mult=[1, 2],
                transformer_depth=[1, 1], transformer_depth_output=[1, 1, 1, 1],
                transformer_depth_middle=1)


def run_case(name: str, full: bool) -> dict:
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from comfy_support import runtime, tiny

    runtime.bootstrap(cpu=not torch.cuda.is_available())
    runtime.load_pack()
    from advanchor_pack.advanchor_core.denoiser import with_autocast
    from advanchor_pack.advanchor_core.presets import select_parameters
    from advanchor_pack.nodes import comfy_bridge as bridge

    checkpointing, autocast = CASES[name]
    unet_config = dict(SDXL_FULL if full else SDXL_CPU)
    if full:
        unet_config["dtype"] = torch.float16
    model = tiny.tiny_family_model("sdxl", 0, unet_config=unet_config)
    den = bridge.ComfyDenoiser(model, checkpointing=checkpointing).prepare()
    device = den.device
    latent = 128 if full else 32
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn((2, 4, latent, latent), generator=g)
    t = torch.tensor([400, 400])
    cond = torch.randn((2, 78, 2048), generator=g)
    names = select_parameters(den.named_weights(), "xattn")
    wrapped = with_autocast(den, autocast)
    saved = [0]

    def step() -> float:
        with bridge.training_mode():
            delta = {k: torch.zeros_like(den.named_weights()[k], dtype=torch.float32,
                                         requires_grad=True) for k in names}
            with torch.autograd.graph.saved_tensors_hooks(
                    lambda x: saved.__setitem__(0, saved[0] + x.numel() * x.element_size()) or x,
                    lambda x: x):
                loss = wrapped(x_t, t, cond, delta).pow(2).mean()
            torch.autograd.grad(loss, list(delta.values()))
        return float(loss)

    step()                                   # warm-up (kernels, caches)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    saved[0] = 0
    start = time.perf_counter()
    loss = step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"case": name, "seconds": seconds, "saved_mib": saved[0] / 2**20, "peak_mib": peak,
            "loss_finite": loss == loss and abs(loss) != float("inf"), "device": str(device),
            "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the real SDXL UNet (GPU)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads")
    ap.add_argument("--write", action="store_true", help="also record the table in RESULTS.md")
    ap.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(args.case, args.full)))
        return
    rows = []
    for name in CASES:
        cmd = [sys.executable, __file__, "--case", name, "--threads", str(args.threads)]
        out = subprocess.run(cmd + (["--full"] if args.full else []), capture_output=True,
                             text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    size = "SDXL UNet, fp16, 1024 px" if args.full else "SDXL layout (2 levels, 128 ch), 256 px"
    lines = [f"## bench_memory — one update (forward+backward, xattn delta, batch 2), {size}", "",
             f"`python benchmarks/bench_memory.py{' --full' if args.full else ''} --threads "
             f"{args.threads}` through the ComfyUI bridge on {rows[0]['device_name']}. *saved*: "
             "activation memory autograd keeps for the backward pass.", "",
             "| case | s/update | saved MiB | peak MiB | loss finite |", "|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['seconds']:.2f} | {r['saved_mib']:.1f} | {r['peak_mib']:.0f} | "
              f"{r['loss_finite']} |" for r in rows]
    print("\n".join(lines))
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from benchmarks.results_md import write_section

        write_section("bench_memory_full" if args.full else "bench_memory", "\n".join(lines))


if __name__ == "__main__":
    main()

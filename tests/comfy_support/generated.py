"""Generated test models, made once and shared by every test run that asks for the same ones.

Why: the thin checkpoints ComfyUI detects need full-shape text encoders (the SDXL one holds a
1.4 GB CLIP-G) and take tens of seconds to make; the server and workflow tests ask for the same
files, and scripts/test.sh runs them on two ComfyUI versions. A file is made by its generator
script into a cache folder (ADVANCHOR_TEST_CACHE, else ~/.cache/advanchor-tests) under a key of
the generator's sources and arguments, then linked where the test wants it. A generator whose
output depends on the ComfyUI version under test (`checkpoint_dit.py` writes a thin Flux only
where ComfyUI can load it) says so, and the version joins its key.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .runtime import REPO, comfyui_dir

SUPPORT = Path(__file__).resolve().parent
SOURCES = ("checkpoint.py", "checkpoint_dit.py", "tiny.py", "tiny_dit.py", "runtime.py")
BY_VERSION = {"checkpoint_dit.py"}


def cache_root() -> Path:
    return Path(os.environ.get("ADVANCHOR_TEST_CACHE") or Path.home() / ".cache" / "advanchor-tests")


def comfyui_version() -> str:
    text = (comfyui_dir() / "comfyui_version.py").read_text()
    return text.split("__version__", 1)[1].split('"')[1]


NEWER_FAMILIES_FROM = (0, 33)  # Chroma, Z-Image, Qwen-Image, Flux.2 are tested from ComfyUI 0.33.0


def tests_newer_families() -> bool:
    """Whether this ComfyUI is one the newer families are tested on (older ones lack Flux.2
    Klein's encoder and take other tiny layouts)."""
    return tuple(int(v) for v in comfyui_version().split(".")[:2]) >= NEWER_FAMILIES_FROM


def entry_name(script: str, args: tuple[str, ...]) -> tuple[str, str]:
    """(what the entry is, a hash of the sources that make it): an entry whose sources changed
    replaces the one made before."""
    parts = [Path(script).stem, *(a for a in args if a)]
    if script in BY_VERSION:
        parts.append(f"comfyui{comfyui_version()}")
    digest = hashlib.sha256("\0".join(parts).encode())
    for name in SOURCES:
        digest.update((SUPPORT / name).read_bytes())
    return "-".join(parts).replace("/", "_"), digest.hexdigest()[:16]


def made(script: str, name: str, *args: str) -> Path:
    """The cache folder holding what `python -m tests.comfy_support.<script stem> FOLDER/<name>
    args…` writes, made if needed: `checkpoint.py` writes the one file `name`, `checkpoint_dit.py` fills a models folder
    (`name` "")."""
    stem, digest = entry_name(script, (name, *args))
    entry = cache_root() / f"{stem}-{digest}"
    if entry.is_dir():
        return entry
    cache_root().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{stem}-", dir=cache_root()))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    module = f"tests.comfy_support.{Path(script).stem}"
    subprocess.run([sys.executable, "-m", module, str(work / name), *args],
                   check=True, env=env, capture_output=True, cwd=REPO)
    for old in cache_root().iterdir():  # the same entry, made by older sources
        if re.fullmatch(re.escape(stem) + r"-[0-9a-f]{16}", old.name):
            shutil.rmtree(old, ignore_errors=True)
    work.rename(entry)
    return entry


def link_into(folder: Path, script: str, name: str, *args: str) -> None:
    """Link every file `made(script, name, *args)` holds into `folder` (subfolders kept)."""
    entry = made(script, name, *args)
    for path in entry.rglob("*"):
        if path.is_file():
            target = folder / path.relative_to(entry)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(path)

"""Filename prefixes → the next free file inside ComfyUI's output folder, never outside it."""
from __future__ import annotations

import os

from ...advanchor_core.errors import AdvAnchorError


def safe_prefix(filename_prefix: str) -> str:
    """Reject prefixes that would leave the output folder, with a message saying what to do."""
    prefix = (filename_prefix or "").strip()
    if not prefix:
        raise AdvAnchorError("filename_prefix is empty: give a name such as 'erased/van_gogh'")
    parts = prefix.replace("\\", "/").split("/")
    if os.path.isabs(prefix) or prefix.startswith(("/", "\\")) or ".." in parts or \
            (len(prefix) > 1 and prefix[1] == ":"):
        raise AdvAnchorError(f"filename_prefix {filename_prefix!r} points outside the output "
                             "folder: use a relative name without '..', such as 'erased/van_gogh'")
    return prefix


def output_path(filename_prefix: str, root: str) -> str:
    """The next free `<root>/<prefix>_NNNNN_.safetensors`, `root` inside the output folder."""
    import folder_paths

    prefix = safe_prefix(filename_prefix)
    os.makedirs(root, exist_ok=True)
    folder, name, counter, _, _ = folder_paths.get_save_image_path(prefix, root)
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}_{counter:05}_.safetensors")

"""Test support for the pack inside the real ComfyUI runtime (never shipped, never downloads)."""

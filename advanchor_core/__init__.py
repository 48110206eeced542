"""AdvAnchor's method in plain torch: adversarial anchors and concept unlearning.

This package never imports ComfyUI; the pack's nodes translate ComfyUI objects into the
interfaces defined here (`Denoiser`, `TextEncoder`, tensors) and back.
"""
__version__ = "0.1.0"

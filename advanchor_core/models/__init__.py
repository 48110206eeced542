"""Plain torch denoisers the core runs on outside ComfyUI (tests, the lab, benchmarks)."""
from .unet import UNet, UNetConfig

__all__ = ["UNet", "UNetConfig"]

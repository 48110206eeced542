"""Empty stand-in: `torchvision.transforms` (tests only)."""


def __getattr__(name):
    raise AttributeError(f"torchvision stand-in (tests only) has no transforms.{name}")

"""Empty stand-in: `torchvision.models` (tests only)."""


def __getattr__(name):
    raise AttributeError(f"torchvision stand-in (tests only) has no models.{name}")

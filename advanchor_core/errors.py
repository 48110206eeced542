"""The pack's exceptions. Every message says what the user should change."""


class AdvAnchorError(ValueError):
    """Bad input or a run that cannot produce a usable erasure."""


class NonFiniteLossError(AdvAnchorError):
    """A loss became NaN/inf: the run stops and no erasure is produced."""


class Cancelled(Exception):
    """The caller asked the run to stop; no result exists."""

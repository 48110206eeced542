"""The pack's exceptions. Every message says what the user should change.

ComfyUI titles a node's error with the exception's module and class name, and imports a custom
node pack under its folder's path, so the title would be a file path
("/…/custom_nodes/advanchor.advanchor_core.errors.AdvAnchorError"). The classes name the pack as
their module instead: the title reads "AdvAnchor.AdvAnchorError".
"""


class AdvAnchorError(ValueError):
    """Bad input or a run that cannot produce a usable erasure."""

    __module__ = "AdvAnchor"


class NonFiniteLossError(AdvAnchorError):
    """A loss became NaN/inf: the run stops and no erasure is produced."""

    __module__ = "AdvAnchor"


class Cancelled(Exception):
    """The caller asked the run to stop; no result exists."""

    __module__ = "AdvAnchor"

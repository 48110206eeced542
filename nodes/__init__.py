"""ComfyUI nodes of the pack: thin translations onto `advanchor_core` (see bridge/)."""

"""AdvAnchor for ComfyUI: concept unlearning with adversarial anchors (arXiv:2501.00054).

ComfyUI imports this file and awaits `comfy_entrypoint` (V3 node API). The node modules are
imported inside it, so importing this package outside ComfyUI (test collectors, tools) has no
side effects. The method itself lives in `advanchor_core`, which never imports ComfyUI.
"""


async def comfy_entrypoint():
    from .nodes.extension import AdvAnchorExtension

    return AdvAnchorExtension()

"""The pack's ComfyUI extension: the list of nodes."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .anchor import SearchAnchorNode
from .attack import AttackErasureNode
from .closed_form import EraseClosedFormNode
from .concept import ConceptNode
from .files import ApplyErasureNode, SaveErasedCheckpointNode, SaveErasureNode, register_output_loras
from .measure import MeasureErasureNode
from .sensitivity import ConceptSensitivityNode
from .unlearn import UnlearnNode

NODES: list[type[io.ComfyNode]] = [ConceptNode, SearchAnchorNode, UnlearnNode, EraseClosedFormNode,
                                   SaveErasedCheckpointNode, SaveErasureNode, ApplyErasureNode,
                                   ConceptSensitivityNode, AttackErasureNode,
                                   MeasureErasureNode]


class AdvAnchorExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        register_output_loras()  # here, not on_load: ComfyUI 0.3.x never calls on_load
        return list(NODES)



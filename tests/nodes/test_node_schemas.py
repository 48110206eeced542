"""Every node describes itself for a user: tooltips, the category, and the expert settings folded
away as advanced."""
from __future__ import annotations


def test_schemas_have_tooltips_and_category(n):
    for cls in n.values():
        schema = cls.GET_SCHEMA()
        assert schema.category == "AdvAnchor"
        missing = [i.id for i in schema.inputs if not i.tooltip]
        assert not missing, f"{schema.node_id}: inputs without tooltip {missing}"


DEFAULT_VIEW = {"unlearn": {"model", "clip", "concept", "anchor", "layers", "latent", "method",
                            "iterations", "parameters", "seed", "more_concepts"},
                "anchor": {"model", "clip", "concept", "latent", "draws", "seed"}}


def test_expert_settings_are_marked_advanced(n, pack):
    """What a user decides stays in view; the rest is sent as advanced where ComfyUI's schema
    has the field (≥ 0.12; the browser test sees the newest frontend fold them)."""
    import inspect

    from advanchor_pack.nodes.attack import AttackErasureNode
    from comfy_api.latest import io

    nodes = {"unlearn": n["unlearn"], "anchor": n["anchor"], "attack": AttackErasureNode}
    view = DEFAULT_VIEW | {"attack": {"erased_model", "original_model", "clip", "concept", "latent",
                                      "steps", "seed"}}
    sent = "advanced" in inspect.signature(io.Int.Input.__init__).parameters
    for name, cls in nodes.items():
        inputs = cls.GET_SCHEMA().inputs
        assert {i.id for i in inputs if not getattr(i, "advanced", False)} == view[name], name
        if sent:
            info = cls.GET_NODE_INFO_V1()["input"]
            flags = {k: bool(spec[1].get("advanced")) for section in ("required", "optional")
                     for k, spec in info.get(section, {}).items() if len(spec) > 1}
            assert {k for k, on in flags.items() if on} == {i.id for i in inputs} - view[name], name

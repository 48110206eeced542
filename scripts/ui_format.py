"""ComfyUI's UI workflow format (what the frontend saves) ⇄ the API prompt `/prompt` takes.

Written for the pack's tests and its workflow builder; needs only `/object_info`'s answer:
- a node's widgets are its inputs of a widget type (INT, FLOAT, STRING, BOOLEAN, COMBO or an
  option list), in `input_order` (required, then optional); `widgets_values` holds their values
  in that order, each INT with `control_after_generate` (or, without the flag, named seed or
  noise_seed) followed by its control value ("fixed", "randomize", ...), which is not an input;
- every other input is a socket and appears in the node's `inputs` with a link id (or null);
  a widget turned into a socket appears there too, with `widget: {name}`;
- a link is `[id, origin node, origin slot, target node, target slot, type]`;
- frontend-only nodes: Note and MarkdownNote (dropped), Reroute (followed), PrimitiveNode
  (its value replaces the link).
"""
from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
COMMENT_NODES = {"Note", "MarkdownNote"}
MUTED, BYPASSED = 2, 4


class ConversionError(ValueError):
    pass


def is_widget(spec) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def has_control(spec, name: str = "") -> bool:
    """Whether the frontend adds a "control after generate" value after this widget's: an INT
    with `control_after_generate`, or, when the flag is absent, one named seed or noise_seed."""
    if spec[0] != "INT":
        return False
    opts = spec[1] if len(spec) > 1 else {}
    return bool(opts.get("control_after_generate", name in ("seed", "noise_seed")))


def input_specs(info: dict) -> list[tuple[str, list]]:
    """(name, spec) of every input, in the order the frontend lays them out."""
    out = []
    order = info.get("input_order") or {k: list(v) for k, v in info["input"].items()}
    for section in ("required", "optional"):
        specs = info["input"].get(section, {})
        out += [(name, specs[name]) for name in order.get(section, []) if name in specs]
    return out


def widget_names(info: dict) -> list[tuple[str, bool]]:
    """(name, followed by a control value) of each widget, in `widgets_values` order."""
    return [(name, has_control(spec, name)) for name, spec in input_specs(info) if is_widget(spec)]


def widget_values(node: dict, info: dict) -> dict:
    values = node.get("widgets_values") or []
    if isinstance(values, dict):
        return dict(values)
    out, i = {}, 0
    for name, control in widget_names(info):
        if i >= len(values):
            raise ConversionError(f"node {node['id']} ({node['type']}) has {len(values)} widget "
                                  f"values; its definition has more widgets (missing {name!r})")
        out[name] = values[i]
        i += 2 if control else 1
    if i != len(values):
        raise ConversionError(f"node {node['id']} ({node['type']}) has {len(values)} widget values, "
                              f"its definition expects {i}: the workflow is for another version")
    return out


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """The API prompt of a UI-format workflow (node ids as strings)."""
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {}
    for link in workflow.get("links", []):
        if isinstance(link, dict):
            link = [link["id"], link["origin_id"], link["origin_slot"], link["target_id"],
                    link["target_slot"], link["type"]]
        links[link[0]] = link

    def source(link_id, seen=()):
        if link_id not in links:
            raise ConversionError(f"link {link_id} is referenced but not defined")
        _, origin, slot, *_ = links[link_id]
        node = nodes[origin]
        if node["type"] == "Reroute":
            upstream = (node.get("inputs") or [{}])[0].get("link")
            if upstream is None or origin in seen:
                return None
            return source(upstream, seen + (origin,))
        if node["type"] == "PrimitiveNode":
            return ("value", (node.get("widgets_values") or [None])[0])
        if node.get("mode", 0) == MUTED:
            return None
        if node.get("mode", 0) == BYPASSED:
            raise ConversionError(f"node {origin} ({node['type']}) is bypassed: not supported")
        return ("link", [str(origin), slot])

    prompt = {}
    for node in workflow["nodes"]:
        kind = node["type"]
        if kind in COMMENT_NODES or kind in ("Reroute", "PrimitiveNode"):
            continue
        if node.get("mode", 0) in (MUTED, BYPASSED):
            continue
        info = object_info.get(kind)
        if info is None:
            raise ConversionError(f"node {node['id']} is of type {kind!r}, which this ComfyUI "
                                  "does not know (a missing custom node?)")
        inputs = widget_values(node, info)
        for inp in node.get("inputs") or []:
            if inp.get("link") is None:
                continue
            src = source(inp["link"])
            if src is None:
                inputs.pop(inp["name"], None)
            elif src[0] == "value":
                inputs[inp["name"]] = src[1]
            else:
                inputs[inp["name"]] = src[1]
        prompt[str(node["id"])] = {"class_type": kind, "inputs": inputs}
    return prompt


def set_widget(node: dict, info: dict, name: str, value) -> None:
    """Change one widget's value in a UI node, in place."""
    i = 0
    for widget, control in widget_names(info):
        if widget == name:
            node["widgets_values"][i] = value
            return
        i += 2 if control else 1
    raise KeyError(f"{node['type']} has no widget {name!r} (widgets: "
                   f"{[w for w, _ in widget_names(info)]})")

"""A ComfyUI workflow in its UI format, built from a short description: nodes with widget values
(each starting at its input's default from /object_info), links by socket name, a column layout,
and the pieces every example workflow shares (loader, prompts, sampler branch, before/after).

Why build them: a workflow's JSON holds every widget value positionally; written by hand it goes
stale the moment a node gains an input. `scripts/build_workflows.py` describes each example
workflow with these pieces and writes the JSON from the node definitions of a running ComfyUI.
"""
from __future__ import annotations

import json
import uuid

from scripts.ui_format import has_control, input_specs, is_widget

CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
NEGATIVE = "lowres, blurry, jpeg artifacts, watermark, text"
COLORS = {"what": "#3f789e", "erase": "#a1309b", "before": "#8A8A8A", "after": "#b06634",
          "out": "#88A", "inspect": "#b58b2a"}
WIDTH = 320
ROW = 24


class Node:
    def __init__(self, graph: "Graph", nid: int, kind: str, pos, title=None, **widgets):
        self.graph, self.id, self.kind, self.pos, self.title = graph, nid, kind, list(pos), title
        self.info = graph.oi[kind]
        specs = input_specs(self.info)
        self.sockets = [(n, s[0]) for n, s in specs if not is_widget(s)]
        self.widgets = [(n, s) for n, s in specs if is_widget(s)]
        unknown = set(widgets) - {n for n, _ in self.widgets}
        if unknown:
            raise KeyError(f"{kind} has no widget(s) {sorted(unknown)}")
        self.values = {n: widgets.get(n, self.default(s)) for n, s in self.widgets}
        self.links_in: dict[str, int] = {}
        self.links_out: dict[int, list[int]] = {}
        self.width = WIDTH

    @staticmethod
    def default(spec):
        opts = spec[1] if len(spec) > 1 else {}
        if "default" in opts:
            return opts["default"]
        choices = spec[0] if isinstance(spec[0], list) else opts.get("options", [])
        return choices[0] if choices else ""

    def height(self) -> int:
        rows = max(len(self.sockets) + sum(1 for n in self.links_in if n not in dict(self.sockets)),
                   len(self.info["output"]))
        h = 34 + ROW * rows + ROW * len(self.widgets)
        h += sum(72 for _, s in self.widgets if len(s) > 1 and s[1].get("multiline"))
        return h

    def to_json(self, order: int) -> dict:
        inputs = [{"name": n, "type": t if isinstance(t, str) else "COMBO", "link": self.links_in.get(n)}
                  for n, t in self.sockets]
        for name, link in self.links_in.items():
            if name in {n for n, _ in self.widgets}:
                spec = dict(self.widgets)[name]
                inputs.append({"name": name, "type": spec[0], "widget": {"name": name}, "link": link})
        outputs = [{"name": name, "type": kind, "links": self.links_out.get(i, []), "slot_index": i}
                   for i, (name, kind) in enumerate(zip(self.info["output_name"], self.info["output"]))]
        values = []
        for name, spec in self.widgets:
            values.append(self.values[name])
            if has_control(spec, name):
                values.append("fixed")
        node = {"id": self.id, "type": self.kind, "pos": self.pos, "size": [self.width, self.height()],
                "flags": {}, "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
                "properties": {"Node name for S&R": self.kind}, "widgets_values": values}
        if self.title:
            node["title"] = self.title
        return node


class Graph:
    def __init__(self, object_info: dict):
        self.oi = object_info
        self.nodes: list[Node] = []
        self.notes: list[dict] = []
        self.links: list[list] = []
        self.groups: list[dict] = []

    def next_id(self) -> int:
        return len(self.nodes) + len(self.notes) + 1

    def add(self, kind, pos, title=None, **widgets) -> Node:
        node = Node(self, self.next_id(), kind, pos, title, **widgets)
        self.nodes.append(node)
        return node

    def link(self, src: Node, slot: int, dst: Node, name: str) -> None:
        lid = len(self.links) + 1
        kind = src.info["output"][slot]
        self.links.append([lid, src.id, slot, dst.id, self.slot_of(dst, name), kind])
        dst.links_in[name] = lid
        src.links_out.setdefault(slot, []).append(lid)

    @staticmethod
    def slot_of(node: Node, name: str) -> int:
        names = [n for n, _ in node.sockets] + [n for n, _ in node.widgets if n not in dict(node.sockets)]
        linked_widgets = [n for n in node.links_in if n in dict(node.widgets)]
        order = [n for n, _ in node.sockets] + linked_widgets
        if name not in order:
            order.append(name)
        if name not in names:
            raise KeyError(f"{node.kind} has no input {name!r}")
        return order.index(name)

    def note(self, text: str, pos, size=(360, 200), title="Note") -> None:
        self.notes.append({"id": self.next_id(), "type": "MarkdownNote", "pos": list(pos),
                           "size": list(size), "flags": {}, "order": 0, "mode": 0, "inputs": [],
                           "outputs": [], "title": title, "properties": {},
                           "widgets_values": [text], "color": "#432", "bgcolor": "#653"})

    def group(self, title: str, members: list[Node], color: str, pad: int = 16) -> None:
        x0 = min(n.pos[0] for n in members) - pad
        y0 = min(n.pos[1] for n in members) - pad - 34
        x1 = max(n.pos[0] + n.width for n in members) + pad
        y1 = max(n.pos[1] + n.height() for n in members) + pad
        self.groups.append({"id": len(self.groups) + 1, "title": title, "bounding": [x0, y0, x1 - x0, y1 - y0],
                            "color": color, "font_size": 22, "flags": {}})

    def to_json(self) -> dict:
        order = {n.id: i for i, n in enumerate(self.nodes)}
        nodes = [n.to_json(order[n.id]) for n in self.nodes] + self.notes
        nodes.sort(key=lambda n: n["id"])
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps([n["type"] for n in nodes]))),
                "revision": 0, "last_node_id": max(n["id"] for n in nodes),
                "last_link_id": len(self.links), "nodes": nodes, "links": self.links,
                "groups": self.groups, "config": {},
                "extra": {"ds": {"scale": 0.75, "offset": [40, 40]}}, "version": 0.4}


# --- shared pieces -----------------------------------------------------------------------------

def loader(g: Graph, pos, ckpt=CHECKPOINT) -> Node:
    return g.add("CheckpointLoaderSimple", pos, ckpt_name=ckpt)


SD15_SAMPLER = dict(steps=25, cfg=7.5, sampler_name="euler", scheduler="normal", denoise=1.0)


def sampler_branch(g: Graph, x, y, model, clip_pos, clip_neg, latent, seed, vae, title,
                   sampler: dict = SD15_SAMPLER):
    """KSampler → VAEDecode; `model` and `vae` are (node, output slot), or a checkpoint loader
    for `vae` (its slot 2)."""
    ks = g.add("KSampler", (x, y), title=f"KSampler {title}", seed=42, **sampler)
    g.link(model[0], model[1], ks, "model")
    g.link(clip_pos, 0, ks, "positive")
    g.link(clip_neg, 0, ks, "negative")
    g.link(latent, 0, ks, "latent_image")
    if seed is not None:
        g.link(seed, 0, ks, "seed")
    dec = g.add("VAEDecode", (x, y + ks.height() + 30))
    g.link(ks, 0, dec, "samples")
    g.link(*(vae if isinstance(vae, tuple) else (vae, 2)), dec, "vae")
    return ks, dec


def prompts(g: Graph, ckpt: Node, x, y, positive: str):
    pos = g.add("CLIPTextEncode", (x, y), title="Prompt (positive)", text=positive)
    neg = g.add("CLIPTextEncode", (x, y + pos.height() + 110), title="Prompt (negative)", text=NEGATIVE)
    g.link(ckpt, 1, pos, "clip")
    g.link(ckpt, 1, neg, "clip")
    return pos, neg


def stitch_and_save(g: Graph, x, y, left: Node, right: Node, prefix: str):
    st = g.add("ImageStitch", (x, y), title="Before | After", direction="right",
               match_image_size=True, spacing_width=16, spacing_color="white")
    g.link(left, 0, st, "image1")
    g.link(right, 0, st, "image2")
    save = g.add("SaveImage", (x, y + st.height() + 30), filename_prefix=prefix)
    save.width = 560
    g.link(st, 0, save, "images")
    return st, save


def unlearn(g: Graph, pos, model, clip: Node, concept: Node, anchor=None, title=None, **widgets) -> Node:
    """Unlearn at its defaults; with an anchor connected the method is the adversarial one."""
    if anchor is not None:
        widgets.setdefault("method", "adversarial")
    u = g.add("AdvAnchorUnlearn", pos, title=title, **widgets)
    g.link(model[0], model[1], u, "model")
    g.link(clip, 1, u, "clip")
    g.link(concept, 0, u, "concept")
    if anchor is not None:
        g.link(anchor, 0, u, "anchor")
    return u

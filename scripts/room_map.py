"""The house's rooms and the imports between them: `python -m scripts.room_map` prints the map.

Rooms, from the bottom up: `advanchor_core` (the method; never imports ComfyUI), `nodes/bridge`
(ComfyUI's objects as the core's interfaces), `nodes` (one node family per file), and beside the
product `advanchor_lab` (the research world, on the core only). The workshop — `benchmarks`,
`scripts`, `tests` — may import any room; no product room imports the workshop or the lab.
`tests/test_rooms.py` holds the house to this; docs/architecture.md draws it.
"""
from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("advanchor_core", "nodes/bridge", "nodes", "advanchor_lab", "benchmarks", "scripts", "tests")
ALLOWED = {
    "advanchor_core": set(),
    "nodes/bridge": {"advanchor_core"},
    "nodes": {"nodes/bridge", "advanchor_core"},
    "advanchor_lab": {"advanchor_core"},
}
COMFYUI_MODULES = ("comfy", "comfy_api", "comfy_extras", "folder_paths", "node_helpers", "server",
                   "latent_preview", "comfy_execution", "execution")


def room_of(parts: tuple[str, ...]) -> str | None:
    """The room a module path (("nodes", "bridge", "text")) lives in, or None outside the repo."""
    path = "/".join(parts)
    for room in ROOMS:
        if path == room or path.startswith(room + "/"):
            return room
    return None


def module_parts(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(REPO).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported(path: Path) -> list[tuple[str, ...]]:
    """Every module `path` imports, as repository-relative parts (relative imports resolved)."""
    package = module_parts(path) if path.name == "__init__.py" else module_parts(path)[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [tuple(a.name.split(".")) for a in node.names]
        elif isinstance(node, ast.ImportFrom):  # `from a import b`: b may be a module a.b
            base = package[:len(package) - node.level + 1] if node.level else ()
            module = (*base, *(node.module or "").split("."))
            found += [(*module, a.name) for a in node.names]
    return [tuple(p for p in parts if p and p != "*") for parts in found]


def python_files() -> list[Path]:
    skip = {".git", "output", "node_modules"}
    return [p for p in REPO.rglob("*.py")
            if not any(part in skip or part.startswith(".venv") for part in p.relative_to(REPO).parts)]


def arrows() -> Counter:
    """(from room, to room) → number of import statements; "ComfyUI" is a room of its own."""
    count: Counter = Counter()
    for path in python_files():
        source = room_of(module_parts(path))
        if source is None:
            continue
        for parts in imported(path):
            target = room_of(parts) or ("ComfyUI" if parts and parts[0] in COMFYUI_MODULES else None)
            if target and target != source:
                count[source, target] += 1
    return count


def upward(count: Counter) -> list[tuple[str, str]]:
    """The arrows a product or lab room may not have."""
    return sorted((a, b) for a, b in count if a in ALLOWED and b not in ALLOWED[a]
                  and not (b == "ComfyUI" and a in ("nodes", "nodes/bridge")))


def module_graph(rooms: tuple[str, ...]) -> dict[str, set[str]]:
    """Module → the modules of `rooms` it imports (packages as their `__init__`)."""
    files = {".".join(module_parts(p)): p for p in python_files() if room_of(module_parts(p)) in rooms}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for parts in imported(path):
            for end in range(len(parts), 0, -1):  # `from a.b import c`: module a.b.c or a.b
                if ".".join(parts[:end]) in files:
                    targets.add(".".join(parts[:end]))
                    break
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


PRODUCT = ("advanchor_core", "nodes/bridge", "nodes", "advanchor_lab")


def main() -> None:
    count = arrows()
    for (a, b), n in sorted(count.items()):
        print(f"{a:15} → {b:15} {n:4d} imports")
    bad = upward(count)
    print("upward or sideways arrows:", ", ".join(f"{a} → {b}" for a, b in bad) if bad else "none")
    loops = cycles(module_graph(PRODUCT))
    print("import cycles:", "; ".join(" ↔ ".join(c) for c in loops) if loops else "none")


if __name__ == "__main__":
    main()

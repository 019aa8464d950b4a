"""The layout shows the architecture, and the imports keep it: arrows run one way,
app -> certify -> (analytics, participants, cluster) -> api -> settlement -> scheme -> iso20022 -> the neutral leaves,
and no module imports itself back through others (no import circle), lazy imports inside functions included.
docs/architecture.md draws the same picture."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rail", "participants", "analytics")

# Layer of each part of the house; a module may import only its own layer or lower ones. Siblings on one
# level may import each other only in the direction listed in SIBLING_ARROWS.
LAYERS: dict[str, int] = {
    "rail.money": 0,  # the one amount maximum: the ISO 20022 profile checks it too
    "rail.clock": 0,  # real or simulated time: the core, the banks and the simulator read it
    "rail.recent": 0,  # a dict that forgets its oldest entries: the service's caches, the banks' memories
    "rail.rundir": 0,  # the run-directory format: written by the harness, read by the run report
    "rail.terminal": 0,  # how the CLIs print tables
    "rail.runtime": 0,  # how a process tunes the garbage collector (the application decides when)
    "rail.parent": 0,  # child processes that die with the rail (its snapshot writer, its decode workers)
    "rail.scenario_file": 0,  # finding and reading a --scenario file, one answer for every command
    "rail.iso20022": 1,
    "rail.scheme": 2,
    "rail.settlement": 3,
    "rail.api": 4,
    "rail.cluster": 5,
    "participants": 5,
    "analytics": 5,
    "rail.certify": 6,  # an application over the public API: it drives the one simulated bank as its examiner
    "rail.sim": 6,  # the rail and its simulated banks in simulated time: drives participants, reads analytics
    "rail.app": 7,
    "rail.__main__": 8,  # python -m rail
    "rail": 0,  # the package itself: a docstring
}
SIBLING_ARROWS = {("participants", "analytics")}  # the load model reads the cost data's flows


def part_of(module: str) -> str:
    """The entry of LAYERS a module belongs to (the longest matching prefix)."""
    best = ""
    for part in LAYERS:
        if (module == part or module.startswith(part + ".")) and len(part) > len(best):
            best = part
    assert best, f"{module} is in no layer of tests/test_layout.py: add it"
    return best


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules `module` imports anywhere in its file (top level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            # `from rail import iso20022` imports the module rail.iso20022; `from rail.x import name`, rail.x
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def test_every_arrow_runs_down_the_layers():
    wrong = []
    for module, imported in graph().items():
        here = part_of(module)
        for target in imported:
            there = part_of(target)
            top_here, top_there = here.split(".")[0], there.split(".")[0]
            if LAYERS[there] < LAYERS[here] or here == there:
                continue
            if LAYERS[there] == LAYERS[here] and (
                (top_here, top_there) in SIBLING_ARROWS or (top_here == top_there == "rail" and here == there)
            ):
                continue
            wrong.append(f"{module} ({here}) imports {target} ({there})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_circle():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    # A package's __init__ re-exporting its own modules is not a circle of the house.
    circles = [c for c in circles if not all(m.startswith("rail.iso20022") for m in c)]
    assert not circles, f"import circles: {circles}"

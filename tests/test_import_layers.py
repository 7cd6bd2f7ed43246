"""No import cycle among the toolkit's modules (module-level and function-level imports both count).

The walk reads ``gan/`` with ``ast`` (nothing is imported): every ``import``/``from ... import`` of a
module of the package, wherever it stands (in a function, under ``TYPE_CHECKING``), is an edge. A
``from package import name`` is an edge to ``package.name`` when that is a module, else to the package.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "gan"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` below ``root`` (a package is its ``__init__.py``)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name that ``node`` imports from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its code."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom):
                source = _imported_from(name, path.name == "__init__.py", node)
                if source in modules:
                    names = (f"{source}.{alias.name}" for alias in node.names)
                    graph[name] |= {sub if sub in modules else source for sub in names}
        graph[name].discard(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_toolkit_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 50 and "gan.formats.layout" in graph["gan.formats.exports"]  # the walk sees the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("lazy", [False, True])
def test_a_cycle_is_found_and_reported_as_a_path(tmp_path: Path, lazy: bool) -> None:
    pkg = tmp_path / "gan"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("from ..b import g\n\ndef f():\n    return g\n")
    lazy_import = "def g():\n    from .sub import a  # a function-level import counts too\n"
    inner = lazy_import if lazy else "from .sub.a import f\n"
    (pkg / "b.py").write_text(inner)
    assert find_cycle(import_graph(pkg)) == ["gan.b", "gan.sub.a", "gan.b"]
    (pkg / "b.py").write_text("def g():\n    return 1\n")
    assert find_cycle(import_graph(pkg)) is None


# The toolkit's layers, bottom first (docs/architecture.md draws them). A module may import its own
# package and the packages of lower layers; packages of one layer are peers that never import each other.
LAYERS = [
    ["errors", "names", "locking", "offline", "wheel_files"],
    ["formats"],
    ["config", "models", "outputs"],
    ["process", "cli"],
    ["data", "engine"],
    ["evaluation"],
    ["generation", "seg"],
    ["deploy"],
]
# The one upward import: the config reference page (docs/config.md) is generated from every job's schema.
ALLOWED_UPWARD = {("gan.config.reference", "gan.generation.config"), ("gan.config.reference", "gan.seg.config")}


def package_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def layer_violations(graph: dict[str, set[str]], layers: list[list[str]]) -> list[str]:
    """Imports that do not go to a lower layer (or within their own package)."""
    level = {pkg: i for i, names in enumerate(layers) for pkg in names}
    bad = []
    for module, targets in sorted(graph.items()):
        src = package_of(module)
        for target in sorted(targets):
            dst = package_of(target)
            if module == "gan" or src == dst or (module, target) in ALLOWED_UPWARD:
                continue
            if dst not in level or src not in level or level[dst] >= level[src]:
                bad.append(f"{module} -> {target}")
    return bad


def test_every_import_goes_down_the_layers() -> None:
    graph = import_graph(ROOT)
    packages = {package_of(m) for m in graph if m != "gan"}
    assert packages == {pkg for names in LAYERS for pkg in names}  # every package has its place
    assert layer_violations(graph, LAYERS) == []
    # The check can fail: an import upwards, or between two peers of one layer, is reported.
    upward = {"gan.evaluation.x": {"gan.generation.task"}}
    assert layer_violations(upward, LAYERS) == ["gan.evaluation.x -> gan.generation.task"]
    assert layer_violations({"gan.data.x": {"gan.engine.trainer"}}, LAYERS) == ["gan.data.x -> gan.engine.trainer"]

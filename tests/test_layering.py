"""The layering, read from the source: `common` imports no family, no family imports another,
neither imports the tooling or the tests, and the project's modules import each other without
a cycle (the arrows only run down: families -> common -> MAX)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("common", "families")
TOOLING = ("tooling", "tests", "tools")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """The absolute module names `path` imports (relative imports resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base)
                module = f"{prefix}.{node.module}" if node.module else prefix
            else:
                module = node.module or ""
            # `from . import module` imports the module, not its package's __init__ again.
            if node.module:
                found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each project module of LAYERS and the project modules it imports."""
    files = [p for layer in LAYERS for p in (root / layer).rglob("*.py")]
    modules = {module_name(p, root): p for p in files}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m for m in imports_of(path, root) if m in modules and m != name}
    return graph


def layering_problems(root: Path) -> list[str]:
    problems = []
    files = [p for layer in LAYERS for p in (root / layer).rglob("*.py")]
    for path in files:
        name = module_name(path, root)
        top = name.split(".")
        for imported in sorted(imports_of(path, root)):
            head = imported.split(".")
            if head[0] in TOOLING:
                problems.append(f"{name} imports {imported} (tooling or tests)")
            elif top[0] == "common" and head[0] == "families":
                problems.append(f"{name} imports {imported} (common imports a family)")
            elif top[0] == "families" and head[0] == "families" and len(head) > 1:
                if len(top) > 1 and head[1] != top[1]:
                    problems.append(f"{name} imports {imported} (another family)")
    graph = import_graph(root)
    for cycle in cycles(graph):
        problems.append("import cycle: " + " -> ".join(cycle))
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules that import each other."""
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_arrows_run_down():
    assert layering_problems(ROOT) == []


def test_an_upward_import_and_a_cycle_are_found(tmp_path):
    """The check itself: a tree with a common module importing a family, a family importing
    another, and two modules importing each other."""
    for folder in ("common", "families/a", "families/b"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "common" / "x.py").write_text("from families.a import y\n")
    (tmp_path / "families" / "a" / "y.py").write_text("from . import z\nimport tooling.parity\n")
    (tmp_path / "families" / "a" / "z.py").write_text("from .y import thing\n")
    (tmp_path / "families" / "b" / "w.py").write_text("from families.a.y import thing\n")
    problems = layering_problems(tmp_path)
    assert "common.x imports families.a (common imports a family)" in problems
    assert "families.b.w imports families.a.y (another family)" in problems
    assert "families.a.y imports tooling.parity (tooling or tests)" in problems
    assert any(p.startswith("import cycle: families.a.y -> families.a.z") for p in problems)

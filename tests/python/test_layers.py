"""The package's import structure: no cycles, and no import that points up the layers that
docs/architecture.md declares. Imports inside functions count: a lazy import is still a
dependency, only a later one."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import PYTHON_SRC, REPO

PACKAGE = PYTHON_SRC / "mlci"


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PYTHON_SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The mlci modules that ``name`` imports anywhere in its file."""
    def owner(dotted: str) -> str:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {owner(a.name) for a in node.names if a.name.split(".")[0] == "mlci"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] != "mlci":
                continue
            for alias in node.names:  # `from mlci import train` imports the module mlci.train
                full = f"{base}.{alias.name}"
                found.add(full if full in known else owner(base))
    found.discard(name)
    found.discard("")
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def declared_layers() -> list[tuple[int, list[str]]]:
    """Rows of the layer table in docs/architecture.md: | N | what | `mod`, `pkg`, `*.settings` |"""
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows.append((int(cells[0]), re.findall(r"`([^`]+)`", cells[2])))
    return rows


def layer_of(module: str, rows: list[tuple[int, list[str]]]) -> int | None:
    """The layer of the longest declared name that ``module`` is or lies in."""
    rel = module.removeprefix("mlci.") if module != "mlci" else "mlci"
    best: tuple[int, int] | None = None
    for level, names in rows:
        for declared in names:
            if declared.startswith("*."):
                hit = rel.endswith(declared[1:]) or rel == declared[2:]
                length = 1000  # a pattern (every settings module) wins over its package
            else:
                hit = rel == declared or rel.startswith(declared + ".")
                length = len(declared)
            if hit and (best is None or length > best[1]):
                best = (level, length)
    return best[0] if best else None


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_every_module_has_a_declared_layer():
    rows = declared_layers()
    assert rows, "docs/architecture.md has no layer table under '## Layers'"
    assert [m for m in sorted(modules()) if layer_of(m, rows) is None] == []


def test_imports_point_down_the_layers():
    rows = declared_layers()
    upward = [f"{m} (layer {layer_of(m, rows)}) imports {d} (layer {layer_of(d, rows)})"
              for m, deps in sorted(graph().items()) for d in sorted(deps)
              if (layer_of(d, rows) or 0) > (layer_of(m, rows) or 0)]
    assert upward == []


def test_the_checker_sees_cycles_and_lazy_imports(tmp_path):
    """The checker itself: a cycle made only of imports inside functions is found."""
    (tmp_path / "mlci").mkdir()
    (tmp_path / "mlci" / "__init__.py").write_text("")
    (tmp_path / "mlci" / "a.py").write_text("def f():\n    from mlci import b\n")
    (tmp_path / "mlci" / "b.py").write_text("def g():\n    from mlci.a import f\n")
    known = {"mlci": tmp_path / "mlci" / "__init__.py", "mlci.a": tmp_path / "mlci" / "a.py",
             "mlci.b": tmp_path / "mlci" / "b.py"}
    g = {n: imports(n, p, known) for n, p in known.items()}
    assert g["mlci.a"] == {"mlci.b"} and g["mlci.b"] == {"mlci.a"}
    assert cycles(g) == [["mlci.a", "mlci.b"]]
    rows = [(1, ["a"]), (2, ["b", "*.settings"])]
    assert layer_of("mlci.b", rows) == 2 and layer_of("mlci.a.settings", rows) == 2

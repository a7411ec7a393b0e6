"""The package layout shows the data flow, and the imports follow it.

image -> VGG activations -> costs -> optimizer loop live in ``nst_edu.core``; what a run leaves behind
(files, plots, animation) in ``nst_edu.output``; the lessons' checks and the lab in ``nst_edu.teaching``;
the command line on top. The graph is read from the source (every ``import``, also inside functions),
so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nst_edu"
# Who may import whom: a module may import its own group and the groups listed here.
ALLOWED = {
    "output": set(),
    "core": {"output"},
    "teaching": {"core", "output"},
    "": {"core", "output", "teaching"},  # nst_edu/__init__, cli, __main__
}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else ""


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of an nst_edu module in ``path``."""
    module, tree = _name(path), ast.parse(path.read_text(), str(path))
    modules = {_name(p) for p in PACKAGE.rglob("*.py")}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("nst_edu")]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            if not target.startswith("nst_edu"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append(
                    (sub, None, node.lineno) if sub in modules else (target, alias.name, node.lineno)
                )
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        graph[_name(path)] = {m for m, _, _ in _imports(path) if m != "nst_edu"}
    return graph


def test_the_layout_has_the_three_groups_and_every_module_is_in_one():
    groups = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert groups == {"core", "output", "teaching"}
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "sweep.py", "sweep_cli.py", "sweep_task.py"], top


def test_there_is_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    # The test above can fail: a planted images -> samples -> images cycle is reported.
    global PACKAGE
    pkg = tmp_path / "nst_edu" / "core"
    pkg.mkdir(parents=True)
    for f in ("nst_edu/__init__.py", "nst_edu/core/__init__.py"):
        (tmp_path / f).write_text("")
    (pkg / "images.py").write_text("from . import samples\n")
    (pkg / "samples.py").write_text("def f():\n    from .images import load_image\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "PACKAGE", tmp_path / "nst_edu")
    with pytest.raises(
        AssertionError, match="nst_edu.core.images -> nst_edu.core.samples -> nst_edu.core.images"
    ):
        test_there_is_no_import_cycle()


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_flow_and_private_names_stay_private(path):
    module = _name(path)
    allowed = ALLOWED[_group(module)] | {_group(module)}
    for target, name, line in _imports(path):
        if target == "nst_edu":
            assert name in {"__version__"}, f"{module}:{line} imports {name} from the package root"
            continue
        assert _group(target) in allowed, f"{module}:{line} imports {target}: against the flow"
        if name is not None:
            assert not name.startswith("_"), f"{module}:{line} imports the private name {name} from {target}"
        private_module = target.rsplit(".", 1)[-1].startswith("_")
        assert not private_module or target.rsplit(".", 1)[0] == module.rsplit(".", 1)[0], (
            f"{module}:{line} imports the private module {target} from another group"
        )


def test_no_module_reaches_into_another_modules_private_names():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                offenders.append(f"{_name(path)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not offenders, offenders

"""Imports run one way: shared helpers -> stages in pipeline order -> demo -> studio -> cli.

An AST walk over every module of steps_engine (imports inside functions included): a module may
import its own stage or an earlier one, never a later one, and module-level import graphs have
no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "steps_engine"

# Layer of each top-level part of the package, in the order imports may run.
LAYERS = ["_atomic", "llm", "data", "semantic", "taxonomy", "selection", "synthesis", "quality", "export",
          "curation", "demo", "api", "studio", "cli", "__main__"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, me: str | None = None) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every steps_engine import in `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    me = me or module_name(path)
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = me.split(".") if is_pkg else me.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == "steps_engine" or name.startswith("steps_engine."):
                out.append((name, node.lineno, id(node) in top_level))
    return out


MODULES = sorted(PKG.rglob("*.py"))
KNOWN = {module_name(p) for p in MODULES}


def layer(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_part_has_a_layer():
    parts = {layer(module_name(p)) for p in MODULES} - {None}
    assert parts <= set(RANK), f"add to LAYERS: {sorted(parts - set(RANK))}"


def upward_imports(path: Path, me: str) -> list[str]:
    mine = layer(me)
    if mine is None:
        return []
    bad = {}
    for mod, line, _ in imports_of(path, me):
        theirs = layer(mod)
        if theirs is not None and theirs in RANK and RANK[theirs] > RANK[mine]:
            bad.setdefault(line, f"{me}:{line} imports {mod} ({theirs} comes after {mine})")
    return list(bad.values())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_no_import_of_a_later_stage(path: Path):
    bad = upward_imports(path, module_name(path))
    assert not bad, "\n".join(bad)


def _resolve(mod: str) -> str | None:
    """The module file an imported name lives in (a name imported from a module -> that module)."""
    while mod and mod not in KNOWN:
        mod = mod.rpartition(".")[0]
    return mod or None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None and (found := visit(node)):
            return found
    return None


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for p in MODULES:
        me = module_name(p)
        deps = graph.setdefault(me, set())
        for mod, _, _ in imports_of(p):
            target = _resolve(mod)
            # a package's __init__ re-exporting its own modules is not a cycle edge back to it
            if target and target != me and not me.startswith(target + "."):
                deps.add(target)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checkers_can_fail(tmp_path):
    """A lazy relative import of a later stage inside a function is caught, and so is a cycle."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..synthesis.runner import synthesize\n")
    bad = upward_imports(probe, "steps_engine.data.probe")
    assert len(bad) == 1 and "synthesis" in bad[0]
    assert upward_imports(probe, "steps_engine.export.probe") == []
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None

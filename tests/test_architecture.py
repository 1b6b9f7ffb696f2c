"""The package's shape: no import cycles between modules, and no module but ``array.py`` reaching
into :class:`~exzarr.Array` privates.

Both checks read the source with :mod:`ast`, so they see every import (module level, inside
functions and under ``TYPE_CHECKING``) and every attribute access, not only what one run executes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import exzarr

SRC = Path(exzarr.__file__).parent
PACKAGE = "exzarr"


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _sources() -> dict[str, tuple[str, bool]]:
    """``module -> (source, is_package)`` for every module of the package."""
    return {mod: (path.read_text(), path.name == "__init__.py") for mod, path in _modules().items()}


def import_graph(sources: dict[str, tuple[str, bool]] | None = None) -> dict[str, set[str]]:
    """``module -> modules of this package it imports`` (``from . import x`` counts as importing
    the submodule ``x`` when there is one, else the package)."""
    mods = sources if sources is not None else _sources()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, (src, is_pkg) in mods.items():
        for node in ast.walk(ast.parse(src)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, is_pkg, node.level, node.module) if node.level else (node.module or "")
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in mods else base)
            for t in targets:
                while t and t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != mod and t.startswith(PACKAGE + "."):
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    graph = import_graph()
    sources = _sources()
    sources["exzarr.codecs.bad"] = ("from . import ShardingCodec\n", False)  # the kind of cycle that was here
    assert ["exzarr.codecs", "exzarr.codecs.bad"] not in cycles(import_graph(sources))  # not imported by codecs
    sources["exzarr.codecs"] = (sources["exzarr.codecs"][0] + "from .bad import x\n", True)
    assert ["exzarr.codecs", "exzarr.codecs.bad"] in cycles(import_graph(sources))
    assert len(graph) > 30 and graph["exzarr.array"]  # the walk saw the package
    assert cycles(graph) == []


def _private_names(tree: ast.AST) -> set[str]:
    """Private attributes (``self._x``) and methods the classes under ``tree`` define."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_") and not node.name.startswith("__"):
            names.add(node.name)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                names.add(node.attr)
    return names


def array_private_offences(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """``x._name`` outside ``array.py`` is an offence when ``_name`` is private to Array alone, or when
    the module imports Array and does not define ``_name`` itself (Group and Store share some names)."""
    tree = ast.parse(sources["exzarr.array"][0])
    private = _private_names(next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Array"))
    modules = {mod: ast.parse(src) for mod, (src, _) in sources.items() if mod != "exzarr.array"}
    owners = {mod: _private_names(tree) for mod, tree in modules.items()}
    shared = set().union(*owners.values())
    graph = import_graph(sources)
    offenders = []
    for mod, module in modules.items():
        suspicious = private - shared
        if "exzarr.array" in graph[mod]:
            suspicious |= private - owners[mod]
        for node in ast.walk(module):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in suspicious
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offenders.append(f"{mod}:{node.lineno} .{node.attr}")
    return offenders


def test_no_module_outside_array_touches_array_privates():
    sources = _sources()
    tree = ast.parse(sources["exzarr.array"][0])
    assert {"_engine", "_meta", "_check_writable"} <= _private_names(tree)
    assert array_private_offences(sources) == []


def test_the_privates_check_would_see_an_offence():
    sources = _sources()
    sources["exzarr.bad"] = ("from .array import Array\n\ndef f(a: Array):\n    return a._meta, a._engine\n", False)
    sources["exzarr.other"] = ("def g(x):\n    return x._engine\n", False)  # private to Array alone
    assert array_private_offences(sources) == ["exzarr.bad:4 ._meta", "exzarr.bad:4 ._engine", "exzarr.other:2 ._engine"]

"""The import graph of ``rag/``: no cycles, and arrows only in the direction of the flow.

The graph is read statically (an AST parse of every ``import``/``from`` statement, also the ones inside
functions and ``TYPE_CHECKING`` blocks): a lazy import inside a function is still a dependency, and a
cycle hidden in one is still a knot for whoever reads the code.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

RAG = Path(__file__).resolve().parent.parent / "rag"

# Cycles whose fix is in progress elsewhere. The answer checker's rework moves question analysis out of
# evidence.py/verify.py; when it lands, this entry must go (test_known_cycles_still_exist says so).
KNOWN_CYCLES_BEING_FIXED: set[frozenset[str]] = set()  # evidence <-> verify ended: rag/question.py


def _modules(root: Path = RAG) -> dict[str, Path]:
    mods = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The module of ours that ``name`` names, or its closest enclosing package; None outside ``rag``."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = RAG) -> dict[str, set[str]]:
    mods = _modules(root)
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [_resolve(a.name, mods) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: climb level-1 packages from this module's package
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                # `from pkg import mod` depends on the submodule; `from mod import name` on the module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else _resolve(base, mods)
                           for a in node.names]
            else:
                continue
            out.update(t for t in targets if t and t != mod)
        graph[mod] = out
    return graph


def cycles(graph) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.add(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(frozenset(comp))
    return found


@lru_cache(maxsize=1)
def rag_graph() -> dict[str, frozenset[str]]:
    return {m: frozenset(out) for m, out in import_graph().items()}


def test_cycle_finder_finds_a_cycle(tmp_path):
    pkg = tmp_path / "rag"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from rag.sub import b\n")  # lazy, still an edge
    (pkg / "sub" / "b.py").write_text("from ..c import x\n")  # relative
    (pkg / "c.py").write_text("import rag.a\nx = 1\n")
    (pkg / "d.py").write_text("from rag import c\n")  # depends on the cycle, not part of it
    assert cycles(import_graph(pkg)) == [frozenset({"rag.a", "rag.sub.b", "rag.c"})]


def test_no_import_cycles_in_rag():
    found = [c for c in cycles(rag_graph()) if c not in KNOWN_CYCLES_BEING_FIXED]
    assert not found, "import cycles in rag/: " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_known_cycles_still_exist():
    """A fixed cycle must leave KNOWN_CYCLES_BEING_FIXED, so that it cannot come back unnoticed."""
    fixed = KNOWN_CYCLES_BEING_FIXED - set(cycles(rag_graph()))
    assert not fixed, f"these cycles are gone: remove them from KNOWN_CYCLES_BEING_FIXED: {fixed}"


def _importers_of(prefix: str, graph: dict[str, frozenset[str]], among: str) -> dict[str, set[str]]:
    return {m: {t for t in out if t == prefix or t.startswith(prefix + ".")}
            for m, out in graph.items() if (m == among or m.startswith(among + ".")) and
            any(t == prefix or t.startswith(prefix + ".") for t in out)}


@pytest.mark.parametrize("lower,upper", [
    ("rag.index", "rag.ingest"),     # the index is handed its chunker (rag.text), it does not reach for it
    ("rag.answer", "rag.ingest"),    # answering needs the sentence splitter, not the ingest pipeline
    ("rag.text", "rag.ingest"),      # the text layer sits below ingest, index and answer
    ("rag.text", "rag.index"),
    ("rag.text", "rag.answer"),
    ("rag.index", "rag.retrieve"),   # search reads the index, never the reverse
    ("rag.index", "rag.api"),
    ("rag.index", "rag.cli"),
])
def test_arrows_follow_the_flow(lower, upper):
    assert not _importers_of(upper, rag_graph(), lower), f"{lower} must not import {upper}"


def test_hybrid_search_does_not_import_the_llama_index_adapter():
    graph = rag_graph()
    assert "rag.retrieve.llamaindex" not in graph["rag.retrieve.hybrid"]
    assert "rag.retrieve.hybrid" in graph["rag.retrieve.llamaindex"]

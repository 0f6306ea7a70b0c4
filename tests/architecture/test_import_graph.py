"""Downward arrows only (issue 29.4): synrank's import graph has no cycle, and each layer imports only the
layers below it.

The graph is grimp's (the engine of import-linter): every ``import`` statement of every module under
synrank/, including those inside functions, because that is how synrank keeps ``--help`` fast and a lazy
up-arrow is still an up-arrow. Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they
cannot close a circle. Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` first, so an
import also counts as an arrow to each package it enters (the ones the importer is not already inside):
that is how ``index/stage.py -> evaluate.datasets`` and ``evaluate -> index`` made a circle.
"""

from __future__ import annotations

from collections import deque

import grimp
import pytest

PACKAGE = "synrank"

# The top-level parts of synrank, highest first. A part may import the parts below it, never one above;
# parts on one line are independent of each other.
LAYERS = (
    ("__main__",),
    ("cli",),
    ("compare", "score"),
    ("evaluate", "generate", "train"),
    ("search",),
    ("index", "llm"),
    ("model_pull",),
    ("models", "formats"),
    ("runtime",),
    ("config", "_lazy", "redact"),
    ("errors",),
)

# Engine modules: the stage drives them, so they never reach (directly or through other modules) a stage
# module or a stage config. Stage configs take their defaults from the engines' configs instead.
STAGES = (
    "synrank.index.stage",
    "synrank.search.stage",
    "synrank.compare.stage",
    "synrank.evaluate.stage",
    "synrank.score.stage",
    "synrank.train.config",
    "synrank.train.trainer",
    "synrank.generate.runner",
    "synrank.generate.config",
)
ENGINES = (
    "synrank.index.encoder",
    "synrank.index.store",
    "synrank.index.settings",
    "synrank.search.bm25",
    "synrank.search.dense",
    "synrank.search.settings",
    "synrank.compare.analysis",
    "synrank.compare.settings",
    "synrank.compare.stats",
    "synrank.compare.tables",
    "synrank.compare.plots",
    "synrank.train.losses",  # and every module under it
    "synrank.train.data",
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, cache_dir=None, exclude_type_checking_imports=True)


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def runtime_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    """Module -> the modules importing it runs: the imported module plus the packages it enters."""
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for importer in graph.modules:
        inside = set(_ancestors(importer))
        for imported in graph.find_modules_directly_imported_by(importer):
            edges[importer].add(imported)
            edges[importer].update(p for p in _ancestors(imported) if p not in inside and p != importer)
    return edges


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One shortest loop through each strongly connected group of modules (Tarjan, then a BFS inside it)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1 or v in edges[v]:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    loops = []
    for group in groups:
        start = min(group)
        parent: dict[str, str] = {}
        queue = deque([start])
        while queue:
            v = queue.popleft()
            nxt = sorted(w for w in edges[v] if w in group)
            if start in nxt:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                loops.append([*reversed(path), start])
                break
            for w in nxt:
                if w not in parent and w != start:
                    parent[w] = v
                    queue.append(w)
    return loops


def _show(graph: grimp.ImportGraph, loop: list[str]) -> str:
    steps = []
    for a, b in zip(loop, loop[1:]):
        details = graph.get_import_details(importer=a, imported=b)
        where = f" (line {details[0]['line_number']}: {details[0]['line_contents']})" if details else " (enters the package)"
        steps.append(f"  {a} -> {b}{where}")
    return "\n".join(steps)


def test_the_cycle_finder_finds_a_known_cycle_and_nothing_else():
    """The finder itself, on a hand-made graph: a -> b -> c -> a is a loop, d -> a is not part of it."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(edges) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_entering_a_package_runs_its_init():
    """``x.y.m`` importing ``p.q.n`` also runs ``p`` and ``p.q`` (not ``x``, already running)."""
    g = grimp.ImportGraph()
    for m in ("x", "x.y", "x.y.m", "x.p", "x.p.q", "x.p.q.n"):
        g.add_module(m)
    g.add_import(importer="x.y.m", imported="x.p.q.n")
    assert runtime_edges(g)["x.y.m"] == {"x.p.q.n", "x.p", "x.p.q"}


def test_no_import_cycles(graph):
    loops = find_cycles(runtime_edges(graph))
    assert not loops, "import cycles in synrank/:\n" + "\n\n".join(_show(graph, loop) for loop in loops)


def test_layers_import_only_downwards(graph):
    layers = [grimp.Layer(*line, independent=True) for line in LAYERS]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers={PACKAGE})
    report = []
    for dep in sorted(illegal, key=lambda d: (d.importer, d.imported)):
        for route in dep.routes:
            chain = " -> ".join([*sorted(route.heads), *route.middle, *sorted(route.tails)])
            report.append(f"  {dep.importer} -> {dep.imported}: {chain}")
    assert not report, "imports against the layering (higher parts first: " + " > ".join("|".join(l) for l in LAYERS) + "):\n" + "\n".join(report)


def test_every_part_of_synrank_has_a_layer(graph):
    """A new top-level module must be placed in LAYERS, or the layering check would not see it."""
    placed = {f"{PACKAGE}.{m}" for line in LAYERS for m in line}
    parts = {m for m in graph.find_children(PACKAGE)}
    assert parts - placed == set()


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_never_reach_a_stage(graph, engine):
    assert engine in graph.modules, f"{engine} is gone: update ENGINES"
    sources = [engine, *sorted(graph.find_descendants(engine))]
    found = []
    for source in sources:
        for stage in STAGES:
            if stage == source:
                continue
            chain = graph.find_shortest_chain(importer=source, imported=stage)
            if chain:
                found.append(" -> ".join(chain))
    assert not found, f"{engine} reaches a stage module (the stage drives the engine, not the other way):\n  " + "\n  ".join(found)

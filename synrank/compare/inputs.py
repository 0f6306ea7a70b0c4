"""Systems to compare: `synrank eval` results JSON files, or runs (TREC, search/score JSONL) scored against qrels.

Each input becomes a :class:`System` holding per-query metric values; :func:`align` lines them up into one
``(systems, metrics, queries)`` array over a common query list.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synrank.errors import ConfigError, InputError
from synrank.formats.io import display_name, open_text

# A system sharing fewer than this share of its queries with the others was evaluated on another query set.
MIN_OVERLAP = 0.5


@dataclass
class System:
    name: str
    path: str
    kind: str  # "results" (eval JSON) or "run" (a run + qrels)
    per_query: dict[str, dict[str, float]]
    metrics: list[str]
    # Query ids the system really answered (a TREC run's queries; every query of a results file).
    present: set[str] = field(default_factory=set)
    dataset: str | None = None


@dataclass
class Aligned:
    names: list[str]
    metrics: list[str]
    qids: list[str]
    scores: np.ndarray  # (systems, metrics, queries)
    missing: dict[str, int]  # system name -> queries counted as 0 because the system lacks them
    dropped: int  # queries left out by --intersect


def _line_of(text: str, needle: str) -> int | None:
    """Line of the first occurrence of ``needle`` (searched only when there is an error to report)."""
    pos = text.find(needle)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


_STDIN_TEXT: list[str] = []


def read_text(path: str | Path) -> str:
    """Whole text of a file; stdin (``-``) is read once and remembered, so it can be sniffed and then parsed."""
    shown = display_name(path)
    if str(path) == "-" and _STDIN_TEXT:
        return _STDIN_TEXT[0]
    try:
        with open_text(path) as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text ({exc.reason})", path=shown) from None
    if str(path) == "-":
        _STDIN_TEXT.append(text)
    return text


def looks_like_json(path: str | Path) -> bool:
    """True when the file is one JSON object (an eval results file); candidate lists (``synrank search`` or
    ``score`` JSONL, one object per line) are runs, as TREC files are."""
    from synrank.formats.runs import is_candidates_jsonl

    if str(path) == "-":
        return read_text(path).lstrip().startswith("{")
    with open_text(path) as fh:
        try:
            chunk = fh.read(4096)
        except UnicodeDecodeError:
            raise InputError("not valid UTF-8 text", path=display_name(path)) from None
    return chunk.lstrip().startswith("{") and not is_candidates_jsonl(path)


def load_results(path: str | Path, name: str) -> System:
    """Read a `synrank eval` results file: ``{"aggregate": ..., "per_query": {qid: {metric: value}}, ...}``."""
    shown = display_name(path)
    text = read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON ({exc.msg} at column {exc.colno})", path=shown, line=exc.lineno) from None
    per_query = obj.get("per_query") if isinstance(obj, dict) else None
    if not isinstance(per_query, dict) or not per_query:
        raise InputError(
            "not an eval results file: no non-empty 'per_query' object (write one with `synrank eval --out`, "
            "or pass TREC runs with --qrels)",
            path=shown,
        )
    metrics: list[str] | None = None
    clean: dict[str, dict[str, float]] = {}
    for qid, values in per_query.items():
        if not isinstance(values, dict) or not values:
            raise InputError(f"per_query[{qid!r}] must be an object of metric values", path=shown, line=_line_of(text, json.dumps(qid)))
        if metrics is None:
            metrics = list(values)
        elif not set(metrics) <= set(values):
            lacking = ", ".join(m for m in metrics if m not in values)
            raise InputError(f"per_query[{qid!r}] lacks {lacking} (the other queries have it)", path=shown, line=_line_of(text, json.dumps(qid)))
        row: dict[str, float] = {}
        for metric, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"per_query[{qid!r}][{metric!r}] = {value!r} is not a finite number", path=shown, line=_line_of(text, json.dumps(qid)))
            row[metric] = float(value)
        clean[str(qid)] = row
    dataset = obj.get("dataset") if isinstance(obj.get("dataset"), str) else None
    return System(name, shown, "results", clean, metrics or [], set(clean), dataset)


def load_run(path: str | Path, name: str, qrels: dict[str, dict[str, int]], qrels_name: str, metrics: Sequence[str], rel_level: int) -> System:
    """Read a run (TREC, or ``synrank search`` / ``score`` JSONL: a teacher's order of the lists) and compute its
    per-query metrics over every judged query (pytrec_eval)."""
    from synrank.evaluate.metrics import evaluate_run
    from synrank.formats.runs import read_run

    shown = display_name(path)
    if str(path) == "-":
        raise InputError("a run cannot be read from stdin (only a results JSON can): pass it as a file", path=shown)
    run = read_run(path)
    judged = {q for q, docs in qrels.items() if docs}
    shared = judged & set(run)
    if not shared:
        raise InputError(
            f"none of the run's {len(run)} query ids appear in the qrels {qrels_name} (a run for a different query set?)",
            path=shown,
        )
    if len(shared) < MIN_OVERLAP * len(run):
        raise InputError(
            f"only {len(shared)} of the run's {len(run)} query ids appear in the qrels {qrels_name} "
            "(a run for a different query set?)",
            path=shown,
        )
    _, per_query = evaluate_run(run, qrels, list(metrics), rel_level=rel_level)
    return System(name, shown, "run", per_query, list(metrics), shared, Path(qrels_name).stem)


def default_names(paths: Sequence[str]) -> list[str]:
    """File stems; where stems collide, the file name (``bm25.trec``), then the shortest path suffix that tells
    the files apart (``bm25/results``)."""

    def candidates(p: str) -> list[str]:
        if p == "-":
            return ["stdin"]
        path = Path(p)
        out = [path.stem, path.name]
        parts = path.parts
        for d in range(2, len(parts) + 1):
            out += ["/".join((*parts[-d:-1], path.stem)), "/".join(parts[-d:])]
        return out

    options = [candidates(p) for p in paths]
    level = [0] * len(paths)
    while True:
        names = [opts[min(lv, len(opts) - 1)] for opts, lv in zip(options, level)]
        clash = [i for i, n in enumerate(names) if names.count(n) > 1 and level[i] < len(options[i]) - 1]
        if not clash:
            return names
        for i in clash:
            level[i] += 1


def pick_metrics(systems: Sequence[System], wanted: Sequence[str] | None) -> list[str]:
    """The metrics to compare: ``wanted`` (each system must have them all) or the first system's metrics
    (then every other system must have the same ones)."""
    metrics = list(wanted) if wanted else list(systems[0].metrics)
    for s in systems:
        lacking = [m for m in metrics if m not in s.metrics]
        if lacking:
            have = ", ".join(s.metrics)
            hint = "" if wanted else f" (as {systems[0].name} does); pick common ones with --metrics"
            raise InputError(f"has no per-query {', '.join(lacking)} (it has: {have}){hint}", path=s.path)
    return metrics


def align(systems: Sequence[System], metrics: Sequence[str], *, intersect: bool = False) -> Aligned:
    """One score array over a common query list: the union of all systems' queries (a missing query counts 0)
    or, with ``intersect``, only the queries every system answered."""
    if intersect:
        common = set.intersection(*(s.present for s in systems))
        order = [q for q in systems[0].per_query if q in common]
        if not order:
            raise InputError("no query is answered by every system (--intersect leaves nothing to compare)")
        everything = set().union(*(s.per_query for s in systems))
        dropped = len(everything) - len(order)
    else:
        seen: dict[str, None] = {}
        for s in systems:
            seen.update(dict.fromkeys(s.per_query))
        order = list(seen)
        dropped = 0
    base = systems[0]
    for s in systems[1:]:
        shared = len(base.present & s.present)
        smaller = min(len(base.present), len(s.present))
        if shared < MIN_OVERLAP * smaller:
            raise InputError(
                f"shares only {shared} of its {len(s.present)} queries with {base.name} ({base.path}): "
                "evaluated on a different query set?",
                path=s.path,
            )
    scores = np.zeros((len(systems), len(metrics), len(order)))
    missing: dict[str, int] = {}
    index = {q: i for i, q in enumerate(order)}
    for si, s in enumerate(systems):
        absent = 0
        for q in order:
            row = s.per_query.get(q)
            if row is None or q not in s.present:
                absent += 1
            if row is None:
                continue
            qi = index[q]
            for mi, m in enumerate(metrics):
                scores[si, mi, qi] = row[m]
        missing[s.name] = absent
    return Aligned([s.name for s in systems], list(metrics), order, scores, missing, dropped)


def check_names(names: Sequence[str]) -> None:
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise ConfigError(f"two systems are named {dupes[0]!r}: give distinct names", setting="name")


def summary(system: System) -> dict[str, Any]:
    return {"name": system.name, "path": system.path, "kind": system.kind, "dataset": system.dataset}

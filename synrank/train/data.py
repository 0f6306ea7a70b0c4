"""Training lists: one query with a list of passages and one target per passage.

Three sources, one record type (:class:`TrainList`):

- ``synrank generate --task docs`` JSONL: ``{"query_id", "query", "documents": [{"doc_id", "level", "text"}]}``;
  targets are the graded relevance levels (SyCL).
- ``synrank score`` training lists JSONL: ``{"query_id", "query", "candidates": [{"doc_id", "text", "score",
  "label"?}]}``; targets are the teacher scores (or the labels with ``target="labels"``).
- real data (queries + qrels + corpus, negatives from a ``search`` run): see :mod:`synrank.train.real`.

Each step sees ``group_size`` passages per query, chosen by :func:`select_group`: once per run
(:func:`build_columns`) or anew every epoch (:func:`redraw_dataset`, ``--redraw``). Every problem in the
input is reported as one :class:`~synrank.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synrank.errors import ConfigError, InputError
from synrank.formats.io import display_name, iter_jsonl

# How a group is drawn from a longer list, and which field of a list is the training target (TrainConfig offers these).
SELECTIONS = ("random", "top", "stratified", "uniform")
TARGETS = ("auto", "levels", "teacher")


def doc_key(doc_id: str) -> int:
    """A stable 63-bit integer naming a document (the same on every process and in every run).

    Losses compare these keys to recognise one document in several lists of a batch (false-negative
    masking); a collision between two of a batch's documents has probability about n^2 / 2^64.
    """
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "big") >> 1


@dataclass
class TrainList:
    query_id: str
    query: str
    doc_ids: list[str]
    texts: list[str]
    targets: list[float]
    kind: str  # "levels" (graded labels) or "teacher" (teacher scores)
    path: str = ""
    line: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def where(self) -> dict[str, Any]:
        return {"path": self.path or None, "line": self.line}


def _number(value: Any, what: str, *, path: str, line: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number, got {value!r}", path=path, line=line)
    f = float(value)
    if not math.isfinite(f):
        raise InputError(f"{what} is {value!r}; scores and levels must be finite numbers", path=path, line=line)
    return f


def parse_list_record(obj: dict[str, Any], *, path: str, line: int, target: str = "auto") -> TrainList:
    """Turn one ``generate``/``score`` record into a :class:`TrainList` (validating every field)."""
    qid = obj.get("query_id")
    query = obj.get("query")
    if qid is None or str(qid) == "":
        raise InputError("missing query_id", path=path, line=line)
    qid = str(qid)
    if not isinstance(query, str) or not query.strip():
        raise InputError(f"query {qid!r} has no query text", path=path, line=line)
    if "documents" in obj:
        items, key, kind = obj["documents"], "level", "levels"
    elif "candidates" in obj:
        items, kind = obj["candidates"], "teacher"
        key = "label" if target == "levels" else "score"
        if target == "levels":
            kind = "levels"
    else:
        raise InputError(
            f"query {qid!r}: expected a 'documents' list (generate --task docs) or a 'candidates' list (score)",
            path=path,
            line=line,
        )
    if target == "teacher" and kind == "levels":
        raise InputError(f"query {qid!r}: --target teacher needs teacher scores ('candidates' with 'score')", path=path, line=line)
    if not isinstance(items, list):
        raise InputError(f"query {qid!r}: passages must be a JSON list", path=path, line=line)
    if not items:
        raise InputError(f"query {qid!r} has an empty list of passages", path=path, line=line)
    doc_ids, texts, targets = [], [], []
    for j, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputError(f"query {qid!r}: passage {j} is not a JSON object", path=path, line=line)
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            hint = " (a `search` run has no texts: use --dataset DIR --negatives RUN)" if "rank" in item else ""
            raise InputError(f"query {qid!r}: passage {j} has no text{hint}", path=path, line=line)
        if key not in item or item[key] is None:
            raise InputError(f"query {qid!r}: passage {j} has no {key!r}", path=path, line=line)
        targets.append(_number(item[key], f"query {qid!r}: passage {j} {key}", path=path, line=line))
        texts.append(text.strip())
        # Without an id a passage is a document of its own (never the same as another list's passage j).
        doc_id = item.get("doc_id")
        doc_ids.append(str(doc_id) if doc_id is not None else f"\x00{qid}\x00{j}")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    return TrainList(qid, query.strip(), doc_ids, texts, targets, kind, path, line, meta)


def read_train_lists(paths: list[str | Path], *, target: str = "auto") -> list[TrainList]:
    """Read every record of the given JSONL files (``-`` = stdin)."""
    if target not in TARGETS:
        raise ConfigError(f"unknown value {target!r} (use one of {', '.join(TARGETS)})", setting="target")
    lists: list[TrainList] = []
    for path in paths:
        name = display_name(path)
        n = 0
        for line, obj in iter_jsonl(path):
            lists.append(parse_list_record(obj, path=name, line=line, target=target))
            n += 1
        if n == 0:
            raise InputError("no training lists found (empty file)", path=name)
    kinds = {lst.kind for lst in lists}
    if len(kinds) > 1:
        raise InputError("inputs mix graded-level lists and teacher-scored lists; train on one kind at a time", path=lists[-1].path)
    return lists


def select_group(lst: TrainList, size: int, mode: str, rng: random.Random) -> tuple[list[str], list[float]]:
    """Texts and targets of the passages :func:`select_indices` chooses."""
    chosen = select_indices(lst, size, mode, rng)
    return [lst.texts[i] for i in chosen], [lst.targets[i] for i in chosen]


def select_indices(lst: TrainList, size: int, mode: str, rng: random.Random) -> list[int]:
    """Choose ``size`` passages of a list (see :func:`choose_indices`); a list shorter than ``size`` is an error."""
    check_group_size(lst, size)
    return choose_indices(lst.targets, size, mode, rng)


def check_group_size(lst: TrainList, size: int) -> None:
    n = len(lst.texts)
    if n < size:
        raise InputError(
            f"query {lst.query_id!r} has {n} passages, fewer than --group-size {size}", path=lst.path or None, line=lst.line
        )


def choose_indices(targets: list[float], size: int, mode: str, rng: random.Random) -> list[int]:
    """Choose ``size`` of ``len(targets) >= size`` passages; the top-target passage is always kept (it is InfoNCE's positive).

    - ``top``: the ``size`` highest targets.
    - ``random``: the top passage plus ``size - 1`` others drawn at random.
    - ``stratified``: the top passage, then one passage per distinct target value in turn (highest first,
      random within a value), so every relevance level present is represented.
    - ``uniform``: ``size`` passages drawn uniformly, the top one included or not (trove's ``random``
      ``passage_selection_strategy``, used by the SyCL release); the group's best passage is then InfoNCE's
      positive.
    """
    n = len(targets)
    order = sorted(range(n), key=lambda i: -targets[i])  # stable: ties keep input order
    top = order[0]
    if mode == "top":
        chosen = order[:size]
    elif mode == "random":
        rest = order[1:]
        chosen = [top, *rng.sample(rest, size - 1)]
    elif mode == "uniform":
        chosen = sorted(rng.sample(range(n), size), key=lambda i: -targets[i])
    elif mode == "stratified":
        buckets: dict[float, list[int]] = {}
        for i in order[1:]:
            buckets.setdefault(targets[i], []).append(i)
        for members in buckets.values():
            rng.shuffle(members)
        levels = sorted(buckets, reverse=True)
        chosen = [top]
        while len(chosen) < size:
            for level in levels:
                if buckets[level] and len(chosen) < size:
                    chosen.append(buckets[level].pop())
    else:
        raise ConfigError(f"unknown value {mode!r} (use one of {', '.join(SELECTIONS)})", setting="selection")
    return chosen


def check_positives(lists: list[TrainList], positive_min_level: float | None) -> None:
    """InfoNCE needs a positive in every list: a passage at or above ``positive_min_level``."""
    if positive_min_level is None:
        return
    for lst in lists:
        if max(lst.targets) < positive_min_level:
            raise InputError(
                f"query {lst.query_id!r} has no positive for infonce (no passage with a target >= "
                f"--positive-min-level {positive_min_level:g}; best is {max(lst.targets):g})",
                path=lst.path or None,
                line=lst.line,
            )


def split_dev(lists: list[TrainList], fraction: float, seed: int) -> tuple[list[TrainList], list[TrainList]]:
    """Hold out ``fraction`` of the queries (at least one when fraction > 0) as a dev set for early stopping."""
    if fraction <= 0:
        return lists, []
    if not 0 < fraction < 1:
        raise ConfigError(f"must be in [0, 1), got {fraction}", setting="eval_split")
    idx = list(range(len(lists)))
    random.Random(seed).shuffle(idx)
    n_dev = max(1, round(fraction * len(lists)))
    if n_dev >= len(lists):
        raise ConfigError(f"{fraction} leaves no training queries out of {len(lists)}", setting="eval_split")
    dev = sorted(idx[:n_dev])
    train = sorted(idx[n_dev:])
    return [lists[i] for i in train], [lists[i] for i in dev]


def _group_columns(group_size: int) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {"query": []}
    for j in range(group_size):
        cols[f"passage_{j + 1}"] = []
    cols["label"] = []
    cols["doc_keys"] = []
    return cols


def _add_group(cols: dict[str, list[Any]], query: str, texts: list[str], targets: list[float], keys: list[int], chosen: list[int]) -> None:
    cols["query"].append(query)
    for j, i in enumerate(chosen):
        cols[f"passage_{j + 1}"].append(texts[i])
    cols["label"].append([targets[i] for i in chosen])
    cols["doc_keys"].append([keys[i] for i in chosen])


def build_columns(
    lists: list[TrainList],
    *,
    group_size: int,
    selection: str,
    seed: int,
    query_prefix: str = "",
    doc_prefix: str = "",
) -> dict[str, list[Any]]:
    """Columns for a ``datasets.Dataset``: ``query``, ``passage_1..k``, ``label`` (k targets per row) and
    ``doc_keys`` (k :func:`doc_key` per row; the trainer's collator hands them to the loss, not the model)."""
    if group_size < 1:
        raise ConfigError("must be at least 1", setting="group_size")
    rng = random.Random(seed)
    cols = _group_columns(group_size)
    for lst in lists:
        chosen = select_indices(lst, group_size, selection, rng)
        texts = [doc_prefix + t for t in lst.texts]
        _add_group(cols, query_prefix + lst.query, texts, lst.targets, [doc_key(d) for d in lst.doc_ids], chosen)
    return cols


class GroupRedraw:
    """A ``datasets`` transform that draws each query's group anew for every epoch (``--redraw``).

    trove (used by the SyCL release) draws the group with NumPy's global generator on every read, so its
    groups depend on the reading order and the number of dataloader workers. Here the group of row ``r`` in
    epoch ``e`` is a pure function of ``(seed, e, r)``: any process, any number of reads, and a run resumed
    mid-epoch see the same groups as one uninterrupted run. The trainer sets :attr:`epoch` at the start of
    every epoch (with dataloader workers, before they are started for that epoch).
    """

    def __init__(self, group_size: int, selection: str, seed: int) -> None:
        self.group_size = group_size
        self.selection = selection
        self.seed = seed
        self.epoch = 0

    def rng(self, row: int) -> random.Random:
        # str seeds are hashed with SHA-512 by `random`: stable across processes, runs and PYTHONHASHSEED.
        return random.Random(f"synrank-redraw:{self.seed}:{self.epoch}:{row}")

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        cols = _group_columns(self.group_size)
        for row, query, texts, targets, keys in zip(batch["row"], batch["query"], batch["texts"], batch["targets"], batch["keys"]):
            chosen = choose_indices(targets, self.group_size, self.selection, self.rng(row))
            _add_group(cols, query, texts, targets, keys, chosen)
        return cols


def redraw_dataset(
    lists: list[TrainList],
    *,
    group_size: int,
    selection: str,
    seed: int,
    query_prefix: str = "",
    doc_prefix: str = "",
):
    """A ``datasets.Dataset`` of whole lists whose rows read as :func:`build_columns` rows, the group drawn by
    the returned :class:`GroupRedraw` (set its ``epoch``) on every read."""
    from datasets import Dataset

    if group_size < 1:
        raise ConfigError("must be at least 1", setting="group_size")
    if selection not in SELECTIONS:
        raise ConfigError(f"unknown value {selection!r} (use one of {', '.join(SELECTIONS)})", setting="selection")
    for lst in lists:
        check_group_size(lst, group_size)
    redraw = GroupRedraw(group_size, selection, seed)
    data = Dataset.from_dict(
        {
            "row": list(range(len(lists))),
            "query": [query_prefix + lst.query for lst in lists],
            "texts": [[doc_prefix + t for t in lst.texts] for lst in lists],
            "targets": [list(lst.targets) for lst in lists],
            "keys": [[doc_key(d) for d in lst.doc_ids] for lst in lists],
        }
    )
    return data.with_transform(redraw), redraw


def to_dataset(columns: dict[str, list[Any]]):
    from datasets import Dataset

    return Dataset.from_dict(columns)

"""Where evaluation queries and judgments come from: a BEIR folder, an ir_datasets id, or explicit files.

BEIR folder: ``queries.jsonl`` and ``qrels/<split>.tsv`` (and ``corpus.jsonl`` for indexing).
ir_datasets id: anything ``ir_datasets.load`` knows (``beir/scifact/test``,
``msmarco-passage/trec-dl-2019/judged``); ir_datasets downloads and caches the files itself, so that
needs network access (or a pre-filled ``IR_DATASETS_HOME``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from synrank.errors import ConfigError, InputError
from synrank.formats.irds import irds_call as _irds_call
from synrank.formats.irds import irds_dataset as _irds
from synrank.formats.irds import iter_ir_datasets_docs  # noqa: F401 - importable here as before
from synrank.formats.qrels import Qrels, read_qrels
from synrank.formats.queries import read_queries


@dataclass
class EvalData:
    name: str
    queries: dict[str, str]
    qrels: Qrels
    source: dict[str, str]
    without_text: list[str] = field(default_factory=list)  # judged queries left out: no text to search with


def _restrict(queries: dict[str, str], qrels: Qrels, name: str) -> tuple[dict[str, str], Qrels]:
    """Keep the judged queries that have a text (both sides), in qrels order."""
    kept = {q: queries[q] for q in qrels if q in queries}
    if not kept:
        raise InputError("none of the judged query ids appear in the queries", path=name)
    return kept, {q: qrels[q] for q in kept}


def _without_text(data: EvalData, judged: Qrels) -> EvalData:
    data.without_text = [q for q in judged if q not in data.qrels]
    return data


def load_beir(folder: str | Path, split: str) -> EvalData:
    root = Path(folder)
    qrels_dir = root / "qrels"
    qrels_file = qrels_dir / f"{split}.tsv"
    if not qrels_file.exists():
        splits = sorted(p.stem for p in qrels_dir.glob("*.tsv")) if qrels_dir.is_dir() else []
        have = f"available: {', '.join(splits)}" if splits else "the folder has no qrels/*.tsv"
        raise InputError(f"split {split!r} not found ({have})", path=qrels_file)
    queries_file = root / "queries.jsonl"
    judged = read_qrels(qrels_file)
    queries, qrels = _restrict(read_queries(queries_file), judged, str(queries_file))
    data = EvalData(f"{root.name}/{split}", queries, qrels, {"queries": str(queries_file), "qrels": str(qrels_file)})
    return _without_text(data, judged)


def load_files(queries_path: str | Path, qrels_path: str | Path) -> EvalData:
    judged = read_qrels(qrels_path)
    queries, qrels = _restrict(read_queries(queries_path), judged, str(queries_path))
    data = EvalData(Path(str(qrels_path)).stem, queries, qrels, {"queries": str(queries_path), "qrels": str(qrels_path)})
    return _without_text(data, judged)


def load_ir_datasets(dataset_id: str) -> EvalData:
    ds = _irds(dataset_id)
    if not ds.has_queries() or not ds.has_qrels():
        raise InputError(f"ir_datasets id {dataset_id!r} has no queries and qrels (pick a split, e.g. {dataset_id}/test)")

    def read():
        queries = {q.query_id: getattr(q, "text", None) or q.default_text() for q in ds.queries_iter()}
        qrels: Qrels = {}
        for r in ds.qrels_iter():
            qrels.setdefault(r.query_id, {})[r.doc_id] = int(r.relevance)
        return queries, qrels

    queries, qrels = _irds_call(dataset_id, "queries and qrels", read)
    if not qrels:
        raise InputError(f"ir_datasets id {dataset_id!r} has no judgments")
    judged = qrels
    queries, qrels = _restrict(queries, qrels, dataset_id)
    return _without_text(EvalData(dataset_id, queries, qrels, {"ir_datasets": dataset_id}), judged)


def check_source(dataset: str | None, queries: str | None, qrels: str | None) -> None:
    """Exactly one source of judged queries: a dataset, or queries and qrels files together."""
    if queries or qrels:
        if not (queries and qrels):
            raise ConfigError("queries and qrels go together (or give a dataset)", setting="qrels" if queries else "queries")
        if dataset:
            raise ConfigError("give either a dataset or queries and qrels files, not both", setting="dataset")
    elif not dataset:
        raise ConfigError(
            "say what to evaluate on: a dataset (BEIR folder or ir_datasets id), or queries and qrels files", setting="dataset"
        )


def load_eval_data(
    dataset: str | None, split: str = "test", queries: str | None = None, qrels: str | None = None
) -> EvalData:
    """Resolve ``dataset``/``split`` or ``queries``/``qrels`` into queries and judgments."""
    check_source(dataset, queries, qrels)
    if queries and qrels:
        return load_files(queries, qrels)
    assert dataset is not None
    if Path(dataset).is_dir():
        return load_beir(dataset, split)
    if Path(dataset).exists():
        raise InputError("a dataset must be a BEIR folder or an ir_datasets id, not a file (give queries and qrels files instead)", path=dataset)
    return load_ir_datasets(dataset)

"""Where evaluation queries and judgments come from: a BEIR folder, an ir_datasets id, or explicit files.

BEIR folder: ``queries.jsonl`` and ``qrels/<split>.tsv`` (and ``corpus.jsonl`` for indexing).
ir_datasets id: anything ``ir_datasets.load`` knows (``beir/scifact/test``,
``msmarco-passage/trec-dl-2019/judged``); ir_datasets downloads and caches the files itself, so that
needs network access (or a pre-filled ``IR_DATASETS_HOME``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import Document
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


def _irds(dataset_id: str):
    try:
        import ir_datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConfigError("ir_datasets is not installed (pip install ir-datasets)") from None
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise InputError(f"unknown dataset {dataset_id!r}: not a folder and not an ir_datasets id") from None


def _irds_call(dataset_id: str, what: str, fn):
    try:
        return fn()
    except (OSError, ConnectionError) as exc:
        raise ConfigError(
            f"ir_datasets could not fetch {what} of {dataset_id!r} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
            "offline? download once with network access or point IR_DATASETS_HOME at a filled cache"
        ) from None
    except Exception as exc:  # noqa: BLE001 - ir_datasets raises many download error types
        if "download" in type(exc).__name__.lower() or "download" in str(exc).lower():
            raise ConfigError(f"ir_datasets could not download {what} of {dataset_id!r}; offline?") from None
        raise


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


def iter_ir_datasets_docs(dataset_id: str) -> Iterator[Document]:
    ds = _irds(dataset_id)
    if not ds.has_docs():
        raise InputError(f"ir_datasets id {dataset_id!r} has no documents")

    def gen():
        for d in ds.docs_iter():
            text = getattr(d, "text", None)
            if text is None:
                text = d.default_text()
            yield Document(doc_id=d.doc_id, text=text, title=getattr(d, "title", "") or "")

    it = gen()
    first = _irds_call(dataset_id, "documents", lambda: next(it, None))
    if first is None:
        raise InputError(f"ir_datasets id {dataset_id!r} has no documents")
    yield first
    yield from it


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

"""Read every input file once, with the same readers the stages use, and count what they hold.

Scripts call ``synrank check`` before their first expensive step, so a bad line in the qrels fails in
seconds instead of after an hour of generation. From Python::

    from synrank.formats.check import CheckConfig, run
    result = run(CheckConfig(dataset="data/scifact", split="test"))
    print(result.lines())

(``check_inputs`` is the older name of :func:`run`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from synrank.config import setting
from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import corpus_file, iter_corpus
from synrank.formats.qrels import read_qrels
from synrank.formats.queries import read_queries

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg


@dataclass
class CheckConfig:
    dataset: str | None = setting(
        None, help="A BEIR folder: checks its corpus, queries.jsonl (if present) and qrels/*.tsv (or qrels/SPLIT.tsv).",
        positional=True,
    )
    corpus: str | None = setting(None, help="A corpus file or folder (BEIR, JSONL, TSV) to check.")
    queries: list[str] = setting(default_factory=list, help="Query files (TSV or JSONL) to check; repeatable.")
    qrels: list[str] = setting(default_factory=list, help="Qrels files (TREC, BEIR TSV, JSONL) to check; repeatable.")
    split: str | None = setting(None, help="With a dataset folder: check only qrels/SPLIT.tsv (it must exist).")

    def __post_init__(self) -> None:
        if not (self.dataset or self.corpus or self.queries or self.qrels):
            raise ConfigError("nothing to check: give a dataset folder, --corpus, --queries or --qrels")
        if self.split and not self.dataset:
            raise ConfigError("needs a dataset folder", setting="split")


@dataclass
class FileCheck:
    kind: str  # corpus, queries, qrels
    path: str
    count: int
    detail: str = ""


@dataclass
class CheckResult:
    files: list[FileCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # cross-file findings that are not errors

    def lines(self) -> list[str]:
        out = [f"{f.path}: {f.count:,} {f.kind}" + (f" ({f.detail})" if f.detail else "") for f in self.files]
        return out + [f"note: {n}" for n in self.notes]


def _dataset_files(cfg: CheckConfig) -> tuple[str | None, list[str], list[str]]:
    corpus, queries, qrels = cfg.corpus, list(cfg.queries), list(cfg.qrels)
    if cfg.dataset:
        d = Path(cfg.dataset)
        if not d.is_dir():
            raise InputError("dataset folder not found", path=d)
        corpus = corpus or str(corpus_file(d))
        if (d / "queries.jsonl").exists():
            queries.append(str(d / "queries.jsonl"))
        if cfg.split:
            q = d / "qrels" / f"{cfg.split}.tsv"
            if not q.exists():
                raise InputError(f"no qrels for split {cfg.split!r} (expected {q.name})", path=d / "qrels")
            qrels.append(str(q))
        else:
            qrels += [str(p) for p in sorted((d / "qrels").glob("*.tsv"))]
    return corpus, queries, qrels


def run(cfg: CheckConfig, *, progress: ProgressArg = None) -> CheckResult:
    """Read each file completely; the first bad line raises :class:`InputError` with file:line.

    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (a line as each file is read)."""
    from synrank.runtime.progress import reporter

    say = reporter(progress).say
    corpus, queries, qrels = _dataset_files(cfg)
    result = CheckResult()
    doc_ids: set[str] | None = None
    if corpus:
        say(f"reading the corpus {corpus}")
        doc_ids = set()
        empty = 0
        for doc in iter_corpus(corpus):
            doc_ids.add(doc.doc_id)
            empty += doc.empty
        result.files.append(FileCheck("documents", str(corpus_file(corpus)), len(doc_ids), f"{empty:,} empty" if empty else ""))
    query_ids: set[str] | None = None
    for q in queries:
        say(f"reading the queries {q}")
        ids = read_queries(q)
        query_ids = (query_ids or set()) | set(ids)
        result.files.append(FileCheck("queries", q, len(ids)))
    for path in qrels:
        say(f"reading the qrels {path}")
        judged = read_qrels(path)
        n = sum(len(d) for d in judged.values())
        result.files.append(FileCheck("judgments", path, n, f"{len(judged):,} queries"))
        if doc_ids is not None:
            missing = {d for docs in judged.values() for d in docs if d not in doc_ids}
            if missing:
                result.notes.append(f"{path}: {len(missing):,} judged documents are not in the corpus (e.g. {sorted(missing)[0]!r})")
        if query_ids is not None:
            missing_q = [qid for qid in judged if qid not in query_ids]
            if missing_q:
                result.notes.append(f"{path}: {len(missing_q):,} judged queries have no query text (e.g. {missing_q[0]!r})")
    return result


def check_inputs(cfg: CheckConfig, *, progress: ProgressArg = None) -> CheckResult:
    """The older name of :func:`run`."""
    return run(cfg, progress=progress)

"""The `eval` stage: search a dense index with judged queries and compute metrics, as a library call.

``run(EvalConfig(...))`` returns the aggregate and per-query metrics (pytrec_eval) and writes the results
file and the TREC run when asked; ``synrank eval`` is a thin command that prints the table.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.config import check_positive, setting, setting_from
from synrank.errors import ConfigError
from synrank.evaluate.metrics import DEFAULT_METRICS, parse_metrics
from synrank.index.settings import EncoderConfig
from synrank.runtime.config import RuntimeConfig, UsesRuntime

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg


@dataclass
class EvalConfig(UsesRuntime):
    index: Path = setting(help="Index folder written by `synrank index`.", positional=True)
    dataset: str | None = setting(
        None, help="BEIR folder (queries.jsonl, qrels/<split>.tsv) or ir_datasets id (e.g. beir/scifact/test).",
        short="-d",
    )
    split: str = setting("test", help="Qrels split of a BEIR folder.")
    queries: str | None = setting(None, help="Queries file (TSV qid<TAB>text, JSONL, BEIR queries.jsonl).")
    qrels: str | None = setting(None, help="Qrels file (TREC, BEIR TSV or JSONL).")
    out: Path | None = setting(None, help="results.json: aggregate and per-query metrics plus manifest.", short="-o")
    run_out: Path | None = setting(None, help="Write the retrieval run in TREC format.")
    metrics: str = setting(",".join(DEFAULT_METRICS), help="Comma-separated metrics: nDCG@k, R@k, P@k, RR, RR@k, AP, AP@k.")
    k: int = setting(1000, help="Documents retrieved per query (the run depth).")
    rel_level: int = setting(
        1, help="Minimum grade counted relevant by binary metrics (R, P, RR, AP); TREC DL uses 2."
    )
    model: str | None = setting(None, help="Query encoder; default: the model recorded in the index manifest.", short="-m")
    query_prefix: str = setting("", help="Prefix added to every query (e.g. 'query: ' for e5).")
    nprobe: int = setting(0, help="IVF indexes: inverted lists visited per query; 0 = index default.")
    ef_search: int = setting(0, help="HNSW indexes: search breadth; 0 = index default.")
    run_tag: str = setting("synrank", help="Tag in the last column of the TREC run.")
    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    threads: int = setting_from(RuntimeConfig, "threads")
    seed: int = setting_from(RuntimeConfig, "seed")
    trust_remote_code: bool = setting_from(RuntimeConfig, "trust_remote_code")

    def __post_init__(self) -> None:
        from synrank.evaluate.datasets import check_source

        self.index = Path(self.index)
        # Options first: a typo fails before any file is read.
        try:
            parse_metrics(self.metrics)
        except ConfigError as exc:
            raise ConfigError(exc.message, setting="metrics") from None
        check_positive(self, "k")
        check_source(self.dataset, self.queries, self.qrels)
        self.out, self.run_out = (None if p is None else Path(p) for p in (self.out, self.run_out))
        if self.out is not None and self.run_out is not None and self.out.absolute() == self.run_out.absolute():
            raise ConfigError("must differ from the results file (out)", setting="run_out")


@dataclass
class EvalResult:
    dataset: str  # the evaluation set's name (BEIR folder/split, ir_datasets id or qrels file stem)
    model: str  # the query encoder's name
    aggregate: dict[str, float]  # averaged over every judged query
    per_query: dict[str, dict[str, float]]
    without_relevant: list[str]  # judged queries with nothing at rel_level (they score 0)
    record: dict[str, Any] = field(repr=False)  # the results file's content, manifest included
    out: Path | None = None
    run_out: Path | None = None

    @property
    def num_queries(self) -> int:
        return len(self.per_query)

    def summary(self) -> dict[str, Any]:
        """The averages as `synrank eval` prints them on stdout when no --out is given."""
        return {"aggregate": self.aggregate, "num_queries": self.num_queries, "dataset": self.dataset}


def _manifest(cfg: EvalConfig, data: Any, encoder: Any, idx: Any) -> dict[str, Any]:
    """What the results and the run record: the query encoder, the search settings, the data and the index."""
    from synrank.formats.manifest import make_manifest

    return make_manifest(
        "eval",
        model=encoder.info(),
        config={
            "k": cfg.k,
            "metrics": cfg.metrics,
            "rel_level": cfg.rel_level,
            "query_prefix": cfg.query_prefix,
            "nprobe": cfg.nprobe,
            "ef_search": cfg.ef_search,
        },
        dataset={"name": data.name, **data.source, "judged_without_text": len(data.without_text)},
        index={"path": str(cfg.index), "manifest": idx.manifest},
        run=str(cfg.run_out) if cfg.run_out else None,
    )


def run(cfg: EvalConfig, *, progress: ProgressArg = None, info: Callable[[str], None] | None = None) -> EvalResult:
    """Search ``cfg.index`` with the judged queries, compute ``cfg.metrics``, write ``cfg.out``/``cfg.run_out``.

    Averages are over every judged query that has a text (queries without results count 0; judged queries
    missing from the queries are left out, with a note); graded qrels give graded nDCG. ``progress``: see
    :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling).
    """
    from synrank.evaluate.datasets import load_eval_data
    from synrank.evaluate.metrics import evaluate_run, queries_without_relevant
    from synrank.evaluate.report import results_record
    from synrank.formats.outputs import guarded_output
    from synrank.formats.runs import write_trec_run
    from synrank.index.store import DenseIndex
    from synrank.runtime.progress import reporter
    from synrank.runtime.seeding import set_seed, set_threads

    say = reporter(progress, info=info).say
    inputs = [cfg.index, cfg.dataset, cfg.queries, cfg.qrels]
    with contextlib.ExitStack() as stack:
        # Both outputs are guarded before any work and written atomically at the end.
        results_t, run_t = (
            stack.enter_context(guarded_output(p, inputs=inputs, kind="file")) if p is not None else None
            for p in (cfg.out, cfg.run_out)
        )
        set_seed(cfg.seed)
        set_threads(cfg.threads)
        data = load_eval_data(cfg.dataset, cfg.split, cfg.queries, cfg.qrels)
        idx = DenseIndex.load(cfg.index)
        idx.set_search_params(nprobe=cfg.nprobe or None, ef_search=cfg.ef_search or None)
        encoder = idx.encoder(cfg.model, EncoderConfig(device=cfg.device, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code))
        qids = list(data.queries)
        if data.without_text:
            # As trec_eval and BEIR do, a query with no text is not searched and not averaged; said aloud
            # because "every judged query" would otherwise silently mean fewer queries.
            first = ", ".join(data.without_text[:5]) + (", ..." if len(data.without_text) > 5 else "")
            say(
                f"note: {len(data.without_text)} of {len(data.without_text) + len(qids)} judged queries have no text in "
                f"the queries (ids {first}); they are left out of the averages"
            )
        say(f"searching {len(qids)} queries of {data.name} in {cfg.index} (k={cfg.k}, model {encoder.model_name})")
        results = idx.search([data.queries[q] for q in qids], cfg.k, query_prefix=cfg.query_prefix, encoder=encoder)
        run_ = {q: dict(r) for q, r in zip(qids, results)}
        aggregate, per_query = evaluate_run(run_, data.qrels, cfg.metrics, rel_level=cfg.rel_level)
        empty = queries_without_relevant(data.qrels, cfg.rel_level)
        if empty:
            say(f"note: {len(empty)} judged queries have no document at grade >= {cfg.rel_level}; they score 0")
        manifest = _manifest(cfg, data, encoder, idx)
        record = results_record(aggregate, per_query, manifest, dataset=data.name)
        if run_t is not None:
            write_trec_run(run_, run_t.path, tag=cfg.run_tag)
            run_t.manifest = manifest
        if results_t is not None:
            with open(results_t.path, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
                fh.write("\n")
            results_t.manifest = manifest
    return EvalResult(
        dataset=data.name,
        model=str(encoder.model_name),
        aggregate=aggregate,
        per_query=per_query,
        without_relevant=empty,
        record=record,
        out=cfg.out,
        run_out=cfg.run_out,
    )

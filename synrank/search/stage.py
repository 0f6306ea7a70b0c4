"""The `search` stage: candidate lists for queries from a dense index or BM25, as a library call.

``run(SearchConfig(...))`` reads the queries, searches them in chunks and writes one candidate record per
query (JSONL, appended query by query and resumable) or a TREC run; ``synrank search`` is a thin command
over it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.config import check_choices, check_positive, default_of, overwrite_setting, setting, setting_from
from synrank.errors import ConfigError
from synrank.index.settings import EncoderConfig
from synrank.runtime.config import RuntimeConfig, UsesRuntime
from synrank.search.settings import BM25Config

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg, Reporter

TREC_SUFFIXES = (".trec", ".run")


@dataclass
class SearchConfig(UsesRuntime):
    source: str = setting(
        help="A `synrank index` folder (dense search), or with --bm25 a corpus: BEIR folder, JSONL/TSV file or '-'.",
        positional=True,
    )
    queries: str = setting(
        help="Queries: TSV (qid<TAB>text), JSONL (e.g. `generate --task queries` output, source_doc_id is kept) or a BEIR folder.",
        positional=True,
    )
    k: int = setting(100, help="Candidates per query.", short="-k")
    bm25: bool = setting(False, help="Search SOURCE (a corpus) with BM25 instead of a dense index.")
    out: Path | None = setting(
        None, help="Output file; JSONL is appended per query and resumable. Default: JSONL on stdout.",
        short="-o",
    )
    format: str = setting(
        "auto",
        help="jsonl (candidate records), trec (TREC run), or auto: trec when --out ends in .trec/.run.",
        choices=("auto", "jsonl", "trec"),
    )
    chunk: int = setting(256, help="Queries searched (and appended to --out) together.")
    model: str | None = setting(None, help="Dense: query encoder overriding the index's own model (rarely needed).", short="-m")
    query_prefix: str = setting("", help="Dense: prefix added to every query (e.g. 'query: ' for e5).")
    nprobe: int = setting(0, help="Dense: IVF cells visited per query; 0 = the index's setting.")
    ef_search: int = setting(0, help="Dense: HNSW search depth; 0 = the index's setting.")
    batch_tokens: int = setting(default_of(EncoderConfig, "max_tokens"), help="Dense: token budget per encoding batch.")
    k1: float = setting_from(BM25Config, "k1")
    b: float = setting_from(BM25Config, "b")
    stemmer: str = setting(default_of(BM25Config, "stemmer"), help="BM25: Snowball stemmer language (PyStemmer), or none.")
    stopwords: str = setting(default_of(BM25Config, "stopwords"), help="BM25: stopword list, en or none.")
    no_title: bool = setting(not default_of(BM25Config, "use_title"), help="BM25: index only the text, not 'title + \" \" + text'.")
    cache_dir: Path | None = setting(
        None, help="BM25: where to cache the index. Default: next to the corpus if writable, else ~/.cache/synrank/bm25."
    )
    no_cache: bool = setting(False, help="BM25: build in memory, neither read nor write a cache.")
    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    threads: int = setting_from(RuntimeConfig, "threads")
    trust_remote_code: bool = setting_from(RuntimeConfig, "trust_remote_code")
    overwrite: bool = overwrite_setting()

    def __post_init__(self) -> None:
        # "-" means stdout, the same as no file.
        self.out = None if self.out is None or str(self.out) == "-" else Path(self.out)
        self.source, self.queries = str(self.source), str(self.queries)
        check_choices(self)
        check_positive(self, "k", "chunk")
        if self.output_format == "trec" and self.out is None:
            raise ConfigError("trec needs an output file (out)", setting="format")
        if self.queries == "-" and self.source == "-":
            raise ConfigError("only one of the corpus and the queries can be read from stdin", setting="queries")
        if self.bm25:
            self.bm25_config().validate()

    def bm25_config(self) -> BM25Config:
        """The :class:`synrank.search.settings.BM25Config` of the BM25 settings."""
        return BM25Config(k1=self.k1, b=self.b, stemmer=self.stemmer, stopwords=self.stopwords, use_title=not self.no_title)

    @property
    def output_format(self) -> str:
        """``jsonl`` or ``trec`` (``auto`` resolved from the output file's suffix)."""
        if self.format != "auto":
            return self.format
        name = self.out.name.removesuffix(".gz") if self.out is not None else ""
        return "trec" if Path(name).suffix in TREC_SUFFIXES else "jsonl"


@dataclass
class SearchResult:
    out: Path | None  # None: the records went to stdout
    format: str
    queries: int  # in the input
    searched: int  # by this run (the rest were already in --out)
    engine: dict[str, Any]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def resumed(self) -> int:
        return self.queries - self.searched


def open_searcher(cfg: SearchConfig, info: Callable[[str], None] = lambda _m: None) -> tuple[Any, dict[str, Any]]:
    """The searcher ``cfg`` describes (BM25 over a corpus, or a dense index) and its manifest entry."""
    if cfg.bm25:
        from synrank.search.bm25 import load_or_build_bm25

        bconf = cfg.bm25_config()
        searcher = load_or_build_bm25(cfg.source, bconf, cache_root=cfg.cache_dir, use_cache=not cfg.no_cache, log=info)
        cache = str(searcher.path) if searcher.path else None
        return searcher, {"kind": "bm25", "library": "bm25s", "corpus": cfg.source, "config": bconf.__dict__, "cache": cache}
    from synrank.index.encoder import EncoderConfig
    from synrank.search.dense import DenseSearcher

    econf = EncoderConfig(device=cfg.device, dtype=cfg.dtype, max_tokens=cfg.batch_tokens, trust_remote_code=cfg.trust_remote_code)
    searcher = DenseSearcher(
        cfg.source,
        model=cfg.model,
        encoder_config=econf,
        query_prefix=cfg.query_prefix,
        nprobe=cfg.nprobe or None,
        ef_search=cfg.ef_search or None,
    )
    return searcher, {"kind": "dense", **searcher.info()}


def _search_in_chunks(
    searcher: Any, todo: Sequence[Any], k: int, chunk: int, report: Reporter
) -> Iterator[tuple[Any, list[tuple[str, float]]]]:
    """``(query, hits)`` for every query of ``todo``, searched ``chunk`` at a time under a progress bar."""
    with report.bar("queries") as bars:
        task = bars.add_task("search", total=len(todo))
        for start in range(0, len(todo), chunk):
            part = todo[start : start + chunk]
            yield from zip(part, searcher.search([q.text for q in part], k))
            bars.advance(task, len(part))


def run(cfg: SearchConfig, *, progress: ProgressArg = None, info: Callable[[str], None] | None = None) -> SearchResult:
    """Search every query of ``cfg.queries`` and write its top ``cfg.k`` candidates.

    JSONL output to a file is resumable: queries already in ``cfg.out`` (written with the same engine and
    settings) are skipped; other settings are refused unless ``overwrite`` starts the file over
    (:mod:`synrank.formats.outputs` decides, as for every stage). ``progress``: see
    :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling).
    """
    from synrank.formats.io import AppendJsonlWriter
    from synrank.formats.manifest import make_manifest
    from synrank.formats.outputs import check_output, guarded_output
    from synrank.formats.runs import write_trec_run
    from synrank.runtime.progress import reporter
    from synrank.runtime.seeding import set_threads
    from synrank.search.records import candidate_record, read_query_records

    report = reporter(progress, info=info)
    say = report.say
    fmt, out = cfg.output_format, cfg.out
    inputs = [cfg.queries, cfg.source if cfg.bm25 else None]
    kind = "file" if fmt == "trec" else "append"
    check_output(out, inputs=inputs, overwrite=cfg.overwrite, kind=kind)  # before any work
    set_threads(cfg.threads)
    qrecs = read_query_records(cfg.queries)
    searcher, engine = open_searcher(cfg, say)
    settings = {"k": cfg.k, "format": fmt, "queries": cfg.queries}
    manifest = make_manifest("search", model=engine, config=settings)
    todo = qrecs
    if fmt == "trec":
        run_: dict[str, list[tuple[str, float]]] = {}
        for q, hits in _search_in_chunks(searcher, todo, cfg.k, cfg.chunk, report):
            run_[q.query_id] = hits
        with guarded_output(out, inputs=inputs, overwrite=cfg.overwrite, kind="file") as target:
            write_trec_run(run_, target.path, tag="synrank-" + engine["kind"])
            target.manifest = manifest
    else:
        # The BM25 cache folder is named after the corpus file's mtime: a re-copied corpus gets a new one, which
        # must not make the same engine and settings look different (the manifest still records it).
        fingerprint = {"model": {k: v for k, v in engine.items() if k != "cache"}, "config": settings}
        with guarded_output(out, inputs=inputs, overwrite=cfg.overwrite, kind="append", fingerprint=fingerprint) as target:
            target.manifest = manifest
            target.write_manifest()  # before the first record, so a killed run is recognisable
            if target.resume is not None and target.resume.action == "restart":
                say(f"--overwrite: starting {out} over")
            with AppendJsonlWriter(target.path, key=lambda r: str(r.get("query_id")), fsync_every=cfg.chunk) as writer:
                todo = [q for q in qrecs if q.query_id not in writer.done_keys]
                if out is not None and len(todo) < len(qrecs):
                    say(f"resuming: {len(qrecs) - len(todo):,} of {len(qrecs):,} queries already in {out}")
                for q, hits in _search_in_chunks(searcher, todo, cfg.k, cfg.chunk, report):
                    writer.write(candidate_record(q, hits))
            manifest["queries"] = len(qrecs)
    return SearchResult(out=out, format=fmt, queries=len(qrecs), searched=len(todo), engine=engine, manifest=manifest)

"""The ``score`` and ``fuse`` stages as library calls: a config, a function, a result.

```python
from synrank.score import FuseConfig, ScoreConfig, run, run_fuse

result = run(ScoreConfig(inputs=["dense.jsonl"], corpus="corpus.jsonl", teacher=["bm25"], out="lists.jsonl"))
result.summary["queries_out"]
run_fuse(FuseConfig(runs=["bm25.trec", "dense.trec"], out="hybrid.trec"))
```

:class:`ScoreConfig` extends :class:`synrank.score.filters.FilterConfig` with the reading, fusion and
teacher settings: one dataclass holds every default, help text and check (``synrank score`` takes its
options from it). Errors name settings (``ConfigError(..., setting="fuse")``); the CLI shows them as flags.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.config import as_dict, check_choices, overwrite_setting, setting, setting_from
from synrank.errors import ConfigError
from synrank.runtime.config import RuntimeConfig, UsesRuntime
from synrank.score.filters import FilterConfig
from synrank.score.fusion import FUSIONS, RRF_K
from synrank.score.lists import STUDENT_INPUT, TOP
from synrank.score.teachers.llm import JUDGE_BACKENDS
from synrank.score.teachers.t5 import MONOT5_SCORES, MONOT5_TEMPLATE, MONOT5_TOKENS, RANKT5_TEMPLATE, RANKT5_TOKEN, check_template, split_token_pair

DEFAULT_TEACHER = "bi-encoder:minilm"
# Bumped when the saved scores (<out>.scored.jsonl) change meaning, so older ones are rescored.
SCORED_FORMAT = 2

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg


@dataclass(kw_only=True)
class ScoreConfig(FilterConfig, UsesRuntime):
    """Settings of ``synrank score`` (the filter settings are inherited from :class:`FilterConfig`)."""

    inputs: list[str] = setting(
        help="Candidate files: `search` JSONL, TREC runs (with --queries), `generate --task docs` JSONL or `score` output. Several are fused.",
        positional=True,
    )
    teacher: list[str] = setting(
        default_factory=list,
        help=f"KIND:MODEL, repeatable. Kinds: cross-encoder (sentence-transformers CrossEncoder), monot5 / rankt5 (T5 rerankers, e.g. monot5:castorini/monot5-base-msmarco), bi-encoder (alias/folder/hub id), bm25, llm (e.g. llm:smollm2). Default: {DEFAULT_TEACHER}.",
        short="-t",
    )
    corpus: str | None = setting(None, help="Corpus for passage texts (BEIR folder, JSONL/TSV); also the BM25 teacher's statistics.", short="-c")
    queries: str | None = setting(None, help="Query texts for TREC-run inputs (TSV/JSONL/BEIR folder).", short="-q")
    out: Path | None = setting(None, help="Training lists (JSONL). Scoring is resumable through <out>.scored.jsonl. Default: stdout.", short="-o")
    fuse: str = setting(FUSIONS[0], help="Fusion of several inputs: rrf, minmax or zscore (normalised score sum).", choices=FUSIONS)
    rrf_k: int = setting(RRF_K, help="RRF constant k in 1/(k + rank).")
    depth: int = setting(0, help="Candidates taken from each input before fusion; 0 = all.")
    top: int = setting(TOP, help="Fused candidates scored per query; 0 = all.")
    student_input: int = setting(
        STUDENT_INPUT,
        help="Lists keep only the candidates of this input (1 = the first), the retriever the student is, as the CADeT reference trains each retriever on its own candidates; 0 = the fused list of all inputs (earlier synrank).",
    )
    teacher_combine: str = setting(
        "mean", help="Several teachers: mean (of per-query min-max scores) or rrf (of their rankings).", choices=("mean", "rrf")
    )
    teacher_activation: str = setting(
        "none",
        help="cross-encoder teachers: none (raw logits, as the CADeT reference) or model (the model's activation, e.g. sigmoid for bge rerankers; earlier synrank).",
        choices=("none", "model"),
    )
    monot5_score: str = setting(
        "log-softmax",
        help="monot5 teachers: log-softmax (log p(true) over {true, false}, as pygaggle and the CADeT reference) or logit (the raw 'true' logit).",
        choices=MONOT5_SCORES,
    )
    monot5_template: str = setting(MONOT5_TEMPLATE, help="monot5 teachers: the input, with {query} and {passage}.")
    monot5_tokens: str = setting(
        MONOT5_TOKENS, help="monot5 teachers: the answer tokens TRUE,FALSE (vocabulary pieces, words of one token, or ids; e.g. ▁yes,▁no for mT5 models)."
    )
    rankt5_template: str = setting(RANKT5_TEMPLATE, help="rankt5 teachers: the input, with {query} and {passage}.")
    rankt5_token: str = setting(RANKT5_TOKEN, help="rankt5 teachers: the token whose first-step logit is the score.")
    llm_levels: int = setting(4, help="llm teacher: number of relevance levels (TREC DL scale for 4).")
    llm_backend: str = setting(
        "auto",
        help="llm teacher: auto (llamacpp for a GGUF model such as qwen2.5-coder-1.5b when the engine is installed, "
        "as generate does; else transformers), llamacpp or transformers.",
        choices=JUDGE_BACKENDS,
    )
    query_prefix: str = setting("", help="bi-encoder teacher: prefix for queries (e.g. 'query: ').")
    doc_prefix: str = setting("", help="bi-encoder teacher: prefix for passages (e.g. 'passage: ').")
    no_title: bool = setting(False, help="Passage text from --corpus without the title.")
    chunk: int = setting(32, help="Queries scored (and saved for resume) together.")
    batch_tokens: int = setting(16384, help="Token budget per model batch (batch size x longest input).")
    max_batch_size: int = setting(128, help="Upper bound on pairs per model batch.")
    max_length: int = setting(0, help="Truncate model inputs to this many tokens; 0 = the model's limit.")
    device: str = setting_from(RuntimeConfig, "device")
    dtype: str = setting_from(RuntimeConfig, "dtype")
    threads: int = setting_from(RuntimeConfig, "threads")
    seed: int = setting_from(RuntimeConfig, "seed")
    trust_remote_code: bool = setting_from(RuntimeConfig, "trust_remote_code")
    overwrite: bool = overwrite_setting()

    def __post_init__(self) -> None:
        from synrank.score.teachers import parse_teacher_spec

        super().__post_init__()  # the filter settings, and every field's choices
        self.inputs = [str(p) for p in self.inputs]
        if not self.inputs:
            raise ConfigError("at least one candidate file is needed", setting="inputs")
        if self.out is not None:
            self.out = None if str(self.out) == "-" else Path(self.out)
        for spec in self.teacher:
            parse_teacher_spec(spec)  # unknown kinds fail before any file is read
        check_template(self.monot5_template, "monot5_template")
        check_template(self.rankt5_template, "rankt5_template")
        split_token_pair(self.monot5_tokens, "monot5_tokens")
        if not self.rankt5_token.strip():
            raise ConfigError("needs a token", setting="rankt5_token")
        if not 2 <= self.llm_levels <= 10:
            raise ConfigError(f"must be between 2 and 10, labels being single digits (got {self.llm_levels})", setting="llm_levels")
        if self.chunk <= 0:
            raise ConfigError(f"must be at least 1 (got {self.chunk})", setting="chunk")
        for name in ("top", "depth", "max_length", "student_input"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0 (got {getattr(self, name)})", setting=name)
        if self.student_input > len(self.inputs):
            raise ConfigError(f"there are {len(self.inputs)} inputs; use 1..{len(self.inputs)}, or 0 for the fused list", setting="student_input")
        if sum(1 for p in [*self.inputs, self.corpus, self.queries] if p == "-") > 1:
            raise ConfigError("only one input can be read from stdin", setting="inputs")

    @property
    def teachers(self) -> list[str]:
        return list(self.teacher) or [DEFAULT_TEACHER]


@dataclass
class ScoreResult:
    records: list[dict[str, Any]]  # the training lists written (also when they went to stdout)
    summary: dict[str, Any]  # queries in/out, what each filter removed, normalisation statistics
    out: Path | None
    teachers: list[Any] = field(default_factory=list)  # each teacher's info(), or the specs when nothing was scored
    resumed: int = 0  # lists whose scores came from <out>.scored.jsonl

    def lines(self) -> list[str]:
        """What `synrank score` reports: queries in and out, what each filter removed, where the lists went."""
        s = self.summary
        removed = ", ".join(f"{k}: {v:,}" for k, v in s["removed"].items()) or "none"
        lines = [f"{s['queries_in']:,} queries in, {s['queries_out']:,} out; removed by filter: {removed}"]
        if s["queries_in"] and not s["queries_out"]:
            lines.append("warning: no query survived the filters; the output is empty (loosen --require-source-* or --drop-bottom-pct)")
        if self.out is not None:
            lines.append(f"wrote {len(self.records):,} training lists to {self.out}")
        return lines


def _fingerprint(path: str | Path | None) -> object:
    if path is None or str(path) == "-":
        return None if path is None else "-"
    p = Path(path)
    if p.is_dir():
        p = p / "corpus.jsonl" if (p / "corpus.jsonl").exists() else p
    try:
        st = p.stat()
        return [str(p.resolve()), st.st_size, st.st_mtime_ns]
    except OSError:
        return str(p)


def _list_key(query_id: str, doc_ids: list[str]) -> str:
    """Resume key of one scored list: its query and exact candidate set, so settings that change which
    candidates a list holds (--require-source-in-top, --student-input) rescore only the lists they change."""
    digest = hashlib.sha1("\n".join(doc_ids).encode("utf-8")).hexdigest()[:16]
    return f"{query_id}\t{digest}"


def _scored_key(rec: dict[str, Any]) -> str:
    return _list_key(str(rec.get("query_id")), sorted(str(c.get("doc_id")) for c in rec.get("candidates") or []))


class _NullWriter:
    """Stands in for the resumable writer when results go to stdout (nothing to resume)."""

    done_keys: set[str] = set()

    def __enter__(self) -> _NullWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, record: object) -> None:  # pragma: no cover - never called
        raise AssertionError


def run(cfg: ScoreConfig, *, progress: ProgressArg = None, info: Callable[[str], None] | None = None) -> ScoreResult:
    """Read the inputs and build each query's list, score every (query, passage) pair with the teachers,
    filter, write.

    The output goes through :func:`synrank.formats.outputs.guarded_output` (never an input or a file
    synrank did not write; locked; written atomically with its manifest). Scores are appended to
    ``<out>.scored.jsonl`` as they are made (a :class:`~synrank.formats.outputs.ResumeState` work file),
    so a rerun of the same config resumes, and a rerun with other filter settings reuses them.
    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling).
    """
    from synrank.formats.outputs import guarded_output
    from synrank.runtime.progress import reporter

    report = reporter(progress, info=info)

    if cfg.corpus is not None and cfg.corpus != "-" and not Path(cfg.corpus).exists():
        raise ConfigError(f"corpus not found: {cfg.corpus}", setting="corpus")
    with guarded_output(cfg.out, inputs=[*cfg.inputs, cfg.corpus, cfg.queries], overwrite=cfg.overwrite, kind="file") as target:
        return _run(cfg, target, report.say, report.bars)


@dataclass
class _Lists:
    """Each query's candidate list, built from the inputs, and what building them removed."""

    lists: list[Any]  # QueryList, in output order
    queries_read: int  # distinct queries over every input
    removed_before: dict[str, int]  # queries removed while building the lists, by filter
    pairs: int  # (query, passage) pairs to score


def _build_lists(cfg: ScoreConfig, info: Callable[[str], None]) -> _Lists:
    from synrank.score.lists import read_lists, select_lists
    from synrank.score.pipeline import attach_text
    from synrank.search.records import read_query_records

    qtexts = None
    if cfg.queries is not None:
        qtexts = {q.query_id: q.text for q in read_query_records(cfg.queries)}
    inputs = [read_lists(p, qtexts) for p in cfg.inputs]
    if cfg.needs_source and not any(ql.source_doc_id for inp in inputs for ql in inp.values()):
        raise ConfigError(
            "the source-passage filters need a source_doc_id per query (from `generate --task queries` via `search`); the inputs have none",
            setting="require_source_top1" if cfg.require_source_top1 else "require_source_in_top",
        )
    if cfg.student_input and len(inputs) > 1:
        info(f"lists keep the candidates of input {cfg.student_input} ({cfg.inputs[cfg.student_input - 1]}) only, the student's own retriever; student_input=0 keeps the fused list")
    lists, removed_before = select_lists(
        inputs,
        method=cfg.fuse,
        k=cfg.rrf_k,
        depth=cfg.depth,
        top=cfg.top,
        require_source_in_top=cfg.require_source_in_top,
        source_in_top_scope=cfg.source_in_top_scope,
        student_input=cfg.student_input,
    )
    n_from_corpus = attach_text(lists, cfg.corpus, use_title=not cfg.no_title)
    npairs = sum(len(ql.candidates) for ql in lists)
    info(f"{len(lists):,} queries, {npairs:,} pairs" + (f" ({n_from_corpus:,} passages from {cfg.corpus})" if n_from_corpus else ""))
    return _Lists(lists, len({qid for inp in inputs for qid in inp}), removed_before, npairs)


def _scores_key(cfg: ScoreConfig) -> dict[str, Any]:
    """What the saved scores depend on besides each list's candidates (those are in the per-list key)."""
    from synrank.score.teachers import parse_teacher_spec

    key = {
        "format": SCORED_FORMAT,
        "inputs": [_fingerprint(p) for p in cfg.inputs],
        "corpus": _fingerprint(cfg.corpus),
        "queries": _fingerprint(cfg.queries),
        "teachers": cfg.teachers,
        "combine": cfg.teacher_combine,
        "activation": cfg.teacher_activation,
        "llm_levels": cfg.llm_levels,
        "prefixes": [cfg.query_prefix, cfg.doc_prefix],
        "title": not cfg.no_title,
        "max_length": cfg.max_length,
        "dtype": cfg.dtype,
    }
    kinds = {parse_teacher_spec(s)[0] for s in cfg.teachers}
    # Only when a T5 teacher scores, so the work files of other teachers keep resuming.
    if "monot5" in kinds:
        key["monot5"] = [cfg.monot5_score, cfg.monot5_template, cfg.monot5_tokens]
    if "rankt5" in kinds:
        key["rankt5"] = [cfg.rankt5_template, cfg.rankt5_token]
    if "llm" in kinds:  # llama.cpp's kernels and transformers' dequantised weights give slightly different scores
        key["llm_backend"] = cfg.llm_backend
    return key


def _open_scores(cfg: ScoreConfig, key: dict[str, Any], info: Callable[[str], None]) -> Path | None:
    """The work file of saved scores (None when the lists go to stdout), emptied when ``key`` changed."""
    from synrank.formats.outputs import ResumeState, check_output

    if cfg.out is None:
        return None
    scored_path = cfg.out.with_name(cfg.out.name + ".scored.jsonl")
    # synrank's own work file: other settings rebuild it (said on stderr), it never becomes an input's.
    check_output(scored_path, inputs=[*cfg.inputs, cfg.corpus, cfg.queries], kind="append")
    state = ResumeState.open(scored_path, key, overwrite=cfg.overwrite, on_change="restart", name=str(scored_path))
    if state.action == "restart":
        info(f"--overwrite: discarded {scored_path}" if cfg.overwrite else f"discarding {scored_path} (made with other {', '.join(state.changed)})")
    return scored_path


def _make_teachers(cfg: ScoreConfig, lists: list[Any], info: Callable[[str], None]) -> list[Any]:
    """The teachers, loaded and prepared with every pair of ``lists`` (BM25 and the like fit on them)."""
    from synrank.score.teachers import TeacherConfig, make_teacher

    if not cfg.teacher:
        info(f"no teacher given: using {DEFAULT_TEACHER} (the bundled all-MiniLM-L6-v2); a cross-encoder is the usual teacher")
    tconf = TeacherConfig(
        device=cfg.device,
        dtype=cfg.dtype,
        max_tokens=cfg.batch_tokens,
        max_batch_size=cfg.max_batch_size,
        max_length=cfg.max_length or None,
        trust_remote_code=cfg.trust_remote_code,
        activation=cfg.teacher_activation,
    )
    teachers = [
        make_teacher(
            s,
            tconf,
            corpus=cfg.corpus,
            llm_levels=cfg.llm_levels,
            llm_backend=cfg.llm_backend,
            threads=cfg.threads,
            query_prefix=cfg.query_prefix,
            doc_prefix=cfg.doc_prefix,
            log=info,
            monot5_score=cfg.monot5_score,
            monot5_template=cfg.monot5_template,
            monot5_tokens=cfg.monot5_tokens,
            rankt5_template=cfg.rankt5_template,
            rankt5_token=cfg.rankt5_token,
        )
        for s in cfg.teachers
    ]
    all_q = [ql.query for ql in lists for _c in ql.candidates]
    all_ids = [c.doc_id for ql in lists for c in ql.candidates]
    all_t = [c.text or "" for ql in lists for c in ql.candidates]
    for t in teachers:
        t.prepare(all_q, all_ids, all_t)
    return teachers


def _score(
    cfg: ScoreConfig, lists: list[Any], scored_path: Path | None, info: Callable[[str], None], progress: bool
) -> tuple[list[dict[str, Any]], list[Any], int]:
    """Every list scored, in the order of ``lists``: those saved in ``scored_path`` are read back, the
    rest scored (and saved as they are made). Returns the scored lists, the teachers (none when nothing
    was left to score) and how many lists were resumed."""
    from synrank.formats.io import AppendJsonlWriter, iter_jsonl
    from synrank.runtime.progress import make_progress
    from synrank.score.pipeline import ScoringOptions, score_lists

    list_keys = [_list_key(ql.query_id, sorted(c.doc_id for c in ql.candidates)) for ql in lists]
    teachers: list[Any] = []
    scored: list[dict[str, Any]] = []
    writer_cm = AppendJsonlWriter(scored_path, key=_scored_key, fsync_every=cfg.chunk) if scored_path else _NullWriter()
    with writer_cm as writer:
        todo = [ql for ql, k in zip(lists, list_keys) if k not in writer.done_keys]
        resumed = len(lists) - len(todo)
        if resumed:
            info(f"resuming: {resumed:,} of {len(lists):,} queries already scored in {scored_path}")
        if todo:
            teachers = _make_teachers(cfg, lists, info)
            options = ScoringOptions(cfg.teacher_combine, cfg.chunk, not cfg.no_title)
            with make_progress("pairs", disable=not progress) as bar:
                task = bar.add_task("score", total=sum(len(ql.candidates) for ql in todo) * len(teachers))
                for rec in score_lists(todo, teachers, options, on_progress=lambda n: bar.advance(task, n)):
                    if scored_path is None:
                        scored.append(rec)
                    else:
                        writer.write(rec)
    if scored_path is not None:
        by_key = {_scored_key(obj): obj for _n, obj in iter_jsonl(scored_path)}
        scored = [by_key[k] for k in list_keys if k in by_key]
    return scored, teachers, resumed


def _run(cfg: ScoreConfig, target: Any, info: Callable[[str], None], progress: bool) -> ScoreResult:
    from synrank.formats.io import write_jsonl
    from synrank.formats.manifest import make_manifest
    from synrank.runtime.seeding import set_seed, set_threads
    from synrank.score.filters import apply_filters
    from synrank.score.pipeline import output_record

    set_seed(cfg.seed)
    set_threads(cfg.threads)
    built = _build_lists(cfg, info)
    key = _scores_key(cfg)
    scored_path = _open_scores(cfg, key, info)
    scored, teachers, resumed = _score(cfg, built.lists, scored_path, info, progress)

    kept, summary = apply_filters(scored, cfg)
    if built.removed_before:
        # Filters applied while building the lists come first, as they ran first.
        summary["queries_in"] = built.queries_read
        summary["removed"] = {**built.removed_before, **summary["removed"]}
    summary["pairs_scored"] = built.pairs
    records = [output_record(s, cfg.teachers) for s in kept]
    write_jsonl(records, target.path)
    tinfo = [t.info() for t in teachers] or cfg.teachers
    if cfg.out is not None:
        config = {**key, "fuse": [cfg.fuse, cfg.rrf_k, cfg.depth, cfg.top], "student_input": cfg.student_input, "filters": cfg.filter_settings(), "seed": cfg.seed}
        target.manifest = make_manifest("score", model=tinfo, config=config, summary=summary)
    return ScoreResult(records=records, summary=summary, out=cfg.out, teachers=tinfo, resumed=resumed)


# -- fuse --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class FuseConfig:
    """Settings of ``synrank fuse`` (hybrid runs)."""

    runs: list[str] = setting(help="Two or more runs: TREC files or `synrank search` JSONL.", positional=True)
    out: Path = setting(help="Fused TREC run (written atomically, with a manifest beside it).", short="-o")
    method: str = setting("rrf", help="rrf (reciprocal rank), minmax or zscore (normalised score sum, CombSUM).", choices=FUSIONS)
    rrf_k: int = setting(RRF_K, help="RRF constant k in 1/(k + rank).")
    depth: int = setting(0, help="Documents taken from each run before fusion; 0 = all.")
    top: int = setting(1000, help="Documents kept per query in the fused run; 0 = all.")
    run_tag: str = setting("synrank-fuse", help="Tag in the last column of the TREC run.")

    def __post_init__(self) -> None:
        check_choices(self)
        self.runs = [str(r) for r in self.runs]
        self.out = Path(self.out)
        if len(self.runs) < 2:
            raise ConfigError("fuse needs at least two runs", setting="runs")
        for name in ("depth", "top", "rrf_k"):
            if getattr(self, name) < 0:
                raise ConfigError(f"must be >= 0 (got {getattr(self, name)})", setting=name)


@dataclass
class FuseResult:
    fused: dict[str, list[tuple[str, float]]]  # {query_id: [(doc_id, fused score), ...]} best first
    out: Path

    @property
    def queries(self) -> int:
        return len(self.fused)


def run_fuse(cfg: FuseConfig, *, progress: ProgressArg = None) -> FuseResult:
    """Fuse the runs query by query and write a TREC run with a manifest beside it (through
    :func:`synrank.formats.outputs.guarded_output`: never over an input or a file synrank did not write).
    ``progress``: see :data:`synrank.runtime.progress.ProgressArg` (a line per run read)."""
    from synrank.formats.io import display_name
    from synrank.formats.manifest import make_manifest
    from synrank.formats.outputs import guarded_output
    from synrank.formats.runs import read_run, write_trec_run
    from synrank.runtime.progress import reporter
    from synrank.score.fusion import fuse_runs

    say = reporter(progress).say
    with guarded_output(cfg.out, inputs=cfg.runs, kind="file") as target:
        runs = []
        for path in cfg.runs:
            runs.append(read_run(path))
            say(f"read {display_name(path)}: {len(runs[-1]):,} queries")
        fused = fuse_runs(runs, method=cfg.method, k=cfg.rrf_k, depth=cfg.depth, top=cfg.top)
        write_trec_run(fused, target.path, tag=cfg.run_tag)
        settings = as_dict(cfg)
        target.manifest = make_manifest("fuse", config={k: settings[k] for k in ("runs", "method", "rrf_k", "depth", "top")})
        target.manifest["queries"] = len(fused)
    return FuseResult(fused=fused, out=cfg.out)

"""`synrank score`: score candidate lists with teachers and apply the distillation filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import DeviceOpt, DtypeOpt, SeedOpt, ThreadsOpt, TrustOpt, info

DEFAULT_TEACHER = "bi-encoder:minilm"


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


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score_cmd(
        inputs: Annotated[
            list[str],
            typer.Argument(
                help="Candidate files: `search` JSONL, TREC runs (with --queries), `generate --task docs` JSONL or `score` output. Several are fused."
            ),
        ],
        teacher: Annotated[
            list[str] | None,
            typer.Option(
                "--teacher",
                "-t",
                help="KIND:MODEL, repeatable. Kinds: cross-encoder (sentence-transformers CrossEncoder), bi-encoder (alias/folder/hub id), bm25, llm (e.g. llm:smollm2). Default: bi-encoder:minilm.",
            ),
        ] = None,
        corpus: Annotated[
            str | None, typer.Option("--corpus", "-c", help="Corpus for passage texts (BEIR folder, JSONL/TSV); also the BM25 teacher's statistics.")
        ] = None,
        queries: Annotated[str | None, typer.Option("--queries", "-q", help="Query texts for TREC-run inputs (TSV/JSONL/BEIR folder).")] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Training lists (JSONL). Scoring is resumable through <out>.scored.jsonl. Default: stdout."),
        ] = None,
        fuse: Annotated[str, typer.Option("--fuse", help="Fusion of several inputs: rrf, minmax or zscore (normalised score sum).")] = "rrf",
        rrf_k: Annotated[int, typer.Option("--rrf-k", help="RRF constant k in 1/(k + rank).")] = 60,
        depth: Annotated[int, typer.Option("--depth", help="Candidates taken from each input before fusion; 0 = all.")] = 0,
        top: Annotated[int, typer.Option("--top", help="Fused candidates scored per query; 0 = all.")] = 100,
        teacher_combine: Annotated[
            str, typer.Option("--teacher-combine", help="Several teachers: mean (of per-query min-max scores) or rrf (of their rankings).")
        ] = "mean",
        list_size: Annotated[int, typer.Option("--list-size", help="Keep the N best-scored passages per query; 0 = all.")] = 0,
        require_source_in_top: Annotated[
            int, typer.Option("--require-source-in-top", help="Keep queries whose source passage is in the top K candidates; 0 = off.")
        ] = 0,
        require_source_top1: Annotated[
            bool, typer.Option("--require-source-top1", help="Keep queries whose source passage the teacher ranks first.")
        ] = False,
        drop_bottom_pct: Annotated[
            float, typer.Option("--drop-bottom-pct", help="Drop this percentage of queries with the lowest top teacher score.")
        ] = 0.0,
        normalize: Annotated[
            str, typer.Option("--normalize", help="Teacher scores: none, minmax (per query) or pct-minmax (global percentiles, clipped to [0,1]).")
        ] = "none",
        pct_low: Annotated[float, typer.Option("--pct-low", help="pct-minmax: percentile used as the minimum.")] = 1.0,
        pct_high: Annotated[float, typer.Option("--pct-high", help="pct-minmax: percentile used as the maximum.")] = 99.0,
        llm_levels: Annotated[int, typer.Option("--llm-levels", help="llm teacher: number of relevance levels (TREC DL scale for 4).")] = 4,
        query_prefix: Annotated[str, typer.Option("--query-prefix", help="bi-encoder teacher: prefix for queries (e.g. 'query: ').")] = "",
        doc_prefix: Annotated[str, typer.Option("--doc-prefix", help="bi-encoder teacher: prefix for passages (e.g. 'passage: ').")] = "",
        no_title: Annotated[bool, typer.Option("--no-title", help="Passage text from --corpus without the title.")] = False,
        chunk: Annotated[int, typer.Option("--chunk", help="Queries scored (and saved for resume) together.")] = 32,
        batch_tokens: Annotated[int, typer.Option("--batch-tokens", help="Token budget per model batch (batch size x longest input).")] = 16384,
        max_batch_size: Annotated[int, typer.Option("--max-batch-size", help="Upper bound on pairs per model batch.")] = 128,
        max_length: Annotated[int, typer.Option("--max-length", help="Truncate model inputs to this many tokens; 0 = the model's limit.")] = 0,
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "auto",
        threads: ThreadsOpt = 0,
        seed: SeedOpt = 42,
        trust_remote_code: TrustOpt = False,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over: discard saved teacher scores (<out>.scored.jsonl) and rescore everything.")] = False,
    ) -> None:
        """Score candidate lists with one or more teachers and write training lists.

        Fuses the inputs per query, fetches passage texts from --corpus, scores every (query, passage) pair,
        applies the optional filters of listwise distillation and prints how many queries each removed.
        Output records: {"query_id", "query", "candidates": [{"doc_id", "text", "score", "label"?}], "meta"}.
        """
        from synrank.errors import ConfigError
        from synrank.formats.io import AppendJsonlWriter, atomic_write, iter_jsonl, write_jsonl
        from synrank.formats.manifest import make_manifest, manifest_path_for, write_manifest
        from synrank.runtime.progress import make_progress
        from synrank.runtime.seeding import set_seed, set_threads
        from synrank.score.filters import FilterConfig, apply_filters
        from synrank.score.fusion import FUSIONS
        from synrank.score.lists import fuse_inputs, read_lists
        from synrank.score.pipeline import ScoreConfig, attach_text, output_record, score_lists
        from synrank.score.teachers import TeacherConfig, make_teacher, parse_teacher_spec
        from synrank.search.records import read_query_records

        specs = list(teacher or []) or [DEFAULT_TEACHER]
        if out is not None and str(out) == "-":
            out = None
        for s in specs:
            parse_teacher_spec(s)  # unknown kinds fail before any file is read
        if fuse not in FUSIONS:
            raise ConfigError(f"unknown --fuse {fuse!r} (use one of {', '.join(FUSIONS)})")
        if teacher_combine not in ("mean", "rrf"):
            raise ConfigError(f"unknown --teacher-combine {teacher_combine!r} (mean, rrf)")
        if chunk <= 0 or top < 0 or depth < 0:
            raise ConfigError("--chunk must be positive and --top/--depth >= 0")
        if sum(1 for p in [*inputs, corpus, queries] if p == "-") > 1:
            raise ConfigError("only one input can be read from stdin")
        filters = FilterConfig(require_source_in_top, require_source_top1, drop_bottom_pct, list_size, normalize, pct_low, pct_high)
        filters.validate()
        if corpus is not None and corpus != "-" and not Path(corpus).exists():
            raise ConfigError(f"corpus not found: {corpus}")
        set_seed(seed)
        set_threads(threads)

        qtexts = None
        if queries is not None:
            qtexts = {q.query_id: q.text for q in read_query_records(queries)}
        lists = fuse_inputs([read_lists(p, qtexts) for p in inputs], method=fuse, k=rrf_k, depth=depth, top=top)
        if filters.needs_source and not any(ql.source_doc_id for ql in lists):
            raise ConfigError("--require-source-* filters need a source_doc_id per query (from `generate --task queries` via `search`); the inputs have none")
        n_from_corpus = attach_text(lists, corpus, use_title=not no_title)
        npairs = sum(len(ql.candidates) for ql in lists)
        info(f"{len(lists):,} queries, {npairs:,} pairs" + (f" ({n_from_corpus:,} passages from {corpus})" if n_from_corpus else ""))

        tconf = TeacherConfig(device=device, dtype=dtype, max_tokens=batch_tokens, max_batch_size=max_batch_size, max_length=max_length or None, trust_remote_code=trust_remote_code)
        key = {
            "inputs": [_fingerprint(p) for p in inputs],
            "corpus": _fingerprint(corpus),
            "queries": _fingerprint(queries),
            "teachers": specs,
            "combine": teacher_combine,
            "fuse": [fuse, rrf_k, depth, top],
            "llm_levels": llm_levels,
            "prefixes": [query_prefix, doc_prefix],
            "title": not no_title,
            "max_length": max_length,
            "dtype": dtype,
        }
        scored_path = None if out is None else out.with_name(out.name + ".scored.jsonl")
        stamp_path = None if out is None else out.with_name(out.name + ".scored.json")
        if scored_path is not None and stamp_path is not None:
            if overwrite or not stamp_path.exists() or json.loads(stamp_path.read_text(encoding="utf-8")) != json.loads(json.dumps(key)):
                if scored_path.exists():
                    info(f"discarding {scored_path} (made with other inputs or teachers)" if not overwrite else f"--overwrite: discarding {scored_path}")
                    scored_path.unlink()
            with atomic_write(stamp_path) as fh:
                fh.write(json.dumps(key))

        teachers = []
        scored: list[dict] = []
        with AppendJsonlWriter(scored_path, key=lambda r: str(r.get("query_id")), fsync_every=chunk) if scored_path else _NullWriter() as writer:
            done = writer.done_keys
            todo = [ql for ql in lists if ql.query_id not in done]
            if done:
                info(f"resuming: {len(lists) - len(todo):,} of {len(lists):,} queries already scored in {scored_path}")
            if todo:
                if not teacher:
                    info(f"no --teacher given: using {DEFAULT_TEACHER} (the bundled all-MiniLM-L6-v2); a cross-encoder is the usual teacher")
                teachers = [make_teacher(s, tconf, corpus=corpus, llm_levels=llm_levels, query_prefix=query_prefix, doc_prefix=doc_prefix, log=info) for s in specs]
                all_q = [ql.query for ql in lists for _c in ql.candidates]
                all_ids = [c.doc_id for ql in lists for c in ql.candidates]
                all_t = [c.text or "" for ql in lists for c in ql.candidates]
                for t in teachers:
                    t.prepare(all_q, all_ids, all_t)
                with make_progress("pairs") as progress:
                    task = progress.add_task("score", total=sum(len(ql.candidates) for ql in todo) * len(teachers))
                    for rec in score_lists(todo, teachers, ScoreConfig(teacher_combine, chunk, not no_title), on_progress=lambda n: progress.advance(task, n)):
                        if scored_path is None:
                            scored.append(rec)
                        else:
                            writer.write(rec)
        if scored_path is not None:
            by_id = {obj["query_id"]: obj for _n, obj in iter_jsonl(scored_path)}
            scored = [by_id[ql.query_id] for ql in lists if ql.query_id in by_id]

        kept, summary = apply_filters(scored, filters)
        summary["pairs_scored"] = npairs
        records = [output_record(s, specs) for s in kept]
        write_jsonl(records, out)
        removed = ", ".join(f"{k}: {v:,}" for k, v in summary["removed"].items()) or "none"
        info(f"{summary['queries_in']:,} queries in, {summary['queries_out']:,} out; removed by filter: {removed}")
        if summary["queries_in"] and not summary["queries_out"]:
            info("warning: no query survived the filters; the output is empty (loosen --require-source-* or --drop-bottom-pct)")
        if out is not None:
            manifest = make_manifest(
                "score",
                model=[t.info() for t in teachers] or specs,
                config={**key, "filters": filters.__dict__, "seed": seed},
                summary=summary,
            )
            write_manifest(manifest, manifest_path_for(out))
            info(f"wrote {len(records):,} training lists to {out}")


class _NullWriter:
    """Stands in for the resumable writer when results go to stdout (nothing to resume)."""

    done_keys: set[str] = set()

    def __enter__(self) -> _NullWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, record: object) -> None:  # pragma: no cover - never called
        raise AssertionError



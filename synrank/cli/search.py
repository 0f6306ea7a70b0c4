"""`synrank search`: candidate lists for queries from a dense index or BM25."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import DeviceOpt, DtypeOpt, ThreadsOpt, TrustOpt, info

TREC_SUFFIXES = (".trec", ".run")


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search_cmd(
        source: Annotated[
            str,
            typer.Argument(
                help="A `synrank index` folder (dense search), or with --bm25 a corpus: BEIR folder, JSONL/TSV file or '-'."
            ),
        ],
        queries: Annotated[
            str,
            typer.Argument(
                help="Queries: TSV (qid<TAB>text), JSONL (e.g. `generate --task queries` output, source_doc_id is kept) or a BEIR folder."
            ),
        ],
        k: Annotated[int, typer.Option("--k", "-k", help="Candidates per query.")] = 100,
        bm25: Annotated[bool, typer.Option("--bm25", help="Search SOURCE (a corpus) with BM25 instead of a dense index.")] = False,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Output file; JSONL is appended per query and resumable. Default: JSONL on stdout."),
        ] = None,
        fmt: Annotated[
            str,
            typer.Option("--format", help="jsonl (candidate records), trec (TREC run), or auto: trec when --out ends in .trec/.run."),
        ] = "auto",
        chunk: Annotated[int, typer.Option("--chunk", help="Queries searched (and appended to --out) together.")] = 256,
        model: Annotated[
            str | None, typer.Option("--model", "-m", help="Dense: query encoder overriding the index's own model (rarely needed).")
        ] = None,
        query_prefix: Annotated[str, typer.Option("--query-prefix", help="Dense: prefix added to every query (e.g. 'query: ' for e5).")] = "",
        nprobe: Annotated[int, typer.Option("--nprobe", help="Dense: IVF cells visited per query; 0 = the index's setting.")] = 0,
        ef_search: Annotated[int, typer.Option("--ef-search", help="Dense: HNSW search depth; 0 = the index's setting.")] = 0,
        batch_tokens: Annotated[int, typer.Option("--batch-tokens", help="Dense: token budget per encoding batch.")] = 16384,
        k1: Annotated[float, typer.Option("--k1", help="BM25 term-frequency saturation (Anserini default).")] = 0.9,
        b: Annotated[float, typer.Option("--b", help="BM25 length normalisation (Anserini default).")] = 0.4,
        stemmer: Annotated[str, typer.Option("--stemmer", help="BM25: Snowball stemmer language (PyStemmer), or none.")] = "english",
        stopwords: Annotated[str, typer.Option("--stopwords", help="BM25: stopword list, en or none.")] = "en",
        no_title: Annotated[bool, typer.Option("--no-title", help="BM25: index only the text, not 'title + \" \" + text'.")] = False,
        cache_dir: Annotated[
            Path | None,
            typer.Option("--cache-dir", help="BM25: where to cache the index. Default: next to the corpus if writable, else ~/.cache/synrank/bm25."),
        ] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="BM25: build in memory, neither read nor write a cache.")] = False,
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "auto",
        threads: ThreadsOpt = 0,
        trust_remote_code: TrustOpt = False,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over: replace an existing --out instead of resuming it.")] = False,
    ) -> None:
        """Retrieve the top K candidates per query from a dense index or with BM25.

        Writes one JSON record per query, {"query_id", "query", "candidates": [{"doc_id", "score", "rank"}],
        "source_doc_id"?}, or a TREC run. With --out (JSONL) the run is resumable: re-run the same command
        after an interruption and finished queries are skipped.
        """
        from synrank.errors import ConfigError
        from synrank.formats.io import AppendJsonlWriter
        from synrank.formats.manifest import make_manifest, manifest_path_for, write_manifest
        from synrank.formats.runs import write_trec_run
        from synrank.runtime.progress import make_progress
        from synrank.runtime.seeding import set_threads
        from synrank.search.records import candidate_record, read_query_records

        if out is not None and str(out) == "-":
            out = None
        if k <= 0:
            raise ConfigError("--k must be positive")
        if chunk <= 0:
            raise ConfigError("--chunk must be positive")
        if fmt not in ("auto", "jsonl", "trec"):
            raise ConfigError(f"unknown --format {fmt!r} (auto, jsonl, trec)")
        if fmt == "auto":
            fmt = "trec" if out is not None and out.suffix in TREC_SUFFIXES else "jsonl"
        if fmt == "trec" and out is None:
            raise ConfigError("--format trec needs --out FILE")
        if str(queries) == "-" and str(source) == "-":
            raise ConfigError("only one of the corpus and the queries can be read from stdin")
        set_threads(threads)

        qrecs = read_query_records(queries)
        if bm25:
            from synrank.search.bm25 import BM25Config, load_or_build_bm25

            bconf = BM25Config(k1=k1, b=b, stemmer=stemmer, stopwords=stopwords, use_title=not no_title)
            searcher = load_or_build_bm25(source, bconf, cache_root=cache_dir, use_cache=not no_cache, log=info)
            engine = {"kind": "bm25", "library": "bm25s", "corpus": str(source), "config": bconf.__dict__, "cache": str(searcher.path) if searcher.path else None}
        else:
            from synrank.index.encoder import EncoderConfig
            from synrank.search.dense import DenseSearcher

            econf = EncoderConfig(device=device, dtype=dtype, max_tokens=batch_tokens, trust_remote_code=trust_remote_code)
            searcher = DenseSearcher(source, model=model, encoder_config=econf, query_prefix=query_prefix, nprobe=nprobe or None, ef_search=ef_search or None)
            engine = {"kind": "dense", **searcher.info()}

        manifest = make_manifest("search", model=engine, config={"k": k, "format": fmt, "queries": str(queries)})
        todo = qrecs
        if fmt == "trec":
            assert out is not None
            run: dict[str, list[tuple[str, float]]] = {}
            with make_progress("queries") as progress:
                task = progress.add_task("search", total=len(todo))
                for start in range(0, len(todo), chunk):
                    part = todo[start : start + chunk]
                    for q, hits in zip(part, searcher.search([q.text for q in part], k)):
                        run[q.query_id] = hits
                    progress.advance(task, len(part))
            write_trec_run(run, out, tag="synrank-" + engine["kind"])
        else:
            if out is not None and out.exists():
                # Resume only what the same engine and settings wrote: the manifest is written before searching.
                mpath = manifest_path_for(out)
                same = False
                if mpath.exists():
                    with contextlib.suppress(ValueError, OSError):
                        old = json.loads(mpath.read_text(encoding="utf-8"))
                        same = json.loads(json.dumps([old.get("model"), old.get("config")], default=str)) == json.loads(json.dumps([manifest["model"], manifest["config"]], default=str))
                if overwrite or not same:
                    info(f"--overwrite: starting {out} over" if overwrite else f"discarding {out} (written by another engine or settings)")
                    out.unlink()
            if out is not None:
                write_manifest(manifest, manifest_path_for(out))
            with AppendJsonlWriter(out, key=lambda r: str(r.get("query_id")), fsync_every=chunk) as writer:
                todo = [q for q in qrecs if q.query_id not in writer.done_keys]
                if out is not None and len(todo) < len(qrecs):
                    info(f"resuming: {len(qrecs) - len(todo):,} of {len(qrecs):,} queries already in {out}")
                with make_progress("queries") as progress:
                    task = progress.add_task("search", total=len(todo))
                    for start in range(0, len(todo), chunk):
                        part = todo[start : start + chunk]
                        for q, hits in zip(part, searcher.search([q.text for q in part], k)):
                            writer.write(candidate_record(q, hits))
                        progress.advance(task, len(part))
        if out is not None:
            manifest["queries"] = len(qrecs)
            write_manifest(manifest, manifest_path_for(out))
            info(f"wrote candidates for {len(qrecs):,} queries to {out}")

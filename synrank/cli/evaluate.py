"""`synrank eval`: search an index with evaluation queries and compute metrics with pytrec_eval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import DeviceOpt, DtypeOpt, SeedOpt, ThreadsOpt, TrustOpt, info


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        index: Annotated[Path, typer.Argument(help="Index folder written by `synrank index`.")],
        dataset: Annotated[
            str | None,
            typer.Option("--dataset", "-d", help="BEIR folder (queries.jsonl, qrels/<split>.tsv) or ir_datasets id (e.g. beir/scifact/test)."),
        ] = None,
        split: Annotated[str, typer.Option("--split", help="Qrels split of a BEIR folder.")] = "test",
        queries: Annotated[str | None, typer.Option("--queries", help="Queries file (TSV qid<TAB>text, JSONL, BEIR queries.jsonl).")] = None,
        qrels: Annotated[str | None, typer.Option("--qrels", help="Qrels file (TREC, BEIR TSV or JSONL).")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="results.json: aggregate and per-query metrics plus manifest.")] = None,
        run_out: Annotated[Path | None, typer.Option("--run-out", help="Write the retrieval run in TREC format.")] = None,
        metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated metrics: nDCG@k, R@k, P@k, RR, RR@k, AP, AP@k.")] = "nDCG@10,R@100,RR@10,AP",
        k: Annotated[int, typer.Option("--k", help="Documents retrieved per query (the run depth).")] = 1000,
        rel_level: Annotated[
            int, typer.Option("--rel-level", help="Minimum grade counted relevant by binary metrics (R, P, RR, AP); TREC DL uses 2.")
        ] = 1,
        model: Annotated[str | None, typer.Option("--model", "-m", help="Query encoder; default: the model recorded in the index manifest.")] = None,
        query_prefix: Annotated[str, typer.Option("--query-prefix", help="Prefix added to every query (e.g. 'query: ' for e5).")] = "",
        nprobe: Annotated[int, typer.Option("--nprobe", help="IVF indexes: inverted lists visited per query; 0 = index default.")] = 0,
        ef_search: Annotated[int, typer.Option("--ef-search", help="HNSW indexes: search breadth; 0 = index default.")] = 0,
        run_tag: Annotated[str, typer.Option("--run-tag", help="Tag in the last column of the TREC run.")] = "synrank",
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "auto",
        threads: ThreadsOpt = 0,
        seed: SeedOpt = 42,
        trust_remote_code: TrustOpt = False,
    ) -> None:
        """Evaluate a dense index on judged queries: search, write the TREC run, compute metrics (pytrec_eval).

        Averages are over every judged query (queries without results count 0). Graded qrels give graded nDCG.
        """
        from synrank.evaluate.datasets import load_eval_data
        from synrank.evaluate.metrics import evaluate_run, parse_metrics, queries_without_relevant
        from synrank.evaluate.report import metrics_table, print_table, results_record
        from synrank.formats.io import atomic_write
        from synrank.formats.manifest import make_manifest
        from synrank.formats.runs import write_trec_run
        from synrank.index.encoder import EncoderConfig
        from synrank.index.store import DenseIndex
        from synrank.runtime.seeding import set_seed, set_threads

        parse_metrics(metrics)  # fail on a typo before any work
        if k <= 0:
            from synrank.errors import ConfigError

            raise ConfigError("--k must be positive")
        set_seed(seed)
        set_threads(threads)
        data = load_eval_data(dataset, split, queries, qrels)
        idx = DenseIndex.load(index)
        idx.set_search_params(nprobe=nprobe or None, ef_search=ef_search or None)
        encoder = idx.encoder(model, EncoderConfig(device=device, dtype=dtype, trust_remote_code=trust_remote_code))
        qids = list(data.queries)
        info(f"searching {len(qids)} queries of {data.name} in {index} (k={k}, model {encoder.model_name})")
        results = idx.search([data.queries[q] for q in qids], k, query_prefix=query_prefix, encoder=encoder)
        run = {q: dict(r) for q, r in zip(qids, results)}
        aggregate, per_query = evaluate_run(run, data.qrels, metrics, rel_level=rel_level)
        empty = queries_without_relevant(data.qrels, rel_level)
        if empty:
            info(f"note: {len(empty)} judged queries have no document at grade >= {rel_level}; they score 0")
        if run_out:
            write_trec_run(run, run_out, tag=run_tag)
        manifest = make_manifest(
            "eval",
            model=encoder.info(),
            config={"k": k, "metrics": metrics, "rel_level": rel_level, "query_prefix": query_prefix, "nprobe": nprobe, "ef_search": ef_search},
            dataset={"name": data.name, **data.source},
            index={"path": str(index), "manifest": idx.manifest},
            run=str(run_out) if run_out else None,
        )
        record = results_record(aggregate, per_query, manifest, dataset=data.name)
        if out:
            with atomic_write(out) as fh:
                json.dump(record, fh, indent=1)
                fh.write("\n")
        print_table(metrics_table(f"{data.name} — {encoder.model_name}", aggregate, len(per_query)))
        if not out:
            typer.echo(json.dumps({"aggregate": aggregate, "num_queries": len(per_query), "dataset": data.name}))

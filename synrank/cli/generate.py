"""`synrank generate`: graded synthetic documents (SyCL) or diverse synthetic queries with an LLM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import DeviceOpt, DtypeOpt, SeedOpt, ThreadsOpt, TrustOpt

def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate_cmd(
        inputs: Annotated[
            list[str] | None,
            typer.Argument(
                help="Input: queries (TSV/JSONL/BEIR folder) for --task docs, a corpus (BEIR folder/JSONL/TSV) for "
                "--task queries, '-' for stdin; with --merge, the shard outputs to join.",
                show_default=False,
            ),
        ] = None,
        task: Annotated[str, typer.Option("--task", help="docs: graded passages per query (SyCL); queries: synthetic queries per passage.")] = "docs",
        levels: Annotated[int, typer.Option("--levels", help="Relevance levels per query (levels-1 .. 0); 4 follows the TREC DL scale.")] = 4,
        docs_per_level: Annotated[int, typer.Option("--docs-per-level", help="Passages generated per level and query.")] = 1,
        level_definitions: Annotated[
            Path | None,
            typer.Option("--level-definitions", help="File overriding what each level means: JSON {\"3\": \"...\"} or LEVEL<TAB>text lines."),
        ] = None,
        types: Annotated[
            str, typer.Option("--types", help="Query types for --task queries, comma-separated (add your own with --template TYPE=FILE).")
        ] = "question,claim,keywords,title,search",
        per_doc: Annotated[int, typer.Option("--per-doc", help="Queries per type and passage (--task queries).")] = 1,
        examples: Annotated[
            Path | None,
            typer.Option("--examples", help="Few-shot examples, JSONL {\"passage\", \"query\", optional \"type\"}, sampled per prompt."),
        ] = None,
        num_examples: Annotated[int, typer.Option("--num-examples", help="Few-shot examples shown per prompt (with --examples).")] = 3,
        template: Annotated[
            list[str] | None,
            typer.Option(
                "--template",
                help="Prompt template file replacing the packaged one; for --task queries use TYPE=FILE (repeatable).",
                show_default=False,
            ),
        ] = None,
        list_templates: Annotated[bool, typer.Option("--list-templates", help="List the packaged templates and exit.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the prompts of the first input and exit (no model is loaded).")] = False,
        model: Annotated[
            str, typer.Option("--model", "-m", help="LLM: alias (smollm2), local folder, .gguf file, hub id, or the served model name (openai).")
        ] = "smollm2",
        backend: Annotated[
            str, typer.Option("--backend", help="auto (vllm if installed and a GPU is visible, else llamacpp for a GGUF model, else transformers), transformers, vllm, openai, llamacpp.")
        ] = "auto",
        temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature; 0 = greedy.")] = 0.7,
        top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling probability mass.")] = 0.95,
        max_new_tokens: Annotated[
            int, typer.Option("--max-new-tokens", help="Token limit per answer; 0 = per task (docs 200, queries 64).")
        ] = 0,
        max_retries: Annotated[
            int, typer.Option("--max-retries", help="Re-asks (new seed) for an unparseable, empty or duplicate answer before rejecting it.")
        ] = 2,
        dedup_threshold: Annotated[
            float,
            typer.Option("--dedup-threshold", help="Similarity (difflib ratio on normalised text) at which two texts of one input are duplicates; 1 = exact only."),
        ] = 0.9,
        min_words: Annotated[
            int, typer.Option("--min-words", help="Shorter answers are rejected (and retried); -1 = per task (docs 10, queries 1).")
        ] = -1,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Output JSONL, appended record by record; re-running resumes. Default: stdout.")
        ] = None,
        rejects: Annotated[
            Path | None, typer.Option("--rejects", help="Where rejected answers go (raw text + reasons). Default: <out>.rejects.jsonl.")
        ] = None,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over: delete an existing --out (and its rejects) instead of resuming.")] = False,
        shard: Annotated[
            str | None, typer.Option("--shard", help="Process only shard I of N (I/N, I from 0), a deterministic split by input id.")
        ] = None,
        merge: Annotated[bool, typer.Option("--merge", help="Join the shard outputs given as inputs (checks duplicates) and exit.")] = False,
        limit: Annotated[int, typer.Option("--limit", help="Use only the first N inputs (0 = all).")] = 0,
        chunk_size: Annotated[
            int, typer.Option("--chunk-size", help="Prompts sent to the backend together (resume granularity); 0 = per backend.")
        ] = 0,
        batch_size: Annotated[int, typer.Option("--batch-size", help="transformers: most prompts in one generate call.")] = 64,
        batch_tokens: Annotated[
            int, typer.Option("--batch-tokens", help="transformers: token budget per call, batch x (prompt + max new tokens).")
        ] = 65536,
        tensor_parallel_size: Annotated[int, typer.Option("--tensor-parallel-size", help="vllm: GPUs one model is split over.")] = 1,
        data_parallel_size: Annotated[
            int, typer.Option("--data-parallel-size", help="vllm: model replicas (each on tensor-parallel-size GPUs) sharing the work.")
        ] = 1,
        gpu_memory_utilization: Annotated[float, typer.Option("--gpu-memory-utilization", help="vllm: fraction of GPU memory to use.")] = 0.9,
        max_model_len: Annotated[int, typer.Option("--max-model-len", help="vllm: context length; 0 = the model's.")] = 0,
        base_url: Annotated[
            str | None, typer.Option("--base-url", help="openai: server URL ending in /v1, e.g. http://127.0.0.1:8000/v1.")
        ] = None,
        api_key_env: Annotated[
            str, typer.Option("--api-key-env", help="openai: name of the environment variable holding the API key (never logged).")
        ] = "OPENAI_API_KEY",
        concurrency: Annotated[int, typer.Option("--concurrency", help="openai: requests in flight.")] = 8,
        http_retries: Annotated[
            int, typer.Option("--http-retries", help="openai: attempts per request on 429/5xx/connection errors, with back-off.")
        ] = 5,
        prefill: Annotated[
            bool,
            typer.Option(
                "--prefill",
                help="openai: send the template's response prefix as an assistant turn to continue (llama.cpp server, vLLM); "
                "small models then keep to the JSON format.",
            ),
        ] = False,
        slots: Annotated[
            int, typer.Option("--slots", help="llamacpp: sequences decoded together (continuous batching); 4 suits 2-8 CPU cores.")
        ] = 4,
        ctx_size: Annotated[
            int, typer.Option("--ctx-size", help="llamacpp: context tokens over all slots; 0 = 2048 per slot.")
        ] = 0,
        device: DeviceOpt = "auto",
        dtype: DtypeOpt = "auto",
        threads: ThreadsOpt = 0,
        seed: SeedOpt = 42,
        trust_remote_code: TrustOpt = False,
    ) -> None:
        """Generate graded synthetic documents (SyCL) or synthetic queries with an LLM.

        --task docs (default): for each query, passages at relevance levels levels-1..0, one JSON record per
        query {query_id, query, documents: [{doc_id, level, text}], meta}. --task queries: for each corpus
        passage, queries of the requested types, one record per query {query_id, text, type, source_doc_id}.
        Long runs: --out appends record by record and resumes; --shard I/N splits a job across machines.
        """
        from synrank.cli.generate_run import GenerateOptions, run_generate, run_list_templates, run_merge

        if list_templates:
            run_list_templates()
            return
        if merge:
            run_merge(inputs or [], out)
            return
        opts = GenerateOptions(**{k: v for k, v in locals().items() if k in GenerateOptions.__dataclass_fields__})
        run_generate(opts)

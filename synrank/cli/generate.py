"""`synrank generate`: graded synthetic documents (SyCL) or diverse synthetic queries with an LLM.

The command only parses options, calls :func:`synrank.generate.run` and prints; the settings' defaults,
help and validation live in :class:`synrank.generate.config.GenerateConfig`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import default_of, opt, uses_config
from synrank.generate.config import GenerateConfig as C


def register(app: typer.Typer) -> None:
    @app.command("generate")
    @uses_config(C)
    def generate_cmd(
        inputs: Annotated[
            list[str] | None,
            typer.Argument(
                help="Input: queries (TSV/JSONL/BEIR folder) for --task docs, a corpus (BEIR folder/JSONL/TSV) for "
                "--task queries, '-' for stdin; with --merge, the shard outputs to join.",
                show_default=False,
            ),
        ] = None,
        task: Annotated[str, opt(C, "task")] = default_of(C, "task"),
        levels: Annotated[int, opt(C, "levels")] = default_of(C, "levels"),
        docs_per_level: Annotated[int, opt(C, "docs_per_level")] = default_of(C, "docs_per_level"),
        level_definitions: Annotated[Path | None, opt(C, "level_definitions")] = default_of(C, "level_definitions"),
        types: Annotated[str, opt(C, "types")] = default_of(C, "types"),
        per_doc: Annotated[int, opt(C, "per_doc")] = default_of(C, "per_doc"),
        examples: Annotated[list[str] | None, opt(C, "examples", show_default=False)] = default_of(C, "examples"),
        num_examples: Annotated[int, opt(C, "num_examples")] = default_of(C, "num_examples"),
        max_passage_tokens: Annotated[int, opt(C, "max_passage_tokens")] = default_of(C, "max_passage_tokens"),
        template: Annotated[list[str] | None, opt(C, "template", show_default=False)] = default_of(C, "template"),
        list_templates: Annotated[bool, typer.Option("--list-templates", help="List the packaged templates and exit.")] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the prompts of the first input and exit (no model is loaded).")
        ] = False,
        model: Annotated[str, opt(C, "model", "--model", "-m")] = default_of(C, "model"),
        backend: Annotated[str, opt(C, "backend")] = default_of(C, "backend"),
        temperature: Annotated[float | None, opt(C, "temperature", show_default=False)] = default_of(C, "temperature"),
        top_p: Annotated[float | None, opt(C, "top_p", show_default=False)] = default_of(C, "top_p"),
        max_new_tokens: Annotated[int, opt(C, "max_new_tokens")] = default_of(C, "max_new_tokens"),
        max_retries: Annotated[int, opt(C, "max_retries")] = default_of(C, "max_retries"),
        dedup_threshold: Annotated[float, opt(C, "dedup_threshold")] = default_of(C, "dedup_threshold"),
        min_words: Annotated[int, opt(C, "min_words")] = default_of(C, "min_words"),
        out: Annotated[Path | None, opt(C, "out", "--out", "-o")] = default_of(C, "out"),
        rejects: Annotated[Path | None, opt(C, "rejects")] = default_of(C, "rejects"),
        overwrite: Annotated[bool, opt(C, "overwrite")] = default_of(C, "overwrite"),
        shard: Annotated[str | None, opt(C, "shard")] = default_of(C, "shard"),
        merge: Annotated[
            bool, typer.Option("--merge", help="Join the shard outputs given as inputs (checks duplicates) and exit.")
        ] = False,
        limit: Annotated[int, opt(C, "limit")] = default_of(C, "limit"),
        chunk_size: Annotated[int, opt(C, "chunk_size")] = default_of(C, "chunk_size"),
        deterministic: Annotated[bool, opt(C, "deterministic")] = default_of(C, "deterministic"),
        batch_size: Annotated[int, opt(C, "batch_size")] = default_of(C, "batch_size"),
        batch_tokens: Annotated[int, opt(C, "batch_tokens")] = default_of(C, "batch_tokens"),
        tensor_parallel_size: Annotated[int, opt(C, "tensor_parallel_size")] = default_of(C, "tensor_parallel_size"),
        data_parallel_size: Annotated[int, opt(C, "data_parallel_size")] = default_of(C, "data_parallel_size"),
        gpu_memory_utilization: Annotated[float, opt(C, "gpu_memory_utilization")] = default_of(C, "gpu_memory_utilization"),
        max_model_len: Annotated[int, opt(C, "max_model_len")] = default_of(C, "max_model_len"),
        base_url: Annotated[str | None, opt(C, "base_url")] = default_of(C, "base_url"),
        api_key_env: Annotated[str, opt(C, "api_key_env")] = default_of(C, "api_key_env"),
        concurrency: Annotated[int, opt(C, "concurrency")] = default_of(C, "concurrency"),
        http_retries: Annotated[int, opt(C, "http_retries")] = default_of(C, "http_retries"),
        prefill: Annotated[bool, opt(C, "prefill")] = default_of(C, "prefill"),
        slots: Annotated[int, opt(C, "slots")] = default_of(C, "slots"),
        ctx_size: Annotated[int, opt(C, "ctx_size")] = default_of(C, "ctx_size"),
        device: Annotated[str, opt(C, "device")] = default_of(C, "device"),
        dtype: Annotated[str, opt(C, "dtype")] = default_of(C, "dtype"),
        threads: Annotated[int, opt(C, "threads")] = default_of(C, "threads"),
        seed: Annotated[int, opt(C, "seed")] = default_of(C, "seed"),
        trust_remote_code: Annotated[bool, opt(C, "trust_remote_code")] = default_of(C, "trust_remote_code"),
    ) -> None:
        """Generate graded synthetic documents (SyCL) or synthetic queries with an LLM.

        --task docs (default): for each query, passages at relevance levels levels-1..0, one JSON record per
        query {query_id, query, documents: [{doc_id, level, text}], meta}. --task queries: for each corpus
        passage, queries of the requested types, one record per query {query_id, text, type, source_doc_id}.
        Long runs: --out appends record by record and resumes; --shard I/N splits a job across machines.
        """
        from synrank.config import from_mapping
        from synrank.errors import ConfigError
        from synrank.generate import runner
        from synrank.generate.templates import list_templates as packaged_templates

        if list_templates:
            for t in packaged_templates():
                kind = f"{t.task}" + (f" ({t.query_type})" if t.query_type else "")
                typer.echo(f"{t.name:<20} {kind:<20} {t.description}")
            return
        if merge:
            n = runner.merge(list(inputs or []), out)
            info(f"merged {n} records from {len(inputs or [])} files" + (f" into {out}" if out else ""))
            return
        if inputs and len(inputs) > 1:
            raise ConfigError("give one input file (several files are only for --merge)")
        cfg = from_mapping(C, locals(), input=inputs[0] if inputs else None)
        if dry_run:
            for slot, req in runner.preview(cfg):
                typer.echo(f"===== {slot.slot_id} (template {slot.template.source}, output {slot.template.output})")
                for m in req.messages:
                    typer.echo(f"--- {m['role']}\n{m['content']}")
                if req.prefix:
                    typer.echo(f"--- assistant (response prefix)\n{req.prefix}")
            return
        result = runner.run(cfg, info=info)
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(result.reject_reasons.items()))
        info(
            f"generated {result.accepted} {result.output_noun}, "
            f"rejected {result.rejected} after {cfg.max_retries} retries"
            + (f" ({reasons}; see {result.rejects})" if result.rejects and result.rejected else "")
            + f"; {result.completion_tokens} tokens in {result.generate_seconds:.1f}s ({result.tokens_per_second:.1f} tokens/s)"
            + (f"; {result.cached_prompt_tokens / result.prompt_tokens:.0%} of prompt tokens reused from the engine's cache"
               if result.prompt_tokens and result.cached_prompt_tokens else "")
        )

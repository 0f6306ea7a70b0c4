"""`synrank generate`: graded synthetic documents (SyCL) or diverse synthetic queries with an LLM.

The command only parses options, calls :func:`synrank.generate.run` and prints; the settings' defaults,
help and validation live in :class:`synrank.generate.config.GenerateConfig`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.generate.config import GenerateConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "generate", GenerateConfig, exclude=("input",))
    def generate_cmd(
        settings: dict[str, Any],
        inputs: Annotated[
            list[str] | None,
            typer.Argument(
                help="Input: queries (TSV/JSONL/BEIR folder) for --task docs, a corpus (BEIR folder/JSONL/TSV) for "
                "--task queries, '-' for stdin; with --merge, the shard outputs to join.",
                show_default=False,
            ),
        ] = None,
        list_templates: Annotated[bool, typer.Option("--list-templates", help="List the packaged templates and exit.")] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the prompts of the first input and exit (no model is loaded).")
        ] = False,
        merge: Annotated[
            bool, typer.Option("--merge", help="Join the shard outputs given as inputs (checks duplicates) and exit.")
        ] = False,
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
            n = runner.merge(list(inputs or []), settings["out"])
            info(f"merged {n} records from {len(inputs or [])} files" + (f" into {settings['out']}" if settings["out"] else ""))
            return
        if inputs and len(inputs) > 1:
            raise ConfigError("give one input file (several files are only for --merge)")
        cfg = from_mapping(GenerateConfig, settings, input=inputs[0] if inputs else None)
        if dry_run:
            for slot, req in runner.preview(cfg):
                typer.echo(f"===== {slot.slot_id} (template {slot.template.source}, output {slot.template.output})")
                for m in req.messages:
                    typer.echo(f"--- {m['role']}\n{m['content']}")
                if req.prefix:
                    typer.echo(f"--- assistant (response prefix)\n{req.prefix}")
            return
        result = runner.run(cfg, progress=True)
        info(result.line(cfg.max_retries))

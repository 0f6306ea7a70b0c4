"""`synrank check`: read every input once with the stages' own readers and print what they hold."""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.formats.check import CheckConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "check", CheckConfig)
    def check_cmd(settings: dict[str, Any]) -> None:
        """Check input files before a long run: every line is parsed as the stages parse it.

        Exits 2 at the first bad line (FILE:LINE: problem); otherwise prints one line per file with its
        counts, and notes judged documents or queries that the corpus or query files lack.
        Example: `synrank check data/scifact --split test --queries my-queries.tsv`.
        """
        from synrank.formats.check import check_inputs

        result = check_inputs(from_mapping(CheckConfig, settings))
        for line in result.lines():
            typer.echo(line)
        info("inputs OK")

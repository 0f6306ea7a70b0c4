"""`synrank score`: score candidate lists with teachers and apply the distillation filters.

The work is :func:`synrank.score.run`; defaults, help and checks come from :class:`synrank.score.ScoreConfig`.
"""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.score.stage import ScoreConfig


def register(app: typer.Typer) -> None:
    @config_command(app, "score", ScoreConfig)
    def score_cmd(settings: dict[str, Any]) -> None:
        """Score candidate lists with one or more teachers and write training lists.

        Fuses the inputs per query, fetches passage texts from --corpus, scores every (query, passage) pair,
        applies the optional filters of listwise distillation (CADeT's reference semantics by default) and
        prints how many queries each removed.
        Output records: {"query_id", "query", "candidates": [{"doc_id", "text", "score", "label"?}], "meta"}.
        """
        from synrank.config import from_mapping
        from synrank.score.stage import run

        result = run(from_mapping(ScoreConfig, settings), progress=True)
        for line in result.lines():
            info(line)

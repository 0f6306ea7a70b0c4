"""`synrank compare`: compare retrieval systems with paired significance tests (over ``synrank.compare.run``)."""

from __future__ import annotations

from typing import Any

import typer

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.compare.stage import CompareConfig
from synrank.config import from_mapping


def register(app: typer.Typer) -> None:
    @config_command(app, "compare", CompareConfig)
    def compare_cmd(settings: dict[str, Any]) -> None:
        """Compare systems with paired significance tests (per query), corrected for multiple comparisons.

        Rows are systems, columns metrics: mean, difference to the baseline with a bootstrap CI, p-value, significance mark and win/tie/loss counts. Queries a system lacks count 0 (reported) unless --intersect.
        """
        from synrank.compare.stage import run

        cfg = from_mapping(CompareConfig, settings)
        report = run(cfg, progress=True)
        if cfg.out is not None:
            return
        if cfg.format != "rich":
            typer.echo(report.render(cfg.format), nl=False)
            return
        from rich.console import Console

        table = report.rich_table()
        console = Console()
        if not console.is_terminal:
            # Piped or redirected: wide enough that no cell is cut, no colour codes in files.
            natural = Console(width=1000).measure(table).maximum  # measured unconstrained by the 80-column default
            console = Console(width=max(100, natural + 2), color_system=None)
        console.print(table)

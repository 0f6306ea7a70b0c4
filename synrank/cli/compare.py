"""`synrank compare`: compare retrieval systems with paired significance tests (over ``synrank.compare.run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info
from synrank.cli.options import default_of, opt, uses_config
from synrank.compare.stage import CompareConfig as C
from synrank.config import from_mapping, help_of
from synrank.errors import ConfigError

# Settings whose flag is not their name: errors about them must show the flag the user typed.
FLAGS = {"resamples": "bootstrap", "confidence": "ci"}


def register(app: typer.Typer) -> None:
    @app.command("compare")
    @uses_config(C)
    def compare_cmd(
        inputs: Annotated[list[str], typer.Argument(help=help_of(C, "inputs"), show_default=False, metavar="FILE")],
        baseline: Annotated[str | None, opt(C, "baseline", "--baseline", "-b")] = default_of(C, "baseline"),
        name: Annotated[list[str] | None, opt(C, "name", "--name", "-n")] = default_of(C, "name"),
        qrels: Annotated[str | None, opt(C, "qrels")] = default_of(C, "qrels"),
        metrics: Annotated[str | None, opt(C, "metrics", "--metrics", "-m")] = default_of(C, "metrics"),
        rel_level: Annotated[int, opt(C, "rel_level")] = default_of(C, "rel_level"),
        intersect: Annotated[bool, opt(C, "intersect")] = default_of(C, "intersect"),
        test: Annotated[str, opt(C, "test", "--test", "-t")] = default_of(C, "test"),
        permutations: Annotated[int, opt(C, "permutations")] = default_of(C, "permutations"),
        resamples: Annotated[int, opt(C, "resamples", "--bootstrap")] = default_of(C, "resamples"),
        confidence: Annotated[float, opt(C, "confidence", "--ci")] = default_of(C, "confidence"),
        correction: Annotated[str, opt(C, "correction", "--correction", "-c")] = default_of(C, "correction"),
        alpha: Annotated[float, opt(C, "alpha")] = default_of(C, "alpha"),
        format: Annotated[str, opt(C, "format", "--format", "-f")] = default_of(C, "format"),  # noqa: A002 - the --format option
        out: Annotated[Path | None, opt(C, "out", "--out", "-o")] = default_of(C, "out"),
        plot: Annotated[Path | None, opt(C, "plot")] = default_of(C, "plot"),
        plot_dist: Annotated[Path | None, opt(C, "plot_dist")] = default_of(C, "plot_dist"),
        seed: Annotated[int, opt(C, "seed")] = default_of(C, "seed"),
    ) -> None:
        """Compare systems with paired significance tests (per query), corrected for multiple comparisons.

        Rows are systems, columns metrics: mean, difference to the baseline with a bootstrap CI, p-value, significance mark and win/tie/loss counts. Queries a system lacks count 0 (reported) unless --intersect.
        """
        from synrank.compare.stage import run

        try:
            cfg = from_mapping(C, locals())
            report = run(cfg, info=info)
        except ConfigError as exc:
            exc.setting = FLAGS.get(exc.setting or "", exc.setting)
            raise
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

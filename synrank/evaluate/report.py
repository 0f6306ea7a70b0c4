"""The results file of `synrank eval` and its Rich table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def results_record(
    aggregate: Mapping[str, float], per_query: Mapping[str, Mapping[str, float]], manifest: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"aggregate": dict(aggregate), "num_queries": len(per_query), **extra, "per_query": dict(per_query), "manifest": manifest}


def metrics_table(title: str, aggregate: Mapping[str, float], num_queries: int) -> Table:
    table = Table(title=title)
    table.add_column("queries", justify="right")
    for name in aggregate:
        table.add_column(name, justify="right")
    table.add_row(str(num_queries), *(f"{v:.4f}" for v in aggregate.values()))
    return table


def print_table(table: Table, console: Console | None = None) -> None:
    (console or Console(stderr=True)).print(table)

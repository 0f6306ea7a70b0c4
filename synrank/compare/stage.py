"""The `compare` stage: read systems, run the paired tests once, and render the report many ways.

As in ranx (``compare()`` returns a ``Report`` that prints itself as a table, LaTeX or a dict), the work is
split in two: :func:`run` reads the inputs and computes a :class:`CompareReport` once; the report renders
itself as a Rich table, Markdown, LaTeX, CSV, JSON or plots (``synrank.compare.tables``/``plots``) and saves
any of them with a manifest. ``synrank compare`` is a thin command over both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synrank.compare.settings import Settings
from synrank.config import setting, setting_from
from synrank.errors import ConfigError

if TYPE_CHECKING:
    from synrank.runtime.progress import ProgressArg

FORMAT_ALIASES = {"md": "markdown", "tex": "latex", "table": "rich"}
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _choice(value: str, allowed: tuple[str, ...], setting_name: str, aliases: dict[str, str] | None = None) -> str:
    key = value.strip().lower()
    key = (aliases or {}).get(key, key)
    if key not in allowed:
        raise ConfigError(f"{value!r} is not one of: {', '.join(allowed)}", setting=setting_name)
    return key


@dataclass
class CompareConfig:
    inputs: list[str] = setting(
        help="Two or more `synrank eval` results JSON files, or runs (then give --qrels): TREC files, or `synrank search` / "
        "`score` JSONL (a teacher's order of the lists); - reads one results file from stdin.",
        positional=True, metavar="FILE",
    )
    baseline: str | None = setting(
        None, help="Input file or system name every other system is tested against; default: the first input.",
        short="-b",
    )
    name: list[str] | None = setting(
        None, help="System names in input order (repeat, or comma-separate); default: file stems.",
        short="-n",
    )
    qrels: str | None = setting(None, help="Qrels (TREC, BEIR TSV or JSONL) to score run inputs with.")
    metrics: str | None = setting(
        None, help="Comma-separated metrics; default: those of the first results file, or nDCG@10,R@100,RR@10,AP for runs.",
        short="-m",
    )
    rel_level: int = setting(1, help="Runs: minimum grade counted relevant by binary metrics (TREC DL uses 2).")
    intersect: bool = setting(
        False, help="Compare only on queries every system answered (default: a missing query counts 0)."
    )
    test: str = setting_from(Settings, "test", short="-t")
    permutations: int = setting_from(Settings, "permutations")
    resamples: int = setting_from(Settings, "resamples", flag="--bootstrap")
    confidence: float = setting_from(Settings, "confidence", flag="--ci")
    correction: str = setting_from(Settings, "correction", short="-c")
    alpha: float = setting_from(Settings, "alpha")
    format: str = setting("rich", help="Output: rich (table), markdown, latex, csv, json.", short="-f")
    out: Path | None = setting(None, help="Write the table to this file (atomically, with a manifest) instead of stdout.", short="-o")
    plot: Path | None = setting(
        None, help="Write sorted per-query deltas vs the baseline, one panel per metric (.png, .pdf, .svg)."
    )
    plot_dist: Path | None = setting(
        None, help="Write per-query metric distributions of every system (.png, .pdf, .svg)."
    )
    seed: int = setting_from(Settings, "seed")

    def __post_init__(self) -> None:
        """Options first: a typo fails before any file is read."""
        from synrank.compare.correction import CORRECTIONS
        from synrank.compare.stats import TEST_ALIASES, TESTS
        from synrank.compare.tables import FORMATS

        self.inputs = [str(p) for p in self.inputs]
        self.test = _choice(self.test, TESTS, "test", TEST_ALIASES)
        self.correction = _choice(self.correction, CORRECTIONS, "correction")
        self.format = _choice(self.format, FORMATS, "format", FORMAT_ALIASES)
        if len(self.inputs) < 2:
            raise ConfigError(
                f"compare needs at least two systems, got {len(self.inputs)} ({', '.join(self.inputs) or 'none'})", setting="inputs"
            )
        if self.inputs.count("-") > 1:
            raise ConfigError("stdin (-) can be only one of the inputs", setting="inputs")
        for name in ("permutations", "resamples"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be at least 1, got {getattr(self, name)}", setting=name)
        for name in ("alpha", "confidence"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"must be between 0 and 1, got {getattr(self, name)}", setting=name)
        self.out, self.plot, self.plot_dist = (None if p is None else Path(p) for p in (self.out, self.plot, self.plot_dist))
        for name in ("plot", "plot_dist"):
            p = getattr(self, name)
            if p is not None and p.suffix.lower() not in PLOT_SUFFIXES:
                raise ConfigError(f"{p}: use a {', '.join(PLOT_SUFFIXES)} file name", setting=name)
        resolved = self.resolved_inputs
        for i, r in enumerate(resolved):
            if resolved.index(r) != i:
                raise ConfigError(f"{self.inputs[i]} is given twice: each system must be a different file", setting="inputs")
        outputs = [p.absolute() for p in (self.out, self.plot, self.plot_dist) if p is not None]
        if len(set(outputs)) < len(outputs):
            raise ConfigError("out, plot and plot_dist must be different files", setting="out")
        names = self.system_names
        if names and len(names) != len(self.inputs):
            raise ConfigError(f"got {len(names)} names for {len(self.inputs)} inputs", setting="name")
        if self.metrics is not None and not self.wanted_metrics:
            raise ConfigError("is empty", setting="metrics")

    @property
    def resolved_inputs(self) -> list[str]:
        return [str(Path(p).resolve()) if p != "-" else "-" for p in self.inputs]

    @property
    def system_names(self) -> list[str]:
        """The names given (each entry may hold several, comma-separated); empty when none were."""
        return [n.strip() for v in (self.name or []) for n in v.split(",") if n.strip()]

    @property
    def wanted_metrics(self) -> list[str] | None:
        return [m.strip() for m in self.metrics.split(",") if m.strip()] if self.metrics else None


@dataclass
class CompareReport:
    """Every system against the baseline on every metric, computed once; render it as often as needed."""

    comparison: Any  # synrank.compare.analysis.Comparison: cells, per-query scores, settings
    inputs: list[dict[str, Any]]  # one summary per system (name, path, kind, dataset), baseline first
    manifest: dict[str, Any] = field(repr=False)

    @property
    def baseline(self) -> str:
        return str(self.comparison.baseline)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: the comparison, the inputs and the manifest."""
        return {**self.comparison.to_dict(), "inputs": self.inputs, "manifest": self.manifest}

    def rich_table(self) -> Any:
        from synrank.compare.tables import rich_table

        return rich_table(self.comparison)

    def render(self, fmt: str) -> str:
        """The report as text: ``markdown``, ``latex``, ``csv``, ``json``, or ``rich`` (the table, uncoloured)."""
        from synrank.compare.tables import FORMATS, render

        fmt = _choice(fmt, FORMATS, "format", FORMAT_ALIASES)
        if fmt == "rich":
            import io

            from rich.console import Console

            buf = io.StringIO()
            Console(file=buf, width=200, color_system=None).print(self.rich_table())
            return buf.getvalue()
        extra = {"inputs": self.inputs, "manifest": self.manifest} if fmt == "json" else None
        return render(self.comparison, fmt, extra)

    @property
    def input_paths(self) -> list[str]:
        """Files the report was computed from (never to be overwritten by its outputs)."""
        return [s["path"] for s in self.inputs] + ([self.manifest["config"]["qrels"]] if self.manifest["config"].get("qrels") else [])

    def save(self, path: str | Path, fmt: str = "rich") -> Path:
        """Write :meth:`render` atomically to ``path``, with ``PATH.manifest.json`` beside it."""
        from synrank.formats.outputs import guarded_output

        text = self.render(fmt)
        with guarded_output(path, inputs=self.input_paths, kind="file") as target:
            target.path.write_text(text, encoding="utf-8")
            target.manifest = self.manifest
        return Path(path)

    def plot(self, path: str | Path, kind: str = "deltas") -> int:
        """Write a figure (``deltas``: sorted per-query deltas; ``distributions``) and its manifest; returns
        the number of panels."""
        from synrank.compare.plots import plot_deltas, plot_distributions
        from synrank.formats.outputs import guarded_output

        if kind not in ("deltas", "distributions"):
            raise ValueError(f"unknown plot kind {kind!r} (deltas, distributions)")
        with guarded_output(path, inputs=self.input_paths, kind="file") as target:
            panels = (plot_deltas if kind == "deltas" else plot_distributions)(self.comparison, target.path)
            target.manifest = {**self.manifest, "kind": "compare-plot" if kind == "deltas" else "compare-plot-dist"}
        return panels


def _resolve_baseline(cfg: CompareConfig, names: list[str]) -> int:
    if cfg.baseline is None:
        return 0
    for i, (p, n) in enumerate(zip(cfg.inputs, names)):
        if cfg.baseline in (p, n):
            return i
    target = str(Path(cfg.baseline).resolve())
    for i, p in enumerate(cfg.resolved_inputs):
        if p == target:
            return i
    raise ConfigError(f"{cfg.baseline!r} is neither one of the input files nor a system name ({', '.join(names)})", setting="baseline")


def _read_systems(cfg: CompareConfig, names: list[str], info: Callable[[str], None]) -> tuple[list[Any], bool]:
    """Every input as a system (results JSON, or a TREC run scored against the qrels), the baseline first;
    and whether the qrels were read (some input is a run)."""
    from synrank.compare.inputs import load_results, load_run, looks_like_json
    from synrank.formats.io import display_name

    kinds = [looks_like_json(p) for p in cfg.inputs]
    qrels_data = None
    run_metrics: list[str] = []
    if not all(kinds):
        first_run = display_name(cfg.inputs[kinds.index(False)])
        if cfg.qrels is None:
            raise ConfigError(f"{first_run} is not a results JSON file, so it is read as a run: give qrels to score it", setting="qrels")
        from synrank.evaluate.metrics import DEFAULT_METRICS, parse_metrics
        from synrank.formats.qrels import read_qrels

        run_metrics = [m.name for m in parse_metrics(cfg.wanted_metrics or list(DEFAULT_METRICS))]
        qrels_data = read_qrels(cfg.qrels)
    elif cfg.qrels is not None:
        info("note: --qrels is ignored: every input is an eval results file with its own per-query metrics")
    systems = []
    for path, nm, is_json in zip(cfg.inputs, names, kinds):
        if is_json:
            systems.append(load_results(path, nm))
        else:
            assert qrels_data is not None and cfg.qrels is not None
            systems.append(load_run(path, nm, qrels_data, display_name(cfg.qrels), run_metrics, cfg.rel_level))
    b = _resolve_baseline(cfg, names)
    systems.insert(0, systems.pop(b))  # the baseline is the first row of every table
    return systems, qrels_data is not None


def _aligned(cfg: CompareConfig, systems: list[Any], info: Callable[[str], None]) -> tuple[list[str], Any]:
    """The metrics compared and the systems' per-query values on common query ids, with notes on what differs."""
    from synrank.compare.inputs import align, pick_metrics

    datasets = {s.dataset for s in systems if s.dataset}
    if len(datasets) > 1:
        info(f"warning: the inputs name different datasets ({', '.join(sorted(datasets))}); checking their query ids overlap")
    chosen = pick_metrics(systems, cfg.wanted_metrics)
    aligned = align(systems, chosen, intersect=cfg.intersect)
    for s in systems:
        miss = aligned.missing[s.name]
        if miss and not cfg.intersect:
            info(f"note: {s.name} has no result for {miss} of {len(aligned.qids)} queries; they count 0 (--intersect drops them)")
    if cfg.intersect and aligned.dropped:
        info(f"note: --intersect keeps the {len(aligned.qids)} queries every system answered, dropping {aligned.dropped}")
    return chosen, aligned


def run(cfg: CompareConfig, *, progress: ProgressArg = None, info: Callable[[str], None] | None = None) -> CompareReport:
    """Read ``cfg.inputs``, test every system against the baseline, and write the outputs ``cfg`` names
    (``out`` in ``cfg.format``, ``plot``, ``plot_dist``). Outputs are written only after everything is
    computed, so bad input never leaves a half-written file. ``progress``: see
    :data:`synrank.runtime.progress.ProgressArg` (``info=`` is its older spelling)."""
    from synrank.compare.analysis import compare
    from synrank.compare.inputs import check_names, default_names, summary
    from synrank.formats.manifest import make_manifest
    from synrank.formats.outputs import check_output
    from synrank.runtime.progress import reporter

    info = reporter(progress, info=info).say
    for target in (cfg.out, cfg.plot, cfg.plot_dist):
        check_output(target, inputs=[*cfg.inputs, cfg.qrels])  # before any work; written at the end
    names = cfg.system_names or default_names(cfg.inputs)
    check_names(names)
    systems, scored_runs = _read_systems(cfg, names, info)
    chosen, aligned = _aligned(cfg, systems, info)
    settings = Settings(
        test=cfg.test,
        correction=cfg.correction,
        alpha=cfg.alpha,
        permutations=cfg.permutations,
        resamples=cfg.resamples,
        confidence=cfg.confidence,
        seed=cfg.seed,
    )
    comparison = compare(aligned, baseline=0, settings=settings)
    config = {
        "baseline": comparison.baseline,
        "metrics": chosen,
        "intersect": cfg.intersect,
        "rel_level": cfg.rel_level if scored_runs else None,
        "qrels": cfg.qrels if scored_runs else None,
        "format": cfg.format,
        **vars(settings),
    }
    inputs = [summary(s) for s in systems]
    report = CompareReport(comparison, inputs, make_manifest("compare", config=config, inputs=inputs))

    if cfg.out is not None:
        report.save(cfg.out, cfg.format)
        info(f"wrote {cfg.out}")
    for path, kind in ((cfg.plot, "deltas"), (cfg.plot_dist, "distributions")):
        if path is not None:
            panels = report.plot(path, kind)
            info(f"wrote {path} ({panels} panel{'s' if panels > 1 else ''})")
    return report


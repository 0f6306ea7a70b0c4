"""Render a :class:`~synrank.compare.analysis.Comparison` as a Rich table, Markdown, LaTeX, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.table import Table
from rich.text import Text

from synrank.compare.analysis import Cell, Comparison
from synrank.compare.stats import TEST_LABELS

FORMATS = ("rich", "markdown", "latex", "csv", "json")
CORRECTION_LABELS = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "no"}


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _signed(x: float | None, digits: int = 4) -> str:
    return "" if x is None else f"{x:+.{digits}f}"


def _mark(c: Cell) -> str:
    return "*" if c.significant else ""


def _best(cmp: Comparison) -> list[int]:
    """Index of the system with the highest mean on each metric."""
    return [max(range(len(cmp.names)), key=lambda s: cmp.cells[s][m].mean) for m in range(len(cmp.metrics))]


def legend(cmp: Comparison) -> str:
    st = cmp.settings
    test = TEST_LABELS[st.test]
    if st.test == "randomization":
        test += f" ({st.permutations:,} permutations, seed {st.seed})"
    elif st.test == "bootstrap":
        test += f" ({st.resamples:,} resamples, seed {st.seed})"
    corr = CORRECTION_LABELS[st.correction]
    corr_text = "uncorrected" if st.correction == "none" else f"{corr}-corrected over {cmp.family_size} comparisons"
    return (
        f"{cmp.n_queries} queries; baseline {cmp.baseline}. Δ: mean difference to the baseline with its "
        f"{st.confidence:.0%} bootstrap CI ({st.resamples:,} resamples); p: {test}, {corr_text}; "
        f"* significant at α = {st.alpha:g}; W/T/L: queries better/equal/worse than the baseline."
    )


# --- Rich ---------------------------------------------------------------------------------------------------


def rich_table(cmp: Comparison) -> Table:
    table = Table(title=f"synrank compare — baseline {cmp.baseline}", caption=legend(cmp), caption_justify="left", show_lines=True)
    table.add_column("System", style="bold", no_wrap=True)
    for m in cmp.metrics:
        table.add_column(m, justify="right")
    best = _best(cmp)
    for s, name in enumerate(cmp.names):
        row: list[Text] = []
        for m, c in enumerate(cmp.cells[s]):
            mean = Text(f"{c.mean:.4f}", style="bold" if best[m] == s else "")
            if c.delta is None:
                row.append(mean + Text("\nbaseline", style="dim"))
                continue
            colour = ("green" if c.delta > 0 else "red") if c.significant else ""
            mark = Text((" ▲" if c.delta > 0 else " ▼") + "*", style=colour) if c.significant else Text("   ")
            cell = mean + mark
            cell += Text(f"\nΔ {_signed(c.delta)}", style=colour)
            cell += Text(f"\n[{_signed(c.ci_low)}, {_signed(c.ci_high)}]", style="dim")
            cell += Text(f"\np {_p(c.p_adjusted)}")
            cell += Text(f"\nW/T/L {c.wins}/{c.ties}/{c.losses}", style="dim")
            row.append(cell)
        table.add_row(name, *row)
    return table


# --- Markdown -----------------------------------------------------------------------------------------------


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown(cmp: Comparison) -> str:
    best = _best(cmp)
    lines = ["| System | " + " | ".join(_md_escape(m) for m in cmp.metrics) + " |"]
    lines.append("|---|" + "---:|" * len(cmp.metrics))
    for s, name in enumerate(cmp.names):
        cells = []
        for m, c in enumerate(cmp.cells[s]):
            mean = f"**{c.mean:.4f}**" if best[m] == s else f"{c.mean:.4f}"
            cells.append(mean if c.delta is None else f"{mean}{_mark(c)} ({_signed(c.delta)})")
        lines.append(f"| {_md_escape(name)} | " + " | ".join(cells) + " |")
    corr = CORRECTION_LABELS[cmp.settings.correction]
    p_head = "p" if cmp.settings.correction == "none" else f"p ({corr})"
    lines += ["", f"| System | Metric | Δ | {cmp.settings.confidence:.0%} CI | p | {p_head} | W/T/L |", "|---|---|---:|---:|---:|---:|---:|"]
    for s, name in enumerate(cmp.names):
        for m, c in enumerate(cmp.cells[s]):
            if c.delta is None:
                continue
            lines.append(
                f"| {_md_escape(name)} | {_md_escape(cmp.metrics[m])} | {_signed(c.delta)}{_mark(c)} | "
                f"[{_signed(c.ci_low)}, {_signed(c.ci_high)}] | {_p(c.p_value)} | {_p(c.p_adjusted)} | {c.wins}/{c.ties}/{c.losses} |"
            )
    lines += ["", legend(cmp)]
    return "\n".join(lines) + "\n"


# --- LaTeX --------------------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in s)


def latex(cmp: Comparison) -> str:
    """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``): one column per metric, best mean in bold,
    ``$^{*}$`` on significant differences, the delta in small type. The legend goes in comment lines."""
    best = _best(cmp)
    out = [f"% {line}" for line in legend(cmp).replace("Δ", "delta").replace("α", "alpha").split("; ")]
    out.append(r"\begin{tabular}{l" + "r" * len(cmp.metrics) + "}")
    out.append(r"\toprule")
    out.append("System & " + " & ".join(latex_escape(m) for m in cmp.metrics) + r" \\")
    out.append(r"\midrule")
    for s, name in enumerate(cmp.names):
        cells = []
        for m, c in enumerate(cmp.cells[s]):
            mean = rf"\textbf{{{c.mean:.4f}}}" if best[m] == s else f"{c.mean:.4f}"
            if c.delta is not None:
                mean += (r"$^{*}$" if c.significant else "") + rf" {{\scriptsize({_signed(c.delta)})}}"
            cells.append(mean)
        out.append(latex_escape(name) + " & " + " & ".join(cells) + r" \\")
    out.append(r"\bottomrule")
    out.append(r"\end{tabular}")
    return "\n".join(out) + "\n"


# --- CSV / JSON ---------------------------------------------------------------------------------------------

CSV_FIELDS = (
    "system",
    "metric",
    "baseline",
    "mean",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "wins",
    "ties",
    "losses",
    "num_queries",
)


def csv_text(cmp: Comparison) -> str:
    """Long format, one row per (system, metric); the baseline's test columns are empty."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for s, name in enumerate(cmp.names):
        for m, c in enumerate(cmp.cells[s]):
            w.writerow(
                {
                    "system": name,
                    "metric": cmp.metrics[m],
                    "baseline": cmp.baseline,
                    "num_queries": cmp.n_queries,
                    **{k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in vars(c).items()},
                }
            )
    return buf.getvalue()


def json_text(cmp: Comparison, extra: dict[str, Any] | None = None) -> str:
    return json.dumps({**cmp.to_dict(), **(extra or {})}, indent=2, ensure_ascii=False, default=str) + "\n"


def render(cmp: Comparison, fmt: str, extra: dict[str, Any] | None = None) -> str:
    """Text of ``fmt`` (markdown, latex, csv, json); the Rich table is printed by the caller."""
    if fmt == "markdown":
        return markdown(cmp)
    if fmt == "latex":
        return latex(cmp)
    if fmt == "csv":
        return csv_text(cmp)
    if fmt == "json":
        return json_text(cmp, extra)
    raise ValueError(f"no text renderer for {fmt!r}")

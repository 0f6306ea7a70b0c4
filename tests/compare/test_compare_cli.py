"""`synrank compare` end to end on real SciFact BM25 runs: p-values against scipy and ranx, every table
format parsed back, plots, and bad input ending in one clear line."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
from scipy import stats
from helpers import METRICS, write_inputs


@pytest.fixture(scope="module")
def inputs(scifact_dir, tmp_path_factory):
    return write_inputs(str(scifact_dir), tmp_path_factory.mktemp("compare-inputs"))


def _per_query(path) -> dict[str, dict[str, float]]:
    return json.loads(path.read_text())["per_query"]


def _one_error_line(r, *needles: str) -> str:
    assert r.code != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("synrank: error: "), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_json_output_p_values_match_scipy(cli, inputs):
    js = inputs["json"]
    r = cli("compare", js["bm25-nostem"], js["bm25"], js["bm25-notitle"], "--baseline", "bm25", "-f", "json", "-c", "none", "--test", "t-test")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["baseline"] == "bm25" and out["num_queries"] == 300 and out["family_size"] == 2 * len(METRICS)
    assert [s["name"] for s in out["systems"]] == ["bm25", "bm25-nostem", "bm25-notitle"]  # baseline first
    base = _per_query(js["bm25"])
    qids = sorted(base)
    for system in out["systems"][1:]:
        other = _per_query(js[system["name"]])
        for m in METRICS:
            a = np.array([other[q][m] for q in qids])
            b = np.array([base[q][m] for q in qids])
            cell = system["metrics"][m]
            assert cell["mean"] == pytest.approx(a.mean(), abs=1e-12)
            assert cell["delta"] == pytest.approx((a - b).mean(), abs=1e-12)
            assert cell["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
            assert cell["p_adjusted"] == cell["p_value"]
            assert (cell["wins"], cell["ties"], cell["losses"]) == (int((a > b).sum()), int((a == b).sum()), int((a < b).sum()))
            assert cell["ci_low"] <= cell["delta"] <= cell["ci_high"]
    assert "manifest" in out and out["manifest"]["kind"] == "compare"


def test_wilcoxon_and_holm_through_the_cli(cli, inputs):
    js = inputs["json"]
    r = cli("compare", js["bm25"], js["bm25-nostem"], js["bm25-notitle"], "-f", "json", "--test", "wilcoxon", "--correction", "holm")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    base = _per_query(js["bm25"])
    raw, adj = [], []
    for system in out["systems"][1:]:
        other = _per_query(js[system["name"]])
        for m in METRICS:
            a = np.array([other[q][m] for q in base])
            b = np.array([base[q][m] for q in base])
            assert system["metrics"][m]["p_value"] == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-9)
            raw.append(system["metrics"][m]["p_value"])
            adj.append(system["metrics"][m]["p_adjusted"])
    # Holm by hand: i-th smallest times (m - i), running maximum, capped at 1.
    order = np.argsort(raw)
    expect = np.minimum(1, np.maximum.accumulate(np.array(raw)[order] * (len(raw) - np.arange(len(raw)))))
    assert np.array(adj)[order] == pytest.approx(expect)


def test_trec_runs_with_qrels_equal_results_files(cli, inputs):
    tr, js = inputs["trec"], inputs["json"]
    a = cli("compare", tr["bm25"], tr["bm25-notitle"], "--qrels", inputs["qrels"], "-f", "json", "--test", "randomization", "--permutations", "2000")
    b = cli("compare", js["bm25"], js["bm25-notitle"], "-f", "json", "--test", "randomization", "--permutations", "2000")
    assert a.code == 0 and b.code == 0, a.stderr + b.stderr
    sa, sb = json.loads(a.stdout)["systems"], json.loads(b.stdout)["systems"]
    assert sa == sb  # same scores, same seed -> same permutations and p-values
    c = cli("compare", js["bm25"], js["bm25-notitle"], "-f", "json", "--test", "randomization", "--permutations", "2000", "--seed", "5")
    assert json.loads(c.stdout)["systems"] != sb


def test_search_and_score_lists_are_runs(cli, inputs, tmp_path):
    """A teacher ranked by the real qrels: `score` output orders each list by its `score`, a rank-only list by rank.
    nDCG@10 by hand: the relevant document first gives 1, second 1/log2(3), third 1/log2(4) = 0.5."""
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td5\t1\n")
    lists = {
        "teacher": [{"query_id": "q1", "query": "a", "candidates": [{"doc_id": "d2", "score": 0.9, "rank": 1}, {"doc_id": "d1", "score": 2.5, "rank": 2}]},
                    {"query_id": "q2", "query": "b", "candidates": [{"doc_id": "d4", "score": 3.0}, {"doc_id": "d6", "score": 1.0}, {"doc_id": "d5", "score": 0.5}]}],
        "ranks": [{"query_id": "q1", "candidates": [{"doc_id": "d2", "rank": 1}, {"doc_id": "d1", "rank": 2}]},
                  {"query_id": "q2", "candidates": [{"doc_id": "d5", "rank": 1}, {"doc_id": "d4", "rank": 2}]}],
    }
    paths = []
    for name, recs in lists.items():
        paths.append(tmp_path / f"{name}.jsonl")
        paths[-1].write_text("".join(json.dumps(r) + "\n" for r in recs))
    trec = tmp_path / "trec.run"
    trec.write_text("q1 Q0 d1 1 2 t\nq2 Q0 d4 1 2 t\nq2 Q0 d5 2 1 t\n")
    r = cli("compare", trec, *paths, "--qrels", qrels, "-m", "nDCG@10", "-f", "json", "-c", "none")
    assert r.code == 0, r.stderr
    means = {s["name"]: s["metrics"]["nDCG@10"]["mean"] for s in json.loads(r.stdout)["systems"]}
    third, second = 0.5, 1 / np.log2(3)
    assert means == pytest.approx({"trec": (1 + second) / 2, "teacher": (1 + third) / 2, "ranks": (second + 1) / 2})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "q1", "candidates": [{"doc_id": "d1", "score": "high"}]}\n')
    _one_error_line(cli("compare", trec, bad, "--qrels", qrels), "bad.jsonl:1", "score 'high' is not a number")


def test_missing_queries_count_zero_or_are_dropped(cli, inputs, tmp_path):
    base = json.loads(inputs["json"]["bm25"].read_text())
    other = json.loads(inputs["json"]["bm25-notitle"].read_text())
    dropped = list(other["per_query"])[:30]
    for q in dropped:
        del other["per_query"][q]
    (tmp_path / "partial.json").write_text(json.dumps(other))
    r = cli("compare", inputs["json"]["bm25"], tmp_path / "partial.json", "-f", "json", "-m", "nDCG@10", "-c", "none")
    assert r.code == 0, r.stderr
    assert "partial has no result for 30 of 300 queries; they count 0" in r.stderr
    cell = json.loads(r.stdout)["systems"][1]["metrics"]["nDCG@10"]
    kept = {q: v["nDCG@10"] for q, v in other["per_query"].items()}
    a = np.array([kept.get(q, 0.0) for q in base["per_query"]])
    b = np.array([v["nDCG@10"] for v in base["per_query"].values()])
    assert cell["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    r = cli("compare", inputs["json"]["bm25"], tmp_path / "partial.json", "-f", "json", "-m", "nDCG@10", "--intersect", "-c", "none")
    out = json.loads(r.stdout)
    assert out["num_queries"] == 270 and out["dropped_by_intersect"] == 30
    keep = [q for q in base["per_query"] if q in kept]
    a = np.array([kept[q] for q in keep])
    b = np.array([base["per_query"][q]["nDCG@10"] for q in keep])
    assert out["systems"][1]["metrics"]["nDCG@10"]["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)


def test_results_file_from_stdin(cli, inputs, monkeypatch):
    import sys

    from synrank.compare import inputs as inputs_module

    monkeypatch.setattr(inputs_module, "_STDIN_TEXT", [])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(inputs["json"]["bm25"].read_bytes())))
    r = cli("compare", "-", inputs["json"]["bm25-nostem"], "-m", "nDCG@10", "-f", "json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["baseline"] == "stdin" and out["num_queries"] == 300
    monkeypatch.setattr(inputs_module, "_STDIN_TEXT", [])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(inputs["trec"]["bm25"].read_bytes())))
    r = cli("compare", "-", inputs["trec"]["bm25-nostem"], "--qrels", inputs["qrels"])
    _one_error_line(r, "<stdin>", "run cannot be read from stdin")


def test_csv_parses_back_to_the_json_numbers(cli, inputs):
    js = inputs["json"]
    args = ("compare", js["bm25"], js["bm25-nostem"], js["bm25-notitle"], "--name", "base,nostem,notitle")
    j = json.loads(cli(*args, "-f", "json").stdout)
    rows = list(csv.DictReader(io.StringIO(cli(*args, "-f", "csv").stdout)))
    assert len(rows) == 3 * len(METRICS)
    by = {(s["name"], m): c for s in j["systems"] for m, c in s["metrics"].items()}
    for row in rows:
        cell = by[(row["system"], row["metric"])]
        assert float(row["mean"]) == cell["mean"]
        if row["system"] == "base":
            assert row["p_value"] == "" and row["delta"] == ""
        else:
            assert float(row["p_adjusted"]) == cell["p_adjusted"]
            assert float(row["ci_low"]) == cell["ci_low"]
            assert row["significant"] == str(cell["significant"])
            assert int(row["wins"]) + int(row["ties"]) + int(row["losses"]) == int(row["num_queries"]) == 300


def test_latex_and_markdown_shapes(cli, inputs):
    js = inputs["json"]
    r = cli("compare", js["bm25"], js["bm25-nostem"], js["bm25-notitle"], "--format", "latex", "-m", "nDCG@10,AP")
    assert r.code == 0, r.stderr
    tex = r.stdout
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex).group(1)
    assert spec == "lrr"
    body = tex[tex.index(r"\midrule") : tex.index(r"\bottomrule")].splitlines()[1:]
    assert len(body) == 3
    header = next(ln for ln in tex.splitlines() if ln.startswith("System &"))
    for line in [header, *body]:
        assert line.endswith(r"\\") and line.count("&") == len(spec) - 1
    assert "bm25-nostem".replace("-", "-") in tex and r"\textbf{" in tex
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert tex.count("{") == tex.count("}")
    md = cli("compare", js["bm25"], js["bm25-nostem"], js["bm25-notitle"], "--format", "markdown", "-m", "nDCG@10,AP").stdout
    tables = [t for t in md.split("\n\n") if t.startswith("|")]
    assert len(tables) == 2
    main = tables[0].splitlines()
    assert len(main) == 2 + 3 and all(ln.count("|") == 4 for ln in main)
    detail = tables[1].splitlines()
    assert len(detail) == 2 + 2 * 2 and all(ln.count("|") == 8 for ln in detail)


def test_latex_escapes_names():
    from synrank.compare.tables import latex_escape

    assert latex_escape("kd_50%&#") == r"kd\_50\%\&\#"


def test_rich_table_and_out_file_with_manifest(cli, inputs, tmp_path):
    js = inputs["json"]
    r = cli("compare", js["bm25"], js["bm25-nostem"])
    assert r.code == 0, r.stderr
    assert "bm25-nostem" in r.stdout and "W/T/L" in r.stdout and "Holm-corrected over 4 comparisons" in r.stdout.replace("\n", " ")
    assert "\x1b[" not in r.stdout  # no colour codes when piped
    out = tmp_path / "table.md"
    r = cli("compare", js["bm25"], js["bm25-nostem"], "-f", "markdown", "--out", out)
    assert r.code == 0 and r.stdout == ""
    assert out.read_text().startswith("| System |")
    manifest = json.loads((tmp_path / "table.md.manifest.json").read_text())
    assert manifest["kind"] == "compare" and manifest["config"]["test"] == "t-test"


def test_plots_have_one_panel_per_metric(cli, inputs, tmp_path):
    import matplotlib.image as mpimg

    js = inputs["json"]
    png, dist = tmp_path / "deltas.png", tmp_path / "dist.png"
    r = cli("compare", js["bm25"], js["bm25-nostem"], js["bm25-notitle"], "-m", "nDCG@10,R@100,AP", "--plot", png, "--plot-dist", dist)
    assert r.code == 0, r.stderr
    for p in (png, dist):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(p)
        assert img.shape[0] > 300 and img.shape[1] > 300
        assert img[..., :3].std() > 0.05  # not a blank canvas
        assert (p.parent / (p.name + ".manifest.json")).exists()

    from synrank.compare import Settings, align, compare, load_results
    from synrank.compare.plots import deltas_figure, distributions_figure

    systems = [load_results(js[n], n) for n in ("bm25", "bm25-nostem", "bm25-notitle")]
    cmp = compare(align(systems, ["nDCG@10", "R@100", "AP"]), settings=Settings(resamples=200))
    for fig in (deltas_figure(cmp), distributions_figure(cmp)):
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert len(visible) == 3
        assert sorted(ax.get_title().split(" ")[0].rstrip(":") for ax in visible) == ["AP", "R@100", "nDCG@10"]
    lines = next(ax for ax in deltas_figure(cmp).axes if ax.get_visible()).get_lines()
    # Two systems against the baseline -> two sorted delta curves (plus the zero line).
    curves = [ln for ln in lines if len(ln.get_xdata()) == 300]
    assert len(curves) == 2 and all(np.all(np.diff(ln.get_ydata()) <= 0) for ln in curves)


# --- bad input: one line, non-zero exit, nothing written ------------------------------------------------------


def test_one_file_only(cli, inputs):
    _one_error_line(cli("compare", inputs["json"]["bm25"]), "at least two systems")


def test_unreadable_files(cli, inputs, tmp_path):
    js = inputs["json"]
    _one_error_line(cli("compare", js["bm25"], tmp_path / "nope.json"), "nope.json", "file not found")
    _one_error_line(cli("compare", js["bm25"], tmp_path), "is a directory")
    bad = tmp_path / "bad.json"
    bad.write_text('{"per_query": {"q1": {"nDCG@10": 0.5},\n  "q2": {"nDCG@10": oops}}}\n')
    _one_error_line(cli("compare", js["bm25"], bad), "bad.json:2:", "bad JSON")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    _one_error_line(cli("compare", js["bm25"], binary), "blob.bin", "UTF-8")
    notnum = tmp_path / "notnum.json"
    notnum.write_text('{\n "per_query": {\n  "q1": {"nDCG@10": 0.5},\n  "q2": {"nDCG@10": "high"}\n }\n}\n')
    _one_error_line(cli("compare", js["bm25"], notnum), "notnum.json:4:", "not a finite number")
    other = tmp_path / "other.json"
    other.write_text('{"aggregate": {"nDCG@10": 0.5}}')
    _one_error_line(cli("compare", js["bm25"], other), "other.json", "per_query")


def test_mismatched_metrics(cli, inputs, tmp_path):
    rec = json.loads(inputs["json"]["bm25-nostem"].read_text())
    rec["per_query"] = {q: {"nDCG@10": v["nDCG@10"]} for q, v in rec["per_query"].items()}
    only = tmp_path / "only-ndcg.json"
    only.write_text(json.dumps(rec))
    out = tmp_path / "t.csv"
    _one_error_line(cli("compare", inputs["json"]["bm25"], only, "-f", "csv", "--out", out), "only-ndcg.json", "R@100", "--metrics")
    assert not out.exists()
    _one_error_line(cli("compare", inputs["json"]["bm25"], only, "-m", "nDCG@10,P@5"), "P@5")
    r = cli("compare", inputs["json"]["bm25"], only, "-m", "nDCG@10", "-f", "csv")
    assert r.code == 0 and len(r.stdout.splitlines()) == 3


def test_run_for_a_different_qrels_set(cli, inputs, msmarco_dir, tmp_path):
    tr = inputs["trec"]
    _one_error_line(
        cli("compare", tr["bm25"], tr["bm25-notitle"], "--qrels", msmarco_dir / "dl19-qrels.trec"),
        "bm25.trec",
        "different query set",
    )
    # Results files evaluated on different query sets.
    rec = json.loads(inputs["json"]["bm25"].read_text())
    rec["per_query"] = {f"dl19-{i}": v for i, v in enumerate(rec["per_query"].values())}
    (tmp_path / "elsewhere.json").write_text(json.dumps(rec))
    _one_error_line(cli("compare", inputs["json"]["bm25"], tmp_path / "elsewhere.json"), "elsewhere.json", "different query set")


def test_bad_options(cli, inputs, tmp_path):
    js, tr = inputs["json"], inputs["trec"]
    _one_error_line(cli("compare", tr["bm25"], tr["bm25-notitle"]), "bm25.trec", "--qrels")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--test", "anova"), "--test", "wilcoxon")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--correction", "fdr"), "--correction")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--format", "html"), "--format")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--name", "a"), "--name: got 1 names for 2 inputs")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--name", "a,a"), "distinct names")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--baseline", "kd"), "--baseline: 'kd'")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--alpha", "5"), "--alpha")
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "--plot", tmp_path / "x.gif"), "--plot")
    assert not (tmp_path / "x.gif").exists()
    before = js["bm25"].read_bytes()
    _one_error_line(cli("compare", js["bm25"], js["bm25-nostem"], "-f", "json", "--out", js["bm25"]), "refusing to overwrite")
    assert js["bm25"].read_bytes() == before


def test_help_lists_every_option(cli):
    r = cli("compare", "--help")
    assert r.code == 0
    for opt in ("--baseline", "--name", "--qrels", "--metrics", "--intersect", "--test", "--permutations", "--bootstrap",
                "--correction", "--alpha", "--format", "--out", "--plot", "--plot-dist", "--seed"):
        assert opt in r.stdout


@pytest.mark.slow
def test_p_values_match_ranx_compare(cli, inputs, scifact_dir):
    """ranx evaluates the same runs with its own metric code and runs its paired t-test: same means and p-values."""
    from ranx import Qrels, Run, compare
    from helpers import scifact_runs

    runs, qrels = scifact_runs(str(scifact_dir))
    names = ["bm25", "bm25-nostem", "bm25-notitle"]
    ranx_metrics = {"nDCG@10": "ndcg@10", "R@100": "recall@100", "RR@10": "mrr@10", "AP": "map"}
    report = compare(Qrels(qrels), [Run(runs[n], name=n) for n in names], metrics=list(ranx_metrics.values()), stat_test="student")
    tr = inputs["trec"]
    r = cli("compare", *(tr[n] for n in names), "--qrels", inputs["qrels"], "-f", "json", "-c", "none")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    for system in out["systems"]:
        for ours, theirs in ranx_metrics.items():
            cell = system["metrics"][ours]
            assert cell["mean"] == pytest.approx(report.results[system["name"]][theirs], abs=1e-9)
            if not system["baseline"]:
                ref = report.comparisons[frozenset(["bm25", system["name"]])][theirs]["p_value"]
                assert cell["p_value"] == pytest.approx(ref, rel=1e-7)


@pytest.mark.slow
def test_reads_what_synrank_eval_writes(cli, scifact_dir, tiny_bi_encoder, tmp_path):
    """The input contract, end to end: two real `synrank index` + `synrank eval` results (a tiny random
    bi-encoder over a SciFact slice, with and without titles) compared as results files and as TREC runs."""
    qrels_file = scifact_dir / "qrels" / "test.tsv"
    relevant = {ln.split("\t")[1] for ln in qrels_file.read_text().splitlines()[1:]}
    lines = (scifact_dir / "corpus.jsonl").read_text().splitlines()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(ln for i, ln in enumerate(lines) if i % 50 == 0 or json.loads(ln)["_id"] in relevant) + "\n")
    for variant, extra in (("title", []), ("notitle", ["--no-title"])):
        r = cli("index", corpus, "-o", tmp_path / f"idx-{variant}", "-m", tiny_bi_encoder, "--device", "cpu", *extra)
        assert r.code == 0, r.stderr
        r = cli("eval", tmp_path / f"idx-{variant}", "--queries", scifact_dir / "queries.jsonl", "--qrels", qrels_file,
                "--out", tmp_path / f"{variant}.json", "--run-out", tmp_path / f"{variant}.trec", "--device", "cpu")
        assert r.code == 0, r.stderr
    a = cli("compare", tmp_path / "title.json", tmp_path / "notitle.json", "-f", "json", "-c", "none")
    assert a.code == 0, a.stderr
    b = cli("compare", tmp_path / "title.trec", tmp_path / "notitle.trec", "--qrels", qrels_file, "-f", "json", "-c", "none")
    assert b.code == 0, b.stderr
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["num_queries"] == jb["num_queries"] == 300
    assert ja["metrics"] == jb["metrics"] == METRICS
    # Results files: the numbers eval wrote, paired by query id.
    title, notitle = _per_query(tmp_path / "title.json"), _per_query(tmp_path / "notitle.json")
    for m in METRICS:
        x = np.array([notitle[q][m] for q in title])
        y = np.array([title[q][m] for q in title])
        cell = ja["systems"][1]["metrics"][m]
        assert cell["mean"] == pytest.approx(x.mean(), abs=1e-12)
        if np.any(x != y):
            assert cell["p_value"] == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-9)
    # TREC runs: trec_eval's own nDCG@10 (pytrec_eval directly) on the written files. (Not equal to the results
    # files: runs are written with 6 decimals, and the near-equal scores of a random model then tie.)
    import pytrec_eval

    from synrank.formats import read_qrels, read_trec_run

    qrels = read_qrels(qrels_file)
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"})
    per = {v: ev.evaluate(read_trec_run(tmp_path / f"{v}.trec")) for v in ("title", "notitle")}
    x = np.array([per["notitle"].get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels])
    assert jb["systems"][1]["metrics"]["nDCG@10"]["mean"] == pytest.approx(x.mean(), abs=1e-12)

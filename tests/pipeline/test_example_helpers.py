"""The example helpers used for docs/results.md: the synthetic dev split and the seed summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(*args):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_dev_split_holds_out_queries_and_their_lists(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    from dev_split import in_dev

    qids = [f"d{i}-title-0" for i in range(200)]
    (tmp_path / "q.jsonl").write_text("".join(json.dumps({"query_id": q, "text": f"query  {q}", "type": "title", "source_doc_id": q.split("-")[0]}) + "\n" for q in qids))
    kept_lists = qids[::2]  # the filters kept every other query
    (tmp_path / "l.jsonl").write_text("".join(json.dumps({"query_id": q, "query": q, "candidates": []}) + "\n" for q in kept_lists))
    p = _run(EXAMPLES / "dev_split.py", tmp_path / "q.jsonl", tmp_path / "l.jsonl", "--one-in", "10", "--out", tmp_path)
    assert p.returncode == 0, p.stderr
    dev = [line.split("\t") for line in (tmp_path / "dev-queries.tsv").read_text().splitlines()]
    expected = [q for q in qids if in_dev(q, 10)]
    assert [d[0] for d in dev] == expected and 5 < len(expected) < 40  # about one in ten, taken before filtering
    assert dev[0][1] == f"query {expected[0]}"  # whitespace collapsed for TSV
    qrels = (tmp_path / "dev-qrels.tsv").read_text().splitlines()
    assert qrels[0] == "query-id\tcorpus-id\tscore" and qrels[1] == f"{expected[0]}\t{expected[0].split('-')[0]}\t1"
    train = [json.loads(line)["query_id"] for line in (tmp_path / "lists-train.jsonl").read_text().splitlines()]
    assert train == [q for q in kept_lists if q not in expected]


def test_seed_summary_against_scipy(tmp_path):
    from scipy import stats

    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(6)))

    def run(path, ranks):  # ranks[i]: where d{i} is retrieved for q{i}; 1/rank-style nDCG@10 = 1/log2(rank+1)
        lines = []
        for i, r in enumerate(ranks):
            docs = [f"x{j}" for j in range(r - 1)] + [f"d{i}"]
            lines += [f"q{i} Q0 {d} {k + 1} {100 - k} t" for k, d in enumerate(docs)]
        path.write_text("\n".join(lines) + "\n")
        return path

    base = run(tmp_path / "base.trec", [1, 2, 3, 4, 1, 2])
    a42 = run(tmp_path / "a42.trec", [1, 1, 2, 3, 1, 2])
    a43 = run(tmp_path / "a43.trec", [1, 1, 1, 4, 2, 1])
    p = _run(EXAMPLES / "seed_summary.py", "--qrels", qrels, "--baseline", "base", base, a42, a43, "--names", "base,a-s42,a-s43")
    assert p.returncode == 0, p.stderr
    row = next(line for line in p.stdout.splitlines() if line.startswith("| a |"))
    import math

    def ndcg(ranks):
        return [1 / math.log2(r + 1) for r in ranks]

    mean_a = [(x + y) / 2 for x, y in zip(ndcg([1, 1, 2, 3, 1, 2]), ndcg([1, 1, 1, 4, 2, 1]))]
    expected_p = stats.ttest_rel(mean_a, ndcg([1, 2, 3, 4, 1, 2])).pvalue
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "42,43"
    assert float(cells[2]) == pytest.approx(sum(mean_a) / 6, abs=1e-4)
    assert float(cells[7]) == pytest.approx(expected_p, rel=1e-2)


def test_seed_summary_reads_eval_files_and_holm_corrects_over_the_rows(tmp_path):
    """Eval JSONs (no --qrels) give the same figures as runs; the Holm column is hand-computed from scipy's p."""
    import math

    from scipy import stats

    qids = [f"q{i}" for i in range(8)]

    def ndcg(ranks):
        return [1 / math.log2(r + 1) for r in ranks]

    def results(path, ranks):
        per_query = {q: {"nDCG@10": v, "R@100": 1.0} for q, v in zip(qids, ndcg(ranks))}
        path.write_text(json.dumps({"aggregate": {}, "num_queries": len(qids), "per_query": per_query}))
        return path

    base = [1, 2, 3, 4, 1, 2, 5, 3]
    a = ([1, 1, 2, 3, 1, 2, 2, 1], [1, 1, 1, 4, 2, 1, 3, 2])
    b = ([1, 2, 2, 4, 1, 2, 5, 3], [2, 2, 3, 3, 1, 1, 4, 3])
    files = [results(tmp_path / "base.json", base)]
    files += [results(tmp_path / f"a{i}.json", r) for i, r in enumerate(a)]
    files += [results(tmp_path / f"b{i}.json", r) for i, r in enumerate(b)]
    p = _run(EXAMPLES / "seed_summary.py", "--baseline", "base", *files, "--names", "base,a-s42,a-s43,b-s42,b-s43")
    assert p.returncode == 0, p.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in p.stdout.splitlines()[2:]}

    def seed_mean(runs):
        return [sum(vals) / len(vals) for vals in zip(*(ndcg(r) for r in runs))]

    p_a = stats.ttest_rel(seed_mean(a), ndcg(base)).pvalue
    p_b = stats.ttest_rel(seed_mean(b), ndcg(base)).pvalue
    # Holm with two p-values: the smaller times 2, the larger times 1 but never below the smaller's.
    low, high = sorted([p_a, p_b])
    holm = {p_a: min(1, 2 * low) if p_a == low else min(1, max(2 * low, high))}
    holm[p_b] = min(1, 2 * low) if p_b == low else min(1, max(2 * low, high))
    assert float(rows["a"][7]) == pytest.approx(p_a, rel=1e-2) and float(rows["a"][8]) == pytest.approx(holm[p_a], rel=1e-2)
    assert float(rows["b"][7]) == pytest.approx(p_b, rel=1e-2) and float(rows["b"][8]) == pytest.approx(holm[p_b], rel=1e-2)
    assert float(rows["a"][2]) == pytest.approx(sum(seed_mean(a)) / len(qids), abs=1e-4)
    assert rows["base"][7] == rows["base"][8] == "-"

    # A file evaluated on other queries would pair different things: refused in one line, exit 2.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"per_query": {"x": {"nDCG@10": 1.0, "R@100": 1.0}}}))
    p = _run(EXAMPLES / "seed_summary.py", "--baseline", "base", files[0], other, "--names", "base,c-s42")
    assert p.returncode == 2 and "c was evaluated on other queries than base" in p.stderr
    # A TREC run without --qrels cannot be scored.
    run = tmp_path / "r.trec"
    run.write_text("q0 Q0 d0 1 1.0 t\n")
    p = _run(EXAMPLES / "seed_summary.py", "--baseline", "base", files[0], run, "--names", "base,r")
    assert p.returncode == 2 and "pass --qrels" in p.stderr


def test_gradedness_against_hand_computed_cases(tmp_path):
    """examples/gradedness.py: hand-computed tau, order and top-first shares, and their chance values."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from gradedness import measure, query_measures
    finally:
        sys.path.remove(str(EXAMPLES))
    # Four distinct levels: perfect order (tau 1; chance 1/4! and 1/4), reversed (tau -1), one swap at the bottom.
    assert query_measures([3, 2, 1, 0], [4.0, 3.0, 2.0, 1.0]) == pytest.approx((1.0, True, True, 1 / 24, 1 / 4))
    assert query_measures([3, 2, 1, 0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx((-1.0, False, False, 1 / 24, 1 / 4))
    tau, in_order, first, _, _ = query_measures([3, 2, 1, 0], [4.0, 3.0, 1.0, 2.0])
    assert (tau, in_order, first) == (pytest.approx(4 / 6), False, True)  # 5 concordant pairs, 1 discordant: (5-1)/6
    # Repeated levels: in order whichever of the two level-1 passages is ahead; chance 2!/3! = 1/3, first 1/3.
    assert query_measures([2, 1, 1], [0.9, 0.1, 0.5])[1:] == pytest.approx((True, True, 1 / 3, 1 / 3))
    assert query_measures([1, 1], [0.3, 0.2]) is None  # nothing to order
    rows = [
        {"query_id": "a", "query": "q", "candidates": [{"doc_id": f"a{lv}", "text": "t", "label": lv, "score": float(lv)} for lv in (3, 2, 1, 0)]},
        {"query_id": "b", "query": "q", "candidates": [{"doc_id": f"b{lv}", "text": "t", "label": lv, "score": -float(lv)} for lv in (3, 2, 1, 0)]},
    ]
    path = tmp_path / "scored.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    g = measure(str(path), "x")
    assert (g.queries, g.mean_tau, g.in_order, g.top_first, g.top_first_chance) == (2, 0.0, 0.5, 0.5, 0.25)
    res = _run(EXAMPLES / "gradedness.py", path, "--names", "x", "--out", tmp_path / "g.json")
    assert res.returncode == 0 and "| x | 2 |" in res.stdout
    assert json.loads((tmp_path / "g.json").read_text())[0]["in_order_chance"] == pytest.approx(1 / 24)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": "a", "query": "q", "candidates": [{"doc_id": "d", "score": 1}]}\n', encoding="utf-8")
    res = _run(EXAMPLES / "gradedness.py", bad)
    assert res.returncode == 2 and "bad.jsonl:1" in res.stderr and "Traceback" not in res.stderr


def test_dev_agreement_against_hand_computed_differences(tmp_path):
    """examples/dev_agreement.py: seed-averaged A - B per subset fixed by the base, and the sign agreement."""

    def write(name, values):  # values: qid -> nDCG@10
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"per_query": {q: {"nDCG@10": v} for q, v in values.items()}}), encoding="utf-8")
        return str(path)

    base = write("base", {"q1": 1.0, "q2": 1.0, "q3": 0.5, "q4": 0.0})  # easy: q1 q2; hard: q3 q4
    a1 = write("a1", {"q1": 1.0, "q2": 1.0, "q3": 0.6, "q4": 0.2})
    a2 = write("a2", {"q1": 1.0, "q2": 0.8, "q3": 0.4, "q4": 0.4})  # seed mean: 1.0 0.9 0.5 0.3
    b = write("b", {"q1": 0.5, "q2": 1.0, "q3": 0.5, "q4": 0.5})  # A - B: 0.5 -0.1 0 -0.2
    real_b = write("rb", {"q1": 1.0, "q2": 1.0, "q3": 0.1})  # q4 missing counts 0: A - B: 0 -0.1 0.4 0.3
    res = _run(EXAMPLES / "dev_agreement.py", "--dev-base", base, "--dev-a", f"{a1},{a2}", "--dev-b", b,
               "--real-base", base, "--real-a", f"{a1},{a2}", "--real-b", real_b, "--metrics", "nDCG@10")
    assert res.returncode == 0, res.stderr
    rows = {line.split("|")[2].strip(): [c.strip() for c in line.split("|")[3:-1]] for line in res.stdout.splitlines()[2:]}
    from scipy import stats

    p_all = stats.ttest_rel([1.0, 0.9, 0.5, 0.3], [0.5, 1.0, 0.5, 0.5]).pvalue
    assert rows["all"][:3] == ["4", "+0.0500", f"{p_all:.3f}"]  # (0.5 - 0.1 + 0 - 0.2) / 4
    assert rows["easy"][:2] == ["2", "+0.2000"] and rows["hard"][:2] == ["2", "-0.1000"]
    assert rows["all"][4] == "+0.1500" and rows["hard"][4] == "+0.3500" and rows["easy"][4] == "-0.0500"
    assert [rows[s][-1] for s in ("all", "hard", "easy")] == ["yes", "no", "no"]
    res = _run(EXAMPLES / "dev_agreement.py", "--dev-base", tmp_path / "none.json", "--dev-a", a1, "--dev-b", b,
               "--real-base", base, "--real-a", a1, "--real-b", b)
    assert res.returncode == 2 and "none.json" in res.stderr and "Traceback" not in res.stderr

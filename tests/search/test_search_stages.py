"""The library entry points of search, index, eval and compare, called directly (no Typer), each checked
against an independent path to the same numbers: bm25s's own retrieve, sentence-transformers' encode with
pytrec_eval, scipy's paired t-test."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from synrank.errors import ConfigError, InputError

DOCS = {
    "d1": "The quick brown fox jumps over the lazy dog",
    "d2": "A fox is a small omnivorous mammal; the fox hunts at night",
    "d3": "Dogs are loyal animals and dogs love long walks",
    "d4": "Quantum computers use qubits for computation",
    "d5": "The lazy cat sleeps all day while the dog barks",
    "d6": "Night animals such as owls and foxes hunt small mammals",
}
QUERIES = {"q1": "lazy dog", "q2": "fox hunting at night", "q3": "quantum qubits"}
QRELS = {"q1": {"d1": 2, "d5": 1}, "q2": {"d2": 1, "d6": 1}, "q3": {"d4": 1}}


def _write(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d, "text": t}) + "\n" for d, t in DOCS.items()))
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"{q}\t{t}\n" for q, t in QUERIES.items()))
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, docs in QRELS.items() for d, g in docs.items()))
    return corpus, queries, qrels


# --- search ---------------------------------------------------------------------------------------------------


def test_search_run_bm25_matches_bm25s_and_resumes(tmp_path):
    import bm25s
    import Stemmer

    from synrank.search import SearchConfig, run

    corpus, queries, _ = _write(tmp_path)
    out = tmp_path / "cands.jsonl"
    cfg = SearchConfig(source=str(corpus), queries=str(queries), bm25=True, k=len(DOCS), out=out, no_cache=True)
    result = run(cfg)
    assert (result.queries, result.searched, result.resumed, result.format) == (3, 3, 0, "jsonl")
    got = {r["query_id"]: {c["doc_id"]: c["score"] for c in r["candidates"]} for r in map(json.loads, out.read_text().splitlines())}

    # Reference: bm25s's own retrieve (Lucene BM25, k1=0.9, b=0.4, English stopwords and Snowball stemmer).
    stemmer = Stemmer.Stemmer("english")
    ids = list(DOCS)
    bm = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
    bm.index(bm25s.tokenize(list(DOCS.values()), stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    res, scores = bm.retrieve(
        bm25s.tokenize(list(QUERIES.values()), stopwords="en", stemmer=stemmer, show_progress=False), k=len(DOCS), show_progress=False
    )
    for row, qid in enumerate(QUERIES):
        want = {ids[int(i)]: float(s) for i, s in zip(res[row], scores[row]) if s > 0}  # Lucene keeps matching docs only
        assert got[qid].keys() == want.keys()
        assert [got[qid][d] for d in want] == pytest.approx(list(want.values()), abs=1e-5)

    # Same settings: nothing left to search, the file is unchanged.
    before = out.read_bytes()
    again = run(cfg)
    assert (again.searched, again.resumed) == (0, 3) and out.read_bytes() == before
    # Other settings never mix with the file: refused, then started over with overwrite.
    other = SearchConfig(source=str(corpus), queries=str(queries), bm25=True, k=1, out=out, no_cache=True)
    with pytest.raises(ConfigError, match="different settings"):
        run(other)
    assert out.read_bytes() == before
    other.overwrite = True
    assert run(other).searched == 3
    assert all(len(json.loads(line)["candidates"]) == 1 for line in out.read_text().splitlines())


def test_search_bm25_resumes_after_the_corpus_is_copied_again(tmp_path):
    """A dataset copied afresh (same content, new mtime) gets a new BM25 cache folder, and resuming still works."""
    import os
    import shutil

    from synrank.search import SearchConfig, run

    corpus, queries, _ = _write(tmp_path)
    out, cache = tmp_path / "cands.jsonl", tmp_path / "cache"
    cfg = SearchConfig(source=str(corpus), queries=str(queries), bm25=True, k=3, out=out, cache_dir=str(cache))
    first = run(cfg)
    before = out.read_bytes()
    copy = tmp_path / "copy.jsonl"
    shutil.copyfile(corpus, copy)
    st = corpus.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    os.replace(copy, corpus)
    again = run(cfg)
    assert again.engine["cache"] != first.engine["cache"] and len(list(cache.iterdir())) == 2  # the cache was rebuilt
    assert (again.searched, again.resumed) == (0, 3) and out.read_bytes() == before


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [({"k": 0}, "k"), ({"chunk": 0}, "chunk"), ({"format": "xml"}, "format"), ({"format": "trec"}, "format"), ({"bm25": True, "stopwords": "fr"}, "stopwords"), ({"bm25": True, "b": 2.0}, "b")],
)
def test_search_config_refuses_bad_settings_by_name(kwargs, setting):
    from synrank.search import SearchConfig

    with pytest.raises(ConfigError) as err:
        SearchConfig(source="idx", queries="q.tsv", **kwargs)
    assert err.value.setting == setting


# --- index + eval ---------------------------------------------------------------------------------------------


def test_index_build_and_eval_run_match_brute_force(tmp_path, tiny_bi_encoder):
    import pytrec_eval
    from sentence_transformers import SentenceTransformer

    from synrank.evaluate import EvalConfig, run
    from synrank.index import IndexConfig, build

    corpus, queries, qrels = _write(tmp_path)
    idx = tmp_path / "idx"
    cfg = IndexConfig(corpus=str(corpus), out=idx, model=str(tiny_bi_encoder), dtype="fp32", chunk_size=4)
    built = build(cfg)
    assert (built.documents, built.chunks_encoded, built.chunks_reused) == (6, 2, 0)
    assert built.manifest["documents"] == 6 and built.model["dimension"] == 32
    # The same settings again: the finished index is kept as it is (nothing encoded, no file rewritten).
    files = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in idx.iterdir()}
    again = build(cfg)
    assert (again.documents, again.chunks_encoded, again.chunks_reused) == (6, 0, 0)
    assert {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in idx.iterdir()} == files
    # Other settings: refused, naming them, unless overwrite starts over.
    with pytest.raises(ConfigError, match=r"finished, made with different settings \(doc_prefix\)"):
        build(dataclasses.replace(cfg, doc_prefix="passage: "))
    assert build(dataclasses.replace(cfg, overwrite=True)).chunks_encoded == 2  # overwrite: made again

    res, run_file = tmp_path / "results.json", tmp_path / "run.trec"
    result = run(EvalConfig(index=idx, queries=str(queries), qrels=str(qrels), metrics="nDCG@10,RR,AP", k=6, dtype="fp32", out=res, run_out=run_file))

    # Reference: brute-force cosine search with sentence-transformers' encode, scored by pytrec_eval.
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    sims = model.encode(list(QUERIES.values()), normalize_embeddings=True) @ model.encode(list(DOCS.values()), normalize_embeddings=True).T
    ref_run = {q: {d: float(s) for d, s in zip(DOCS, row)} for q, row in zip(QUERIES, sims)}
    per = pytrec_eval.RelevanceEvaluator(QRELS, {"ndcg_cut_10", "recip_rank", "map"}).evaluate(ref_run)
    for ours, theirs in (("nDCG@10", "ndcg_cut_10"), ("RR", "recip_rank"), ("AP", "map")):
        assert result.aggregate[ours] == pytest.approx(np.mean([v[theirs] for v in per.values()]), abs=1e-4)
        for q in QUERIES:
            assert result.per_query[q][ours] == pytest.approx(per[q][theirs], abs=1e-4)
    assert result.num_queries == 3 and result.without_relevant == []
    assert json.loads(res.read_text())["aggregate"] == result.aggregate
    assert (tmp_path / "results.json.manifest.json").exists()
    assert run_file.read_text().count("\n") == 3 * 6


def test_eval_config_refuses_bad_settings_by_name(tmp_path):
    from synrank.evaluate import EvalConfig

    cases = [({}, "dataset"), ({"queries": "q.tsv"}, "qrels"), ({"dataset": "d", "queries": "q", "qrels": "r"}, "dataset"),
             ({"dataset": "d", "metrics": "MRR"}, "metrics"), ({"dataset": "d", "k": 0}, "k"),
             ({"dataset": "d", "out": tmp_path / "x", "run_out": tmp_path / "x"}, "run_out")]
    for kwargs, setting in cases:
        with pytest.raises(ConfigError) as err:
            EvalConfig(index=tmp_path, **kwargs)
        assert err.value.setting == setting, kwargs


# --- compare --------------------------------------------------------------------------------------------------


def _results_file(path, values):
    per_query = {f"q{i}": {"nDCG@10": float(v)} for i, v in enumerate(values)}
    path.write_text(json.dumps({"aggregate": {"nDCG@10": float(np.mean(values))}, "per_query": per_query}))
    return str(path)


def test_compare_run_report_matches_scipy_and_renders(tmp_path):
    from scipy import stats

    from synrank.compare import CompareConfig, run

    rng = np.random.default_rng(7)
    base = rng.uniform(0, 1, 40).round(3)
    better = np.clip(base + rng.normal(0.08, 0.1, 40), 0, 1).round(3)
    better[:5] = base[:5]  # five ties
    a, b = _results_file(tmp_path / "base.json", base), _results_file(tmp_path / "kd.json", better)
    out = tmp_path / "table.md"
    report = run(CompareConfig(inputs=[a, b], test="t-test", correction="none", format="md", out=out, resamples=500))

    cell = report.comparison.cells[1][0]
    assert cell.p_value == pytest.approx(stats.ttest_rel(better, base).pvalue, rel=1e-9)
    assert cell.delta == pytest.approx(float(np.mean(better - base)))
    d = better - base
    assert (cell.wins, cell.ties, cell.losses) == (int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum()))
    assert report.baseline == "base" and [s["name"] for s in report.inputs] == ["base", "kd"]
    # Computed once, rendered many ways; the file written is the Markdown rendering, with its manifest.
    assert out.read_text() == report.render("markdown")
    assert json.loads((tmp_path / "table.md.manifest.json").read_text())["kind"] == "compare"
    rows = report.render("csv").splitlines()
    assert rows[0].startswith("system,metric") and len(rows) == 3
    assert json.loads(report.render("json"))["systems"][1]["metrics"]["nDCG@10"]["p_value"] == pytest.approx(cell.p_value)
    assert "kd" in report.render("rich") and report.to_dict()["inputs"] == report.inputs


def test_compare_config_refuses_bad_settings_by_name(tmp_path, cli):
    from synrank.compare import CompareConfig

    a, b = _results_file(tmp_path / "a.json", [0.1, 0.2]), _results_file(tmp_path / "b.json", [0.3, 0.1])
    cases = [({"inputs": [a]}, "inputs"), ({"test": "anova"}, "test"), ({"name": ["x"]}, "name"),
             ({"resamples": 0}, "resamples"), ({"confidence": 1.5}, "confidence"), ({"plot": tmp_path / "p.gif"}, "plot")]
    for kwargs, setting in cases:
        with pytest.raises(ConfigError) as err:
            CompareConfig(**{"inputs": [a, b], **kwargs})
        assert err.value.setting == setting, kwargs
    assert CompareConfig(inputs=[a, b], test="Permutation", format="tex").test == "randomization"
    # The CLI names the flag the user typed, also where it differs from the setting's name.
    r = cli("compare", a, b, "--bootstrap", "0")
    assert r.code == 2 and r.stderr.startswith("synrank: error: --bootstrap: must be at least 1")
    r = cli("compare", a, b, "--ci", "2")
    assert r.code == 2 and r.stderr.startswith("synrank: error: --ci: must be between 0 and 1")

"""What a command prints comes from its result object, so Python users get the same report (hand-written lines)."""

from __future__ import annotations

from pathlib import Path

from synrank.evaluate.stage import EvalResult
from synrank.generate.config import GenerateResult
from synrank.score.stage import ScoreResult


def _generate_result(**kw):
    base = dict(
        task="queries", output_noun="queries", backend="llamacpp", out=Path("q.jsonl"), rejects=Path("r.jsonl"),
        manifest=None, inputs=10, inputs_done_before=0, records_written=9, accepted=9, rejected=1, retried=2,
        prompts=12, prompt_tokens=400, completion_tokens=90, load_seconds=1.0, generate_seconds=4.5,
    )
    return GenerateResult(**{**base, **kw})


def test_generate_line_counts_rejects_reasons_speed_and_cache():
    r = _generate_result(reject_reasons={"too_short": 1}, cached_prompt_tokens=100)
    assert r.line(3) == (
        "generated 9 queries, rejected 1 after 3 retries (too_short 1; see r.jsonl); "
        "90 tokens in 4.5s (20.0 tokens/s); 25% of prompt tokens reused from the engine's cache"
    )
    assert _generate_result(rejected=0, rejects=None).line(2) == "generated 9 queries, rejected 0 after 2 retries; 90 tokens in 4.5s (20.0 tokens/s)"


def test_score_lines_warn_when_every_query_is_filtered_out():
    summary = {"queries_in": 1200, "queries_out": 0, "removed": {"source_in_top": 700, "list_size": 500}}
    r = ScoreResult(records=[], summary=summary, out=Path("lists.jsonl"))
    assert r.lines() == [
        "1,200 queries in, 0 out; removed by filter: source_in_top: 700, list_size: 500",
        "warning: no query survived the filters; the output is empty (loosen --require-source-* or --drop-bottom-pct)",
        "wrote 0 training lists to lists.jsonl",
    ]
    quiet = ScoreResult(records=[{}], summary={"queries_in": 1, "queries_out": 1, "removed": {}}, out=None)
    assert quiet.lines() == ["1 queries in, 1 out; removed by filter: none"]


def test_eval_summary_is_the_stdout_record():
    r = EvalResult(dataset="scifact/test", model="minilm", aggregate={"nDCG@10": 0.5}, per_query={"1": {}, "2": {}},
                   without_relevant=[], record={})
    assert r.summary() == {"aggregate": {"nDCG@10": 0.5}, "num_queries": 2, "dataset": "scifact/test"}

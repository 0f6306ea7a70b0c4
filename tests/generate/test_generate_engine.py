"""Retries, duplicate rejection and seeds in the slot engine, with a scripted backend whose answers are
fixed per (slot, attempt) so every expected outcome is known in advance."""

from __future__ import annotations

import json

from synrank.generate.docs_task import DocsTask
from synrank.generate.engine import SlotEngine, attempt_seed
from synrank.generate.levels import default_definitions
from synrank.generate.pipeline import docs_units, run_units
from synrank.generate.templates import load_packaged
from synrank.llm.base import Completion, SamplingConfig


class ScriptedBackend:
    """Answers each request from ``script[(query_line, level, attempt)]``; records the seeds it saw."""

    name = "scripted"
    supports_prefix = True

    def __init__(self, script, seed=42):
        self.script = script
        self.seeds = []
        self.calls = 0
        self.seed = seed

    def generate(self, requests, sampling):
        self.calls += 1
        outs = []
        for r in requests:
            user = r.messages[-1]["content"]
            query = next(ln for ln in user.splitlines() if ln.startswith("Query:"))[7:]
            level = int(user.split("relevance to the query is grade ")[1][0])
            self.seeds.append(r.seed)
            attempt = [attempt_seed(self.seed, f"{query}-L{level}-0", a) for a in range(5)].index(r.seed)
            text = self.script.get((query, level, attempt), 'ok"}')
            outs.append(Completion(text=text, completion_tokens=len(text.split()), finish_reason="stop"))
        return outs

    def info(self):
        return {"backend": self.name}

    def close(self):
        pass


def _task(levels=2):
    return DocsTask(load_packaged("docs"), levels, 1, default_definitions(levels))


class Sink(list):
    def write(self, record):
        self.append(json.loads(json.dumps(record)))


def test_retry_fixes_bad_json_and_duplicates_then_rejects():
    script = {
        ("q1", 1, 0): 'A passage about goldfish growing in ponds."}',
        ("q1", 0, 0): 'A passage about goldfish growing in ponds!"}',  # near-duplicate of level 1 -> retried
        ("q1", 0, 1): 'Tax rules for small businesses in Ohio."}',  # accepted on attempt 2
        ("q2", 1, 0): "not json at all",
        ("q2", 1, 1): '{"passage": ""}',
        ("q2", 1, 2): '"}',  # prefix + this = empty passage: rejected after 3 attempts
        ("q2", 0, 0): 'A passage about goldfish growing in ponds."}',  # same text as q1's, other query: fine
    }
    backend = ScriptedBackend(script)
    engine = SlotEngine(backend, SamplingConfig(seed=42), max_retries=2)
    out, rejects = Sink(), Sink()
    task = _task()
    run_units(task, docs_units([("q1", "q1"), ("q2", "q2")], task, (0, 1), set()), engine, out, rejects, meta={"m": 1}, chunk_prompts=100)
    assert [r["query_id"] for r in out] == ["q1", "q2"]
    q1, q2 = out
    assert [(d["doc_id"], d["level"], d["text"]) for d in q1["documents"]] == [
        ("q1-L1-0", 1, "A passage about goldfish growing in ponds."),
        ("q1-L0-0", 0, "Tax rules for small businesses in Ohio."),
    ]
    assert q1["meta"] == {"m": 1, "rejected": 0, "attempts": 3}
    assert [d["doc_id"] for d in q2["documents"]] == ["q2-L0-0"] and q2["meta"]["rejected"] == 1
    assert len(rejects) == 1
    rej = rejects[0]
    assert rej["slot"] == "q2-L1-0" and rej["unit"] == "q2" and rej["attempts"] == 3 and rej["level"] == 1
    # prefix + 'not json at all' is an unterminated object; the 2nd answer holds an object with an empty passage
    assert rej["reasons"] == ["bad JSON in the answer", "empty output", "empty output"]
    assert rej["raw"] == '{"passage": "' + '"}'
    # All slots of the chunk went in one call per attempt: 3 calls (attempts 0, 1, 2).
    assert backend.calls == 3
    assert engine.stats.accepted == 3 and engine.stats.rejected == 1 and engine.stats.retried == 3


def test_seeds_differ_per_slot_and_attempt_and_follow_the_base_seed():
    seeds = {attempt_seed(42, f"q-L{lvl}-0", a) for lvl in range(4) for a in range(3)}
    assert len(seeds) == 12
    assert attempt_seed(42, "x", 0) == attempt_seed(42, "x", 0) != attempt_seed(43, "x", 0)


def test_done_queries_are_skipped():
    task = _task()
    units = list(docs_units([("q1", "a"), ("q2", "b"), ("q3", "c")], task, (0, 1), {"q2"}))
    assert [u.key for u in units] == ["q1", "q3"]


def test_too_short_answers_are_retried_then_rejected():
    script = {("q1", 1, 0): 'Goldfish."}', ("q1", 1, 1): 'Goldfish grow as long as they live, up to thirty centimetres."}', ("q1", 0, 0): 'Tax."}', ("q1", 0, 1): 'Tax."}'}
    engine = SlotEngine(ScriptedBackend(script), SamplingConfig(seed=42), max_retries=1, min_words=5)
    task = _task()
    results = engine.run(task.slots("q1", "q1"))
    assert results[0].text.startswith("Goldfish grow") and results[0].attempts == 2
    assert results[1].text is None and results[1].reasons == ["too short (1 words, --min-words 5)"] * 2

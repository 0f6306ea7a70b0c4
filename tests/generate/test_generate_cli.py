"""`synrank generate` end to end on a tiny random Llama (real transformers generation, seconds):
record layout, rejects, resume, shards and merge, the queries task, and bad input."""

from __future__ import annotations

import json
import socket


from helpers import read_jsonl

FAST = ("--max-new-tokens", "8", "--min-words", "1", "--device", "cpu", "--dtype", "fp32", "--threads", "1")


def _gen(cli, tiny_llama, *args):
    return cli("generate", "--model", tiny_llama, "--backend", "transformers", *FAST, *args)


def test_docs_records_ids_levels_meta_and_manifest(cli, tiny_llama, queries_tsv, text_docs_template, tmp_path):
    out = tmp_path / "synth.jsonl"
    r = _gen(cli, tiny_llama, "--template", text_docs_template, "--levels", "3", "--docs-per-level", "2", "--limit", "2",
             "--temperature", "1.0", "--seed", "11", queries_tsv, "--out", out)
    assert r.code == 0, r.stderr
    assert r.stdout == ""  # data went to --out
    records = read_jsonl(out)
    qids = [line.split("\t")[0] for line in queries_tsv.read_text().splitlines()[:2]]
    assert [rec["query_id"] for rec in records] == qids
    for rec in records:
        assert rec["query"] and set(rec) == {"query_id", "query", "documents", "meta"}
        ids = [d["doc_id"] for d in rec["documents"]]
        assert len(set(ids)) == len(ids)
        for d in rec["documents"]:
            assert d["doc_id"] == f"{rec['query_id']}-L{d['level']}-{d['doc_id'].rsplit('-', 1)[1]}"
            assert d["text"].strip() == d["text"] and d["text"]
        assert [d["level"] for d in rec["documents"]] == sorted((d["level"] for d in rec["documents"]), reverse=True)
        meta = rec["meta"]
        assert meta["temperature"] == 1.0 and meta["seed"] == 11 and meta["max_new_tokens"] == 8 and meta["levels"] == 3
    manifest = json.loads((tmp_path / "synth.jsonl.manifest.json").read_text())
    assert manifest["kind"] == "generate"
    assert manifest["config"]["sampling"] == {"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 8, "seed": 11}
    assert manifest["config"]["level_definitions"]["2"].startswith("perfectly relevant")
    assert manifest["stats"]["prompts"] >= 12 and manifest["stats"]["completion_tokens"] > 0


def test_stdout_when_no_out(cli, tiny_llama, queries_tsv, text_docs_template):
    r = _gen(cli, tiny_llama, "--template", text_docs_template, "--levels", "2", "--limit", "1", queries_tsv)
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["documents"]


def test_garbage_output_goes_to_rejects_without_crashing(cli, tiny_llama, queries_tsv, tmp_path):
    """The packaged JSON template on a random model: nothing parses; every slot is retried, then rejected."""
    out = tmp_path / "synth.jsonl"
    r = _gen(cli, tiny_llama, "--levels", "2", "--limit", "2", "--max-retries", "1", queries_tsv, "--out", out)
    assert r.code == 0, r.stderr
    assert read_jsonl(out) == []
    rejects = read_jsonl(tmp_path / "synth.jsonl.rejects.jsonl")
    assert len(rejects) == 4
    for rej in rejects:
        assert rej["task"] == "docs" and rej["attempts"] == 2 and len(rej["reasons"]) == 2
        assert rej["raw"].startswith('{"passage": "')  # the prefix + what the model wrote
        assert any(k in rej["reasons"][0] for k in ("cut off", "bad JSON", "empty", "no string field"))
    assert "rejected 4" in r.stderr
    # A re-run treats rejected queries as done: nothing is generated again.
    again = _gen(cli, tiny_llama, "--levels", "2", "--limit", "2", "--max-retries", "1", queries_tsv, "--out", out)
    assert again.code == 0 and "generated 0 passages, rejected 0" in again.stderr
    assert len(read_jsonl(tmp_path / "synth.jsonl.rejects.jsonl")) == 4


def test_resume_skips_done_and_repairs_a_partial_line(cli, tiny_llama, queries_tsv, text_docs_template, tmp_path):
    out = tmp_path / "synth.jsonl"
    args = ("--template", text_docs_template, "--levels", "2", queries_tsv, "--out", out)
    first = _gen(cli, tiny_llama, "--limit", "3", *args)
    assert first.code == 0, first.stderr
    done = read_jsonl(out)
    assert len(done) == 3
    first_manifest = (tmp_path / "synth.jsonl.manifest.json").read_text()
    # Simulate kill -9 in the middle of writing the 4th record.
    with open(out, "a", encoding="utf-8") as fh:
        fh.write('{"query_id": "half-writ')
    second = _gen(cli, tiny_llama, *args)
    assert second.code == 0, second.stderr
    assert "resuming" in second.stderr
    records = read_jsonl(out)
    ids = [r["query_id"] for r in records]
    assert len(ids) == len(set(ids)) == 6
    assert records[:3] == done  # earlier records untouched, not regenerated
    # The manifest describes the whole file, not only the last run (it once said 0 prompts after a no-op resume).
    stats = json.loads((tmp_path / "synth.jsonl.manifest.json").read_text())
    assert stats["stats"]["records_written"] == 6 and stats["stats"]["runs"] == 2
    assert stats["stats_last_run"]["records_written"] == 3
    assert stats["stats"]["prompts"] == stats["stats_last_run"]["prompts"] + json.loads(first_manifest)["stats"]["prompts"]


def test_resume_refuses_different_options(cli, tiny_llama, queries_tsv, text_docs_template, tmp_path):
    out = tmp_path / "synth.jsonl"
    assert _gen(cli, tiny_llama, "--template", text_docs_template, "--levels", "2", "--limit", "1", queries_tsv, "--out", out).code == 0
    r = _gen(cli, tiny_llama, "--template", text_docs_template, "--levels", "3", "--limit", "1", queries_tsv, "--out", out)
    assert r.code == 2
    assert "made with different settings (level_definitions, levels)" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _gen(cli, tiny_llama, "--template", text_docs_template, "--levels", "3", "--limit", "1", queries_tsv, "--out", out, "--overwrite")
    assert r.code == 0 and read_jsonl(out)[0]["meta"]["levels"] == 3


def test_shards_cover_every_query_once_and_merge(cli, tiny_llama, queries_tsv, text_docs_template, tmp_path):
    parts = []
    for i in range(3):
        part = tmp_path / f"part{i}.jsonl"
        r = _gen(cli, tiny_llama, "--template", text_docs_template, "--levels", "2", "--shard", f"{i}/3", queries_tsv, "--out", part)
        assert r.code == 0, r.stderr
        parts.append(part)
    merged = tmp_path / "all.jsonl"
    r = cli("generate", "--merge", *parts, "--out", merged)
    assert r.code == 0, r.stderr
    ids = [rec["query_id"] for rec in read_jsonl(merged)]
    expected = [line.split("\t")[0] for line in queries_tsv.read_text().splitlines()]
    assert sorted(ids) == sorted(expected)
    # The same shard twice is caught.
    non_empty = next(p for p in parts if p.read_text().strip())
    r = cli("generate", "--merge", non_empty, non_empty)
    assert r.code == 2 and "already in" in r.stderr and f"{non_empty}:1" in r.stderr


def test_queries_task_types_examples_and_ids(cli, tiny_llama, scifact_dir, tmp_path):
    tpl = tmp_path / "faq.txt"
    tpl.write_text("# task: queries\n# output: text\n### user\n{{examples}}Passage: {{title}} {{passage}}\nWrite a {{type}}.\n", encoding="utf-8")
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"passage": "Cats sleep.", "query": "do cats sleep"}\n{"passage": "Dogs bark.", "query": "why dogs bark", "type": "faq"}\n', encoding="utf-8")
    out = tmp_path / "q.jsonl"
    r = _gen(cli, tiny_llama, "--task", "queries", "--types", "faq,short", "--template", f"faq={tpl}", "--template", f"short={tpl}",
             "--per-doc", "2", "--examples", examples, "--limit", "3", "--temperature", "1.0", scifact_dir, "--out", out)
    assert r.code == 0, r.stderr
    records = read_jsonl(out) + [
        {"query_id": j["slot"], "type": j["type"], "source_doc_id": j["unit"]} for j in read_jsonl(tmp_path / "q.jsonl.rejects.jsonl")
    ] if (tmp_path / "q.jsonl.rejects.jsonl").exists() else read_jsonl(out)
    first_docs = [json.loads(line)["_id"] for line in (scifact_dir / "corpus.jsonl").read_text().splitlines()[:3]]
    expected = {f"{d}-{t}-{i}" for d in first_docs for t in ("faq", "short") for i in range(2)}
    assert {r_["query_id"] for r_ in records} == expected  # every slot either written or rejected
    for rec in read_jsonl(out):
        assert set(rec) == {"query_id", "text", "type", "source_doc_id"}
        assert rec["query_id"] == f"{rec['source_doc_id']}-{rec['type']}-{rec['query_id'].rsplit('-', 1)[1]}"
    dry = cli("generate", "--task", "queries", "--types", "faq", "--template", f"faq={tpl}", "--examples", examples, "--num-examples", "2", "--dry-run", scifact_dir)
    assert dry.code == 0 and "Examples of passages and good queries" in dry.stdout and "Query: why dogs bark" in dry.stdout


def test_unknown_query_type(cli, scifact_dir):
    r = cli("generate", "--task", "queries", "--types", "question,riddle", scifact_dir)
    assert r.code == 2
    assert "unknown query type 'riddle'" in r.stderr and "--template riddle=FILE" in r.stderr


def test_list_templates_and_dry_run(cli, queries_tsv):
    r = cli("generate", "--list-templates")
    assert r.code == 0 and "docs" in r.stdout and "queries-search" in r.stdout
    r = cli("generate", "--dry-run", "--levels", "4", queries_tsv)
    assert r.code == 0
    assert r.stdout.count("=====") == 4 and "3 = perfectly relevant" in r.stdout and '{"passage": "' in r.stdout


def _one_error_line(r, *needles):
    assert r.code == 2, (r.code, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synrank: error: "), r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_input_missing_file(cli, tmp_path):
    _one_error_line(cli("generate", tmp_path / "nope.tsv"), "nope.tsv", "file not found")


def test_bad_input_malformed_tsv_line(cli, tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("1\tfine query\n2\tbad\textra column\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    _one_error_line(cli("generate", p, "--out", out), f"{p}:2", "2 tab-separated columns")
    assert not out.exists()  # nothing half-written


def test_bad_input_malformed_jsonl_corpus(cli, tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n', encoding="utf-8")
    _one_error_line(cli("generate", "--task", "queries", p), f"{p}:2", "bad JSON")


def test_bad_input_unknown_template_placeholder(cli, queries_tsv, tmp_path):
    t = tmp_path / "t.txt"
    t.write_text("# task: docs\n### user\n{{query}}\n{{nonsense}}\n", encoding="utf-8")
    _one_error_line(cli("generate", "--template", t, queries_tsv), f"{t}:4", "{{nonsense}}")


def test_bad_input_level_definitions(cli, queries_tsv, tmp_path):
    d = tmp_path / "defs.json"
    d.write_text('{"1": "yes"}', encoding="utf-8")
    _one_error_line(cli("generate", "--levels", "2", "--level-definitions", d, queries_tsv), str(d), "no definition for level(s) 0")


def test_server_unreachable(cli, queries_tsv, tmp_path, monkeypatch):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MY_KEY", "sk-secret-value-123")
    out = tmp_path / "o.jsonl"
    r = cli("generate", "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m", "--api-key-env", "MY_KEY",
            "--http-retries", "2", "--limit", "1", queries_tsv, "--out", out)
    _one_error_line(r, f"127.0.0.1:{port}", "unreachable", "after 2 attempts")
    assert "sk-secret" not in r.stderr
    # Issue 31.12: a run that wrote no record leaves no empty output, manifest or stamp behind.
    assert not list(tmp_path.glob("*o.jsonl*"))


def test_bad_options(cli, queries_tsv):
    _one_error_line(cli("generate", "--levels", "1", queries_tsv), "--levels: must be between 2 and 10")
    _one_error_line(cli("generate", "--shard", "3/3", queries_tsv), "--shard: 3/3")
    _one_error_line(cli("generate", "--task", "poems", queries_tsv), "unknown task 'poems'")
    _one_error_line(cli("generate", "--backend", "openai", queries_tsv), "needs --base-url")
    _one_error_line(cli("generate"), "missing input")

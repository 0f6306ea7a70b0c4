"""The bundled SmolLM2-135M-Instruct (GGUF, loaded offline) writing graded passages for real TREC DL
2019 queries: the packaged prompt and its JSON prefix must give parseable answers from a real model."""

from __future__ import annotations

import json

import pytest

from helpers import head_file, read_jsonl


@pytest.mark.slow
def test_smollm2_graded_passages_for_real_queries(cli, smollm2_gguf, msmarco_dir, tmp_path):
    queries = head_file(msmarco_dir / "dl19-queries.tsv", 2, tmp_path / "q.tsv")
    lines = queries.read_text(encoding="utf-8").splitlines()
    out = tmp_path / "synth.jsonl"
    r = cli("generate", "--model", "smollm2", "--backend", "transformers", "--levels", "4", "--max-new-tokens", "140", "--max-retries", "2", "--seed", "1", "--threads", "1",
            str(queries), "--out", out)
    assert r.code == 0, r.stderr
    assert "tiny test model" in r.stderr  # smollm2 says what it is
    records = read_jsonl(out)
    rejects_path = tmp_path / "synth.jsonl.rejects.jsonl"
    rejects = read_jsonl(rejects_path) if rejects_path.exists() else []
    passages = [d for rec in records for d in rec["documents"]]
    # 2 queries x 4 levels: every slot is accounted for, and most parse from a 135M model (the rest loop
    # until the token limit or answer with the query itself, and are rejected as designed).
    assert len(passages) + len(rejects) == 8
    assert len(passages) >= 5, json.dumps(rejects, indent=1)[:3000]
    for rec in records:
        assert rec["query"] in {line.split("\t")[1] for line in lines}
        levels = [d["level"] for d in rec["documents"]]
        assert levels == sorted(levels, reverse=True) and set(levels) <= {0, 1, 2, 3}
        for d in rec["documents"]:
            assert len(d["text"].split()) >= 10 and '"passage"' not in d["text"]
    manifest = json.loads((tmp_path / "synth.jsonl.manifest.json").read_text())
    assert manifest["backend"]["weights"].endswith(".gguf") and manifest["backend"]["dtype"] == "fp32"
    assert manifest["stats"]["completion_tokens"] > 100

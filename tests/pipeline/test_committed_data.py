"""The generated SciFact data committed under examples/data/scifact/ is what `scifact_results.sh SKIP_GENERATE=1`
needs: valid input for `synrank check`, made from the inputs and sizes the scripts use by default.

If a script default changes (passages, queries, generator), this fails until the data is regenerated, so the
committed files cannot silently stop matching the figures of docs/results.md.
"""

from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path

from helpers import read_jsonl

from synrank.formats.manifest import manifest_path_for, read_manifest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data" / "scifact"
SCRIPT = REPO / "examples" / "scifact_results.sh"


def _script_default(name: str) -> int:
    match = re.search(rf'^{name}="\$\{{{name}:-(\d+)\}}"', SCRIPT.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"{name} default not found in {SCRIPT}"
    return int(match.group(1))


def test_committed_queries_cover_the_scripts_first_passages(cli, scifact_dir):
    path = DATA / "queries.jsonl"
    assert cli("check", "--queries", path).code == 0
    n_passages = _script_default("N_PASSAGES")
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as corpus:
        first = [json.loads(line)["_id"] for line in islice(corpus, n_passages)]
    sources = {r["source_doc_id"] for r in read_jsonl(path)}
    assert sources == set(first)
    manifest = read_manifest(manifest_path_for(path))
    assert manifest["model"] == "qwen2.5-coder-0.5b"
    assert f"--limit {n_passages} " in manifest["command"]


def test_committed_sycl_documents_are_for_the_scripts_first_queries(cli, msmarco_dir):
    path = DATA / "sycl-docs.jsonl"
    assert cli("check", "--queries", path).code == 0
    n_queries = _script_default("N_QUERIES")
    lines = (msmarco_dir / "dev-small-queries.tsv").read_text(encoding="utf-8").splitlines()[:n_queries]
    records = read_jsonl(path)
    assert [r["query_id"] for r in records] == [line.split("\t", 1)[0] for line in lines]
    levels = [d["level"] for r in records for d in r["documents"]]
    assert set(levels) == {0, 1, 2, 3}
    manifest = read_manifest(manifest_path_for(path))
    assert manifest["model"] == "qwen2.5-coder-0.5b"
    assert manifest["stats"]["records_written"] == len(records)
    assert manifest["stats"]["accepted"] == len(levels)


def test_doubled_query_set_extends_the_committed_one(cli, scifact_dir):
    # queries-640.jsonl resumed queries.jsonl with --limit 640: the same queries first, then abstracts 321-640.
    path = DATA / "queries-640.jsonl"
    assert cli("check", "--queries", path).code == 0
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as corpus:
        first = [json.loads(line)["_id"] for line in islice(corpus, 640)]
    records = read_jsonl(path)
    assert {r["source_doc_id"] for r in records} == set(first)
    smaller = (DATA / "queries.jsonl").read_text(encoding="utf-8")
    assert path.read_text(encoding="utf-8").startswith(smaller)
    manifest = read_manifest(manifest_path_for(path))
    assert manifest["model"] == "qwen2.5-coder-0.5b"
    assert "--limit 640 " in manifest["command"]
    assert manifest["stats_last_run"]["records_written"] == len(records) - smaller.count("\n")

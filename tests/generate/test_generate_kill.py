"""`kill -9` in the middle of a real `synrank generate` process, then the same command again:
nothing lost, nothing duplicated, earlier records untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from helpers import head_file, read_jsonl, start_until_lines


@pytest.mark.slow
def test_kill_9_then_resume(tiny_llama, text_docs_template, msmarco_dir, tmp_path):
    queries = head_file(msmarco_dir / "dev-small-queries.tsv", 20, tmp_path / "q.tsv")
    lines = queries.read_text(encoding="utf-8").splitlines()
    out = tmp_path / "synth.jsonl"
    cmd = [sys.executable, "-m", "synrank", "generate", "--model", str(tiny_llama), "--backend", "transformers",
           "--template", str(text_docs_template), "--levels", "2", "--max-new-tokens", "32", "--min-words", "1", "--chunk-size", "2",
           "--device", "cpu", "--dtype", "fp32", "--threads", "1", str(queries), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = start_until_lines(cmd, out, timeout=180, env=env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = out.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    kept = [line for line in complete.decode().splitlines() if line.strip()]
    assert 3 <= len(kept) < 20

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    records = read_jsonl(out)
    ids = [r["query_id"] for r in records]
    assert len(ids) == len(set(ids)) == 20
    assert sorted(ids) == sorted(line.split("\t")[0] for line in lines)
    assert out.read_text(encoding="utf-8").splitlines()[: len(kept)] == kept  # the killed run's records stay as they were

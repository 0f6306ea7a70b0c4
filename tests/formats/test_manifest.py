"""Manifests record what ran, never secrets."""

from __future__ import annotations

import json
import sys

from synrank.formats.manifest import make_manifest, manifest_path_for, redact_argv, write_manifest


def test_redact_argv_hides_secret_values_keeps_env_names():
    argv = ["synrank", "generate", "--api-key", "sk-abc123", "--token=hf_secret", "--api-key-env", "OPENAI_API_KEY", "--model", "m", "Bearer xyz"]
    out = redact_argv(argv)
    joined = " ".join(out)
    assert "sk-abc123" not in joined and "hf_secret" not in joined and "xyz" not in joined
    assert "--api-key-env OPENAI_API_KEY" in joined and "--model m" in joined


def test_redact_argv_keeps_numbers_of_options_that_merely_contain_a_secret_word():
    # A manifest must say what ran: --max-new-tokens 64 was once recorded as "--max-new-tokens ***".
    argv = ["synrank", "generate", "--max-new-tokens", "64", "--batch-tokens=4096", "--max-passage-tokens", "256",
            "--hf-token", "abc", "--auth-header", "xyz", "--secret=s3"]
    assert redact_argv(argv) == ["synrank", "generate", "--max-new-tokens", "64", "--batch-tokens=4096",
                                 "--max-passage-tokens", "256", "--hf-token", "***", "--auth-header", "***", "--secret=***"]


def test_manifest_content_and_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["synrank", "index", "c.jsonl", "--hf-token", "hf_zzz"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-should-not-appear")
    m = make_manifest("index", model={"name": "minilm"}, config={"factory": "Flat"})
    assert m["kind"] == "index" and m["versions"]["synrank"] and "torch" in m["versions"]
    assert m["command"] == "synrank index c.jsonl --hf-token ***"
    write_manifest(m, tmp_path / "manifest.json")
    text = (tmp_path / "manifest.json").read_text()
    assert "sk-live" not in text and "hf_zzz" not in text
    assert json.loads(text)["config"] == {"factory": "Flat"}
    assert manifest_path_for(tmp_path / "out.jsonl") == tmp_path / "out.jsonl.manifest.json"
    assert manifest_path_for(tmp_path) == tmp_path / "manifest.json"


def test_url_credentials_and_query_strings_are_redacted_everywhere(tmp_path, monkeypatch):
    from synrank.formats.manifest import redact_text, redact_url

    assert redact_url("https://bob:pw@api.example.com/v1?api_key=zz#frag") == "https://***@api.example.com/v1?***#***"
    assert redact_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"  # nothing secret: unchanged
    assert redact_text("cannot reach 'https://k@h/v1?x=1' (refused)") == "cannot reach 'https://***@h/v1?***' (refused)"
    url = "https://bob:hunter2@api.example.com/v1?key=SECRET123"
    monkeypatch.setattr(sys, "argv", ["synrank", "generate", "--base-url", url, f"--base-url={url}"])
    m = make_manifest("generate", backend={"base_url": url, "nested": [url]}, config={"u": url})
    write_manifest(m, tmp_path / "m.json")
    text = (tmp_path / "m.json").read_text()
    assert "hunter2" not in text and "SECRET123" not in text
    assert json.loads(text)["backend"]["base_url"] == "https://***@api.example.com/v1?***"
    assert "api.example.com/v1" in json.loads(text)["command"]


def test_cli_errors_and_log_lines_hide_url_secrets(capfd, tmp_path):
    from synrank.cli.common import info
    from synrank.cli.main import main

    (tmp_path / "q.tsv").write_text("1\tq\n")
    info("using https://user:pw@h.example/v1?token=abc")
    assert capfd.readouterr().err.strip() == "using https://***@h.example/v1?***"
    code = main(["generate", "--task", "docs", str(tmp_path / "q.tsv"), "--backend", "openai", "--base-url", "ftp://u:pw@h/v1?k=SECRET9", "--model", "m"])
    err = capfd.readouterr().err
    assert code == 2 and "SECRET9" not in err and ":pw@" not in err and "ftp://***@h/v1?***" in err

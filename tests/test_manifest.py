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

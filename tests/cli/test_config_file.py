"""`--config FILE` / `--print-config` on every command, and `synrank.config.from_file` for Python."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import yaml

from synrank.config import STAGES, from_file
from synrank.formats.runs import read_trec_run
from synrank.train.config import TrainConfig


def _printed(res, command):
    assert res.code == 0, res.stderr
    return yaml.safe_load(res.stdout)[command]


def test_flags_win_over_the_file_and_the_file_over_defaults(cli, tmp_path):
    recipe = tmp_path / "r.yaml"
    # 1e-5 without a dot is a string to PyYAML (YAML 1.1): it must still be read as a number.
    recipe.write_text("train:\n  lr: 1e-5\n  group_size: 8\n  in_batch: false\nscore:\n  list_size: 7\n", encoding="utf-8")
    base = ("train", tmp_path / "lists.jsonl", "--out", tmp_path / "m", "--config", recipe, "--print-config")
    cfg = _printed(cli(*base), "train")
    assert (cfg["lr"], cfg["group_size"], cfg["in_batch"]) == (1e-5, 8, False)
    cfg = _printed(cli(*base, "--lr", "1e-4", "--group-size", "4"), "train")
    assert (cfg["lr"], cfg["group_size"], cfg["in_batch"]) == (1e-4, 4, False)
    # The untouched settings keep the dataclass defaults.
    assert cfg["loss"] == TrainConfig.__dataclass_fields__["loss"].default
    # Each command reads only its own section.
    assert _printed(cli("score", tmp_path / "a.jsonl", "--config", recipe, "--print-config"), "score")["list_size"] == 7


def test_a_flat_json_file_and_the_printed_config_round_trip(cli, tmp_path):
    flat = tmp_path / "fuse.json"
    flat.write_text(json.dumps({"method": "minmax", "top": 5}), encoding="utf-8")
    args = ("fuse", "a.trec", "b.trec", "--out", tmp_path / "f.trec")
    printed = cli(*args, "--config", flat, "--print-config")
    cfg = _printed(printed, "fuse")
    assert (cfg["method"], cfg["top"]) == ("minmax", 5)
    again = tmp_path / "again.yaml"
    again.write_text(printed.stdout, encoding="utf-8")  # --print-config's output is itself a recipe
    assert _printed(cli(*args, "--config", again, "--print-config"), "fuse") == cfg


def test_the_manifest_records_the_file_and_the_run_uses_it(cli, tmp_path):
    a = tmp_path / "a.trec"
    b = tmp_path / "b.trec"
    a.write_text("q1 Q0 d1 1 9.0 A\nq1 Q0 d2 2 7.5 A\n", encoding="utf-8")
    b.write_text("q1 Q0 d2 1 3.0 B\nq1 Q0 d1 2 1.0 B\n", encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("fuse:\n  rrf_k: 10\n", encoding="utf-8")
    out = tmp_path / "f.trec"
    res = cli("fuse", a, b, "--out", out, "--config", recipe)
    assert res.code == 0, res.stderr
    assert read_trec_run(out)["q1"]["d1"] == pytest.approx(1 / 11 + 1 / 12)  # k = 10 from the file, by hand
    manifest = json.loads((tmp_path / "f.trec.manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["rrf_k"] == 10
    assert manifest["config_file"]["sha256"] == hashlib.sha256(recipe.read_bytes()).hexdigest()
    assert manifest["config_file"]["settings"] == {"rrf_k": 10}
    # A later command in the same process without --config records none.
    out2 = tmp_path / "g.trec"
    assert cli("fuse", a, b, "--out", out2).code == 0
    assert "config_file" not in json.loads((tmp_path / "g.trec.manifest.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  lrr: 1\n", "'lrr' is not a setting of TrainConfig (did you mean 'lr'?)"),
        ("train:\n  lr: fast\n", "'lr': 'fast' is not a valid number"),
        ("train:\n  group_size: 2.5\n", "'group_size': 2.5 is not a valid whole number"),
        ("train:\n  lr: [1\n", ":3: bad config file"),
        ("- 1\n- 2\n", "holds a mapping of settings, not a list"),
        ("train:\n  lr: 1\nlr: 2\n", "'lr' is not a command"),
        ("train:\n  lr: 1\nscore: 3\n", "section 'score' must be a mapping"),
    ],
)
def test_a_bad_file_is_one_line_naming_it(cli, tmp_path, text, message):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(text, encoding="utf-8")
    res = cli("train", tmp_path / "x.jsonl", "--out", tmp_path / "m", "--config", recipe)
    assert res.code == 2
    assert message in res.stderr and str(recipe) in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "m").exists()


def test_a_missing_file_and_an_output_path_ending_in_a_slash(cli, tmp_path):
    res = cli("train", "x.jsonl", "--out", tmp_path / "m", "--config", tmp_path / "nope.yaml")
    assert res.code == 2 and "config file not found" in res.stderr
    recipe = tmp_path / "r.yaml"
    recipe.write_text("out: newdir/\n", encoding="utf-8")
    res = cli("score", "a.jsonl", "--config", recipe, "--print-config")
    assert res.code == 2 and "ends with '/'" in res.stderr


def test_from_file_builds_the_config_in_python(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  lr: 2e-4\n  weight_decay: 0\n", encoding="utf-8")
    cfg = from_file(TrainConfig, recipe, "train", inputs=["l.jsonl"], out=tmp_path / "m", lr=3e-4)
    assert (cfg.lr, cfg.weight_decay, cfg.inputs) == (3e-4, 0.0, ["l.jsonl"])  # overrides win
    assert isinstance(cfg.weight_decay, float)


def test_no_mapping_setting_is_named_like_a_command():
    # A file is sectioned when a top-level key names a command and holds a mapping (score's `fuse: rrf` is a
    # plain value): a setting taking a mapping under such a name would be ambiguous.
    import typing
    from synrank.cli.main import app

    groups = [app] + [g.typer_instance for g in app.registered_groups]
    classes = {getattr(c.callback, "__synrank_config__", None) for g in groups for c in g.registered_commands} - {None}
    assert len(classes) >= 10
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name.replace("_", "-") in STAGES:
                assert typing.get_origin(hints[f.name]) is not dict and hints[f.name] is not dict, (cls.__name__, f.name)


def test_extends_starts_from_another_file_section_by_section(cli, tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "ref.yaml").write_text("train:\n  lr: 2e-4\n  group_size: 20\nscore:\n  list_size: 20\n", encoding="utf-8")
    cpu = tmp_path / "cpu.yaml"
    cpu.write_text("extends: base/ref.yaml\ntrain:\n  group_size: 8\n", encoding="utf-8")
    cfg = _printed(cli("train", "l.jsonl", "--out", tmp_path / "m", "--config", cpu, "--print-config"), "train")
    assert (cfg["lr"], cfg["group_size"]) == (2e-4, 8)
    assert _printed(cli("score", "a.jsonl", "--config", cpu, "--print-config"), "score")["list_size"] == 20
    loop = tmp_path / "loop.yaml"
    loop.write_text("extends: loop.yaml\n", encoding="utf-8")
    res = cli("score", "a.jsonl", "--config", loop, "--print-config")
    assert res.code == 2 and "leads back to itself" in res.stderr

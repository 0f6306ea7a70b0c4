"""One meaning of --overwrite and --resume: every stage config states it with the same words.

The table below is checked against the source (every config class declaring an ``overwrite`` or ``resume``
field must be in it), so a new stage cannot bring its own wording without this test failing."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from synrank.config import OVERWRITE_HELP, RESUME_HELP, default_of, help_of

SYNRANK = Path(__file__).resolve().parents[2] / "synrank"

# (module, class, field): every config that owns one of the two settings.
TABLE = [
    ("synrank.generate.config", "GenerateConfig", "overwrite"),
    ("synrank.search.stage", "SearchConfig", "overwrite"),
    ("synrank.score.stage", "ScoreConfig", "overwrite"),
    ("synrank.index.stage", "IndexConfig", "overwrite"),
    ("synrank.train.config", "TrainConfig", "overwrite"),
    ("synrank.train.config", "TrainConfig", "resume"),
]


def _declared() -> set[tuple[str, str, str]]:
    """(module, class, field) for every config field named overwrite/resume in synrank/ (commands aside)."""
    found = set()
    for path in SYNRANK.rglob("*.py"):
        rel = path.relative_to(SYNRANK.parent).with_suffix("")
        if rel.parts[1] == "cli":
            continue
        module = ".".join(rel.parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    # A config field is declared with a call (setting(...), overwrite_setting()); a plain
                    # attribute such as OutputTarget.resume (a ResumeState) is not a setting.
                    named = isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                    if named and item.target.id in ("overwrite", "resume") and isinstance(item.value, ast.Call):
                        found.add((module, node.name, item.target.id))
    return found


def test_the_table_holds_every_config_with_overwrite_or_resume():
    assert _declared() == set(TABLE)


@pytest.mark.parametrize("module,cls,name", TABLE, ids=[f"{c}.{n}" for _m, c, n in TABLE])
def test_help_is_the_shared_text(module, cls, name):
    config = getattr(importlib.import_module(module), cls)
    assert help_of(config, name) == {"overwrite": OVERWRITE_HELP, "resume": RESUME_HELP}[name]
    assert default_of(config, name) is False  # off unless asked: a re-run continues by default


def test_the_shared_text_states_the_rule():
    # What users must read in every command's --help (docs/formats.md, "Outputs, resume and --overwrite").
    words = " ".join(OVERWRITE_HELP.split()).lower()
    for promise in ("start over", "finished or partial", "same settings continues where it stopped", "other settings are refused", "never touches an input", "synrank did not write"):
        assert promise in words, promise
    assert "changes nothing" in RESUME_HELP and "--overwrite" in RESUME_HELP

"""The ```python blocks of docs/architecture.md run as they stand, in order, in an empty folder, so the
example a newcomer copies cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def test_block_extraction_finds_only_python_fences():
    text = "a\n```python\nx = 1\n```\n```text\nnot code\n```\n```python\ny = x + 1\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x + 1\n"]


@pytest.mark.slow  # about 40 s on 2 shared cores: it loads MiniLM four times and trains two steps
def test_architecture_examples_run(tmp_path, monkeypatch, minilm_path):
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 4, "docs/architecture.md lost its runnable example"
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for i, code in enumerate(blocks, 1):
        exec(compile(code, f"docs/architecture.md python block {i}", "exec"), namespace)
    # The walk-through ends with a comparison of two evaluated systems, written as LaTeX.
    assert (tmp_path / "table.tex").read_text().count("\\\\") >= 2
    report = namespace["report"]
    assert [i["name"] for i in report.inputs] == ["minilm", "kd"]

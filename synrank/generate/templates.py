"""Prompt templates: packaged text files (``synrank/generate/templates/``) or the user's own.

A template file is plain text::

    # description: one line shown by --list-templates
    # task: docs | queries
    # type: question            (queries templates: the query type they produce)
    # output: json:passage      (parse a JSON object and take this key) | text (take the answer as is)
    # max_chars: 300            (optional: longest answer accepted by a constrained backend)
    # label: Claim              (optional: how few-shot examples name the answer; default Query)
    # examples: turns           (optional: few-shot examples as earlier chat turns instead of {{examples}} text)
    ### system
    ...
    ### user
    ... {{query}} ...
    ### assistant
    {"passage": "

Placeholders are ``{{name}}`` (so JSON braces need no escaping); unknown names are an error naming
the file and line. The ``### assistant`` section is a response prefix the model continues, which keeps
even tiny models inside the asked structure (backends that cannot prefill drop it).

A ``json:KEY`` output is also a JSON schema (:attr:`Template.json_schema`) sent with every request, so a
backend that can constrain decoding (llama.cpp, vLLM, an OpenAI-compatible server) only produces
``{"KEY": "<non-empty string>"}`` and parse failures become rare.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from synrank.errors import InputError
from synrank.llm.base import ChatRequest

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SECTIONS = ("system", "user", "assistant")
PLACEHOLDERS = {
    "docs": ("query", "level", "level_definition", "scale", "max_level", "index"),
    "queries": ("passage", "title", "type", "examples"),
}
_HEADER = re.compile(r"^#\s*([a-z_]+)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Template:
    name: str
    task: str
    description: str
    output: str  # "text" or "json:KEY"
    system: str
    user: str
    prefix: str
    source: str  # file path or "packaged:NAME"
    query_type: str | None = None
    max_chars: int | None = None
    label: str = "Query"
    examples_as_turns: bool = False

    @property
    def json_key(self) -> str | None:
        return self.output.split(":", 1)[1] if self.output.startswith("json:") else None

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The schema of a ``json:KEY`` answer: one object, one non-empty string field, nothing else."""
        key = self.json_key
        if key is None:
            return None
        prop: dict[str, Any] = {"type": "string", "minLength": 1}
        if self.max_chars:
            prop["maxLength"] = self.max_chars
        return {"type": "object", "properties": {key: prop}, "required": [key], "additionalProperties": False}

    def answer_text(self, answer: str) -> str:
        """What a model's complete answer ``answer`` looks like in this template's output format."""
        key = self.json_key
        return json.dumps({key: answer}, ensure_ascii=False) if key is not None else answer

    def render(self, values: dict[str, str], seed: int = 0, shots: tuple[tuple[str, str], ...] = ()) -> ChatRequest:
        """The chat for ``values``. ``shots`` (``(passage, answer)`` pairs) become earlier user/assistant
        turns, each the same user prompt for the example's passage answered in the output format: the
        clearest few-shot layout for small chat models, which otherwise mix an example up with the target."""

        def fill(text: str, vals: dict[str, str]) -> str:
            return PLACEHOLDER.sub(lambda m: str(vals.get(m.group(1), "")), text)

        messages = []
        if self.system.strip():
            messages.append({"role": "system", "content": fill(self.system, values).strip()})
        for passage, answer in shots:
            shot_values = {**values, "passage": passage, "title": "", "examples": ""}
            messages.append({"role": "user", "content": fill(self.user, shot_values).strip()})
            messages.append({"role": "assistant", "content": self.answer_text(answer)})
        messages.append({"role": "user", "content": fill(self.user, values).strip()})
        return ChatRequest(
            messages=tuple(messages), prefix=fill(self.prefix, values), seed=seed, stop=self.stop_strings(), json_schema=self.json_schema
        )

    def stop_strings(self) -> tuple[str, ...]:
        """``('"}',)`` when the prefix opens the JSON answer's only string value (``{"passage": "``): the answer
        is complete at the closing quote and brace. Small models go on writing after it ("Justification: ..."),
        which costs decoding time and nothing else; a backend that supports stop strings saves that time."""
        key = self.json_key
        if key is not None and re.fullmatch(r'\s*\{\s*"' + re.escape(key) + r'"\s*:\s*"', self.prefix):
            return ('"}',)
        return ()


def parse_template(text: str, *, source: str, name: str, expected_task: str | None = None) -> Template:
    headers: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("### "):
            section = stripped[4:].strip().lower()
            if section not in SECTIONS:
                raise InputError(f"unknown template section {section!r} (use {', '.join(SECTIONS)})", path=source, line=lineno)
            if section in sections:
                raise InputError(f"template section {section!r} appears twice", path=source, line=lineno)
            current = section
            sections[current] = []
            continue
        if current is None:
            m = _HEADER.match(stripped)
            if m:
                headers[m.group(1)] = m.group(2)
            elif stripped and not stripped.startswith("#"):
                raise InputError("text before the first '### system' or '### user' section", path=source, line=lineno)
            continue
        sections[current].append(line)
    if "user" not in sections:
        raise InputError("template has no '### user' section", path=source)
    task = headers.get("task", expected_task or "")
    if task not in PLACEHOLDERS:
        raise InputError(f"template task must be 'docs' or 'queries' (header '# task: ...'), got {task!r}", path=source)
    if expected_task and task != expected_task:
        raise InputError(f"this is a {task!r} template but the task is {expected_task!r}", path=source)
    output = headers.get("output", "text")
    if output != "text" and not re.fullmatch(r"json:[A-Za-z_][A-Za-z0-9_]*", output):
        raise InputError(f"template output must be 'text' or 'json:KEY', got {output!r}", path=source)
    # Unknown placeholders: report the first, with its line number in the file.
    allowed = set(PLACEHOLDERS[task])
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith("#") and not line.strip().startswith("###"):
            continue
        for m in PLACEHOLDER.finditer(line):
            if m.group(1) not in allowed:
                raise InputError(
                    f"unknown placeholder {{{{{m.group(1)}}}}} in a {task} template (known: {', '.join(sorted(allowed))})",
                    path=source,
                    line=lineno,
                )
    prefix = "\n".join(sections.get("assistant", [])).strip("\n")
    max_chars = headers.get("max_chars")
    if max_chars is not None and not (max_chars.isdigit() and int(max_chars) > 0):
        raise InputError(f"template header max_chars must be a positive integer, got {max_chars!r}", path=source)
    return Template(
        name=name,
        task=task,
        description=headers.get("description", ""),
        output=output,
        system="\n".join(sections.get("system", [])).strip("\n"),
        user="\n".join(sections["user"]).strip("\n"),
        prefix=prefix,
        source=source,
        query_type=headers.get("type") or None,
        max_chars=int(max_chars) if max_chars else None,
        label=headers.get("label") or "Query",
        examples_as_turns=_examples_mode(headers.get("examples"), source),
    )


def _examples_mode(value: str | None, source: str) -> bool:
    if value not in (None, "", "text", "turns"):
        raise InputError(f"template header examples must be 'text' or 'turns', got {value!r}", path=source)
    return value == "turns"


def _packaged_dir():
    return resources.files("synrank.generate") / "templates"


def packaged_names() -> list[str]:
    return sorted(p.name[:-4] for p in _packaged_dir().iterdir() if p.name.endswith(".txt"))


def load_packaged(name: str) -> Template:
    path = _packaged_dir() / f"{name}.txt"
    if not path.is_file():
        raise InputError(f"no packaged template named {name!r} (see synrank generate --list-templates)")
    return parse_template(path.read_text(encoding="utf-8"), source=f"packaged:{name}", name=name)


def load_template_file(path: str | Path, *, expected_task: str | None = None) -> Template:
    p = Path(path)
    if not p.exists():
        raise InputError("template file not found", path=p)
    if p.is_dir():
        raise InputError("is a directory, expected a template file", path=p)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("template is not valid UTF-8 text", path=p) from None
    return parse_template(text, source=str(p), name=p.stem, expected_task=expected_task)


def list_templates() -> list[Template]:
    return [load_packaged(n) for n in packaged_names()]

"""Turn raw model text into one clean string, or say why it cannot be used.

Models are asked for a JSON object; the parser accepts the usual deviations (code fences, text around
the object, a prefix the backend prefilled) but never guesses: no object, bad JSON, a missing key, an
answer cut off by the token limit or an empty answer are failures with a reason, retried by the runner
and finally written to the rejects file. Duplicates and near-duplicates (within one query or one source
passage) are rejected the same way, so a list never holds the same passage twice.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*|\s*```\s*$")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


# Why an answer was not used, as a category (the rejects file's ``reason``). "parse" and "truncated" are
# format failures (rare with constrained decoding); the others are content checks on a well-formed answer.
REJECT_KINDS = ("parse", "truncated", "empty", "too_short", "duplicate")


class ParseFailure(ValueError):
    """The model's answer could not be used; ``reason`` is a short description, ``kind`` its category
    (one of :data:`REJECT_KINDS`)."""

    def __init__(self, reason: str, kind: str = "parse") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def clean_text(text: str) -> str:
    """One line of text: whitespace (including newlines) collapsed, ends stripped."""
    return " ".join(text.split())


def _first_json_object(text: str) -> dict | None:
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _end = decoder.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def parse_answer(output: str, raw: str, *, truncated: bool = False) -> str:
    """Extract the answer from ``raw`` (prefix + completion) for a template's ``output`` spec."""
    if output == "text":
        text = clean_text(raw)
        if truncated and not text:
            raise ParseFailure("empty output (token limit reached)", "empty")
        if not text:
            raise ParseFailure("empty output", "empty")
        return text
    key = output.split(":", 1)[1]
    body = _FENCE.sub("", raw.strip())
    obj = _first_json_object(body)
    if obj is None:
        if truncated:
            raise ParseFailure("answer cut off by the max_new_tokens limit before the JSON object was complete", "truncated")
        if "{" not in body:
            raise ParseFailure("no JSON object in the answer")
        raise ParseFailure("bad JSON in the answer")
    value = obj.get(key)
    if not isinstance(value, str):
        raise ParseFailure(f"JSON object has no string field {key!r}")
    text = clean_text(value)
    if not text or text in {"...", "…"}:
        raise ParseFailure("empty output", "empty")
    return text


def normalise(text: str) -> str:
    """Case-, punctuation- and spacing-insensitive form used for duplicate checks."""
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def similar(norm_a: str, norm_b: str, threshold: float) -> bool:
    """Equal normalised texts, or (``threshold < 1``) a difflib ratio of at least ``threshold``."""
    if norm_a == norm_b:
        return True
    if threshold >= 1.0:
        return False
    sm = difflib.SequenceMatcher(None, norm_a, norm_b, autojunk=False)
    return sm.real_quick_ratio() >= threshold and sm.quick_ratio() >= threshold and sm.ratio() >= threshold


@dataclass
class DuplicateFilter:
    """Rejects a text equal to, or at least ``threshold`` similar to, one already kept in its group.

    Similarity is difflib's ratio (2 x matching characters / total characters) on normalised text;
    ``threshold >= 1`` keeps only the exact (normalised) check.
    """

    threshold: float = 0.9

    def __post_init__(self) -> None:
        self._kept: dict[str, list[tuple[str, str]]] = {}

    def check(self, group: str, text: str) -> str | None:
        """Return the id of the kept text this one duplicates, or None."""
        norm = normalise(text)
        for kept_id, kept in self._kept.get(group, []):
            if similar(norm, kept, self.threshold):
                return kept_id
        return None

    def add(self, group: str, item_id: str, text: str) -> None:
        self._kept.setdefault(group, []).append((item_id, normalise(text)))

    def forget(self, group: str) -> None:
        self._kept.pop(group, None)

"""Relevance levels and what each one means, as told to the model.

With 4 levels the definitions follow the TREC Deep Learning grading scale used by SyCL:
3 perfectly relevant, 2 highly relevant, 1 related, 0 irrelevant. Other level counts keep the same
two ends (a top level that answers the query directly, a bottom level that is off topic) and spread
the middle between "answers, less directly" and "on topic but does not answer".
"""

from __future__ import annotations

import json
from pathlib import Path

from synrank.errors import ConfigError, InputError

MAX_LEVELS = 10

PERFECT = (
    "perfectly relevant: the passage is dedicated to the query and contains the exact answer to it"
)
HIGH = (
    "highly relevant: the passage answers the query, but less directly, or the answer is mixed with "
    "other content or needs a little inference"
)
RELATED = "related: the passage is on the topic of the query but does not answer it"
IRRELEVANT = "irrelevant: the passage has nothing to do with the query"


def default_definitions(levels: int) -> dict[int, str]:
    """Definitions for levels ``levels-1 .. 0``."""
    if levels < 2 or levels > MAX_LEVELS:
        raise ConfigError(f"must be between 2 and {MAX_LEVELS}, got {levels}", setting="levels")
    if levels == 2:
        return {1: "relevant: the passage answers the query", 0: IRRELEVANT}
    if levels == 3:
        return {2: PERFECT, 1: RELATED, 0: IRRELEVANT}
    if levels == 4:
        return {3: PERFECT, 2: HIGH, 1: RELATED, 0: IRRELEVANT}
    top = levels - 1
    defs = {top: PERFECT, 1: RELATED, 0: IRRELEVANT}
    middle = list(range(top - 1, 1, -1))  # e.g. 5 levels: [3, 2]
    for rank, level in enumerate(middle):
        # rank 0 is closest to the top: answers almost directly; later ranks answer more partially.
        share = "most of" if rank == 0 else ("part of" if rank < len(middle) - 1 else "only a small part of")
        defs[level] = (
            f"relevant (grade {level} of {top}): the passage answers {share} the query; the answer is less "
            "direct or less complete than at the grade above"
        )
    return dict(sorted(defs.items(), reverse=True))


def read_definitions(path: str | Path, levels: int) -> dict[int, str]:
    """Read a JSON object ``{"3": "...", ...}`` or ``LEVEL<TAB>definition`` lines covering ``0..levels-1``."""
    p = Path(path)
    if not p.exists():
        raise InputError("level definitions file not found", path=p)
    text = p.read_text(encoding="utf-8")
    defs: dict[int, str] = {}
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"bad JSON ({exc.msg})", path=p, line=exc.lineno) from None
        items = [(k, v, None) for k, v in obj.items()]
    else:
        items = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "\t" not in line:
                raise InputError("expected LEVEL<TAB>definition", path=p, line=lineno)
            k, v = line.split("\t", 1)
            items.append((k, v, lineno))
    for k, v, lineno in items:
        try:
            level = int(str(k).strip())
        except ValueError:
            raise InputError(f"level {k!r} is not an integer", path=p, line=lineno) from None
        if not 0 <= level < levels:
            raise InputError(f"level {level} is outside 0..{levels - 1} (levels = {levels})", path=p, line=lineno)
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"level {level} has an empty definition", path=p, line=lineno)
        defs[level] = v.strip()
    missing = [lvl for lvl in range(levels) if lvl not in defs]
    if missing:
        raise InputError(f"no definition for level(s) {', '.join(map(str, missing))}", path=p)
    return dict(sorted(defs.items(), reverse=True))


def scale_text(defs: dict[int, str]) -> str:
    return "\n".join(f"{level} = {text}" for level, text in sorted(defs.items(), reverse=True))

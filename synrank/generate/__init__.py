"""Synthetic data generation with an LLM.

Use it from Python::

    from synrank.generate import GenerateConfig, run
    result = run(GenerateConfig(input="corpus.jsonl", task="queries", out="queries.jsonl"))

- ``docs`` task (SyCL): graded passages for real queries (:mod:`.docs_task`).
- ``queries`` task: diverse synthetic queries for corpus passages (:mod:`.queries_task`).
- :mod:`.config` (settings and result), :mod:`.runner` (the stage: :func:`run`, :func:`preview`,
  :func:`merge`), :mod:`.task` (the interface both tasks implement), :mod:`.templates` (packaged prompt
  files), :mod:`.examples` (few-shot examples), :mod:`.passages` (passage caps), :mod:`.levels`
  (relevance scales), :mod:`.parsing` (structured-answer parsing, duplicate checks), :mod:`.engine`
  (retries), :mod:`.pipeline` (shards, resume, chunked writing), :mod:`.merge` (joining shards).
"""

from __future__ import annotations

from synrank._lazy import lazy_exports

# Each name is imported from its submodule on first use, so reading a config at start-up (the CLI) loads no NumPy.
_WHERE = {
    "GenerateConfig": "config",
    "GenerateResult": "config",
    "DocsTask": "docs_task",
    "Slot": "engine",
    "SlotEngine": "engine",
    "SlotResult": "engine",
    "BUILTIN_TYPES": "queries_task",
    "CADET_TYPES": "queries_task",
    "V1_TYPES": "queries_task",
    "QueriesTask": "queries_task",
    "build_task": "runner",
    "merge": "runner",
    "preview": "runner",
    "run": "runner",
    "GenerationTask": "task",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_exports("synrank.generate", _WHERE)


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

from synrank.generate.config import GenerateConfig, GenerateResult
from synrank.generate.docs_task import DocsTask
from synrank.generate.engine import Slot, SlotEngine, SlotResult
from synrank.generate.queries_task import BUILTIN_TYPES, CADET_TYPES, V1_TYPES, QueriesTask
from synrank.generate.runner import build_task, merge, preview, run
from synrank.generate.task import GenerationTask

__all__ = [
    "BUILTIN_TYPES",
    "CADET_TYPES",
    "V1_TYPES",
    "DocsTask",
    "GenerateConfig",
    "GenerateResult",
    "GenerationTask",
    "QueriesTask",
    "Slot",
    "SlotEngine",
    "SlotResult",
    "build_task",
    "merge",
    "preview",
    "run",
]

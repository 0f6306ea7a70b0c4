"""Synthetic data generation with an LLM.

- ``docs`` task (SyCL): graded passages for real queries (:mod:`.docs_task`).
- ``queries`` task: diverse synthetic queries for corpus passages (:mod:`.queries_task`).
- :mod:`.templates` (packaged prompt files), :mod:`.levels` (relevance scales), :mod:`.parsing`
  (structured-answer parsing, duplicate checks), :mod:`.engine` (retries), :mod:`.pipeline`
  (shards, resume, chunked writing), :mod:`.merge` (joining shards).
"""

from synrank.generate.docs_task import DocsTask
from synrank.generate.engine import Slot, SlotEngine, SlotResult
from synrank.generate.queries_task import BUILTIN_TYPES, QueriesTask

__all__ = ["BUILTIN_TYPES", "DocsTask", "QueriesTask", "Slot", "SlotEngine", "SlotResult"]

"""The generation loop shared by both tasks: shard, skip what is done, chunk, generate, write.

Inputs are taken in chunks of about ``chunk_prompts`` prompts; each chunk goes to the backend at once
(it batches them), then its records are appended to the output one by one and flushed, so a killed
run loses at most the chunk in flight and a re-run skips everything already written (or rejected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from synrank.generate.engine import Slot, SlotEngine, SlotResult
from synrank.generate.shard import in_shard
from synrank.generate.task import GenerationTask


class RecordSink(Protocol):
    def write(self, record: Any) -> None: ...


@dataclass
class Unit:
    key: str
    slots: list[Slot]
    payload: Any  # what the task's iter_inputs gave: query text (docs task) or Document (queries task)


def reject_record(task: str, res: SlotResult) -> dict[str, Any]:
    """One line of the rejects file. ``reason`` is the category of the last failed attempt (see
    ``parsing.REJECT_KINDS``), ``kinds`` the category of each attempt, ``reasons`` their descriptions."""
    return {
        "task": task,
        "unit": res.slot.unit,
        "slot": res.slot.slot_id,
        **res.slot.info,
        "reason": res.kinds[-1] if res.kinds else "parse",
        "kinds": res.kinds,
        "reasons": res.reasons,
        "attempts": res.attempts,
        "raw": res.raw,
    }


def units(
    inputs: Iterable[tuple[str, Any]],
    task: GenerationTask,
    shard: tuple[int, int],
    done: set[str],
    on_skip: Callable[[], None] | None = None,
) -> Iterator[Unit]:
    """The inputs of ``shard`` with the slots still to do; slots whose ``task.done_key`` is in ``done`` are
    left out (a whole query for the docs task, single queries for the queries task). ``on_skip`` is
    called for each input of the shard that is already complete (progress)."""
    for key, payload in inputs:
        if not in_shard(key, shard):
            continue
        slots = [s for s in task.slots(key, payload) if task.done_key(s.unit, s.slot_id) not in done]
        if slots:
            yield Unit(key, slots, payload)
        elif on_skip is not None:
            on_skip()


def docs_units(queries: Iterable[tuple[str, str]], task: GenerationTask, shard: tuple[int, int], done: set[str]) -> Iterator[Unit]:
    return units(queries, task, shard, done)


def _chunks(units: Iterable[Unit], chunk_prompts: int) -> Iterator[list[Unit]]:
    chunk: list[Unit] = []
    n = 0
    for unit in units:
        chunk.append(unit)
        n += len(unit.slots)
        if n >= chunk_prompts:
            yield chunk
            chunk, n = [], 0
    if chunk:
        yield chunk


def run_units(
    task: GenerationTask,
    units: Iterable[Unit],
    engine: SlotEngine,
    out: RecordSink,
    rejects: RecordSink | None,
    *,
    meta: dict[str, Any],
    chunk_prompts: int = 64,
    on_unit: Callable[[Unit], None] | None = None,
) -> None:
    """Generate every unit and write its records (and rejects) as each chunk finishes."""
    for chunk in _chunks(units, max(1, chunk_prompts)):
        results = engine.run([s for u in chunk for s in u.slots])
        by_unit: dict[str, list[SlotResult]] = {}
        for res in results:
            by_unit.setdefault(res.slot.unit, []).append(res)
        for unit in chunk:
            unit_results = by_unit.get(unit.key, [])
            # Output first, rejects after: a kill in between loses only diagnostics, never data.
            for record in task.records(unit.key, unit.payload, unit_results, meta):
                out.write(record)
            if rejects is not None:
                for res in unit_results:
                    if res.text is None:
                        rejects.write(reject_record(task.name, res))
            engine.forget(unit.key)
            if on_unit is not None:
                on_unit(unit)

"""Teachers behind one interface (:class:`Teacher`), chosen with ``--teacher KIND:MODEL``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synrank.errors import ConfigError
from synrank.score.teachers.base import Teacher, TeacherConfig

KINDS = ("cross-encoder", "monot5", "rankt5", "bi-encoder", "bm25", "llm")


def parse_teacher_spec(spec: str) -> tuple[str, str]:
    """``KIND:MODEL`` -> (kind, model); ``bm25`` needs no model. Model may itself contain ':' (paths, ids)."""
    kind, _, model = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ConfigError(f"unknown teacher kind {kind!r} in {spec!r} (use {', '.join(KINDS)}: e.g. cross-encoder:PATH)", setting="teacher")
    if kind != "bm25" and not model.strip():
        raise ConfigError(f"teacher {kind!r} needs a model: {kind}:MODEL", setting="teacher")
    return kind, model.strip()


def make_teacher(
    spec: str,
    config: TeacherConfig | None = None,
    *,
    corpus: str | Path | None = None,
    llm_levels: int = 4,
    llm_backend: str = "auto",
    threads: int = 0,
    query_prefix: str = "",
    doc_prefix: str = "",
    log: Any = None,
    monot5_score: str = "log-softmax",
    monot5_template: str | None = None,
    monot5_tokens: str | None = None,
    rankt5_template: str | None = None,
    rankt5_token: str | None = None,
) -> Teacher:
    """The teacher ``spec`` names. Keywords of other kinds are ignored; ``None`` = the kind's default."""
    kind, model = parse_teacher_spec(spec)
    if kind == "cross-encoder":
        from synrank.score.teachers.cross_encoder import CrossEncoderTeacher

        return CrossEncoderTeacher(model, config)
    if kind == "monot5":
        from synrank.score.teachers.t5 import MONOT5_TEMPLATE, MONOT5_TOKENS, MonoT5Teacher

        return MonoT5Teacher(model, config, template=monot5_template or MONOT5_TEMPLATE, tokens=monot5_tokens or MONOT5_TOKENS, score=monot5_score)
    if kind == "rankt5":
        from synrank.score.teachers.t5 import RANKT5_TEMPLATE, RANKT5_TOKEN, RankT5Teacher

        return RankT5Teacher(model, config, template=rankt5_template or RANKT5_TEMPLATE, token=rankt5_token or RANKT5_TOKEN)
    if kind == "bi-encoder":
        from synrank.score.teachers.bi_encoder import BiEncoderTeacher

        return BiEncoderTeacher(model, config, query_prefix=query_prefix, doc_prefix=doc_prefix)
    if kind == "bm25":
        from synrank.score.teachers.bm25 import BM25Teacher

        return BM25Teacher(model, corpus=corpus, log=log)
    from synrank.score.teachers.llm import LLMJudgeTeacher

    return LLMJudgeTeacher(model, config, levels=llm_levels, backend=llm_backend, threads=threads)


__all__ = ["KINDS", "Teacher", "TeacherConfig", "make_teacher", "parse_teacher_spec"]

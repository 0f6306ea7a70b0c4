"""The BM25 engine's settings (:class:`BM25Config`) with their defaults and help text.

:mod:`synrank.search.bm25` runs them; the ``search`` stage config (and the BM25 teacher of ``score``) take their
defaults from here, so each is written once. Light on purpose (no numpy or bm25s): the CLI reads it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from synrank.config import setting
from synrank.errors import ConfigError


@dataclass(frozen=True)
class BM25Config:
    """BM25 settings. k1=0.9, b=0.4 are Anserini's (the BEIR BM25 baseline)."""

    k1: float = setting(0.9, help="BM25 term-frequency saturation (Anserini default).")
    b: float = setting(0.4, help="BM25 length normalisation (Anserini default).")
    method: str = setting("lucene", help="BM25 variant: lucene, robertson, atire, bm25l, bm25+.")
    stemmer: str = setting("english", help="Snowball stemmer language (PyStemmer), or none.")
    stopwords: str = setting("en", help="Stopword list, en or none.")
    use_title: bool = setting(True, help="Index 'title + \" \" + text' (not only the text).")

    def validate(self) -> None:
        if self.k1 < 0:
            raise ConfigError(f"BM25 needs k1 >= 0 (got {self.k1})", setting="k1")
        if not 0 <= self.b <= 1:
            raise ConfigError(f"BM25 needs 0 <= b <= 1 (got {self.b})", setting="b")
        if self.stopwords not in ("en", "none"):
            raise ConfigError(f"unknown stopword list {self.stopwords!r} (use en or none)", setting="stopwords")
        if self.method not in ("lucene", "robertson", "atire", "bm25l", "bm25+"):
            raise ConfigError(f"unknown BM25 variant {self.method!r} (lucene, robertson, atire, bm25l, bm25+)", setting="method")


__all__ = ["BM25Config"]

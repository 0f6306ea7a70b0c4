"""BM25 over a corpus with `bm25s <https://github.com/xhluca/bm25s>`_ and PyStemmer.

Why bm25s and not pyserini: pyserini needs a Java runtime and Lucene jars fetched at install time,
which many machines (and this project's CI) do not have; bm25s is pure Python + SciPy sparse matrices,
implements Lucene's BM25 variant exactly (same idf and term saturation as Anserini), and indexes
SciFact in about a second on 2 cores. Defaults k1=0.9, b=0.4 are Anserini's (the BEIR BM25 baseline).

Scoring: ``score(q, d) = sum_{t in q} idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))`` with
``idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))``. Text is lower-cased, split on ``\\w\\w+``, English
stopwords removed and Snowball-stemmed (both switchable). A repeated query term counts once per
occurrence, as in Lucene.

The index is cached: next to the corpus (``<corpus folder>/.synrank-cache/``) when that folder may be
written, else under ``$XDG_CACHE_HOME/synrank/bm25`` (``~/.cache``). The cache key covers the corpus file
(path, size, modification time) and every setting, so a changed corpus or setting builds a new index.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from synrank.errors import ConfigError, InputError
from synrank.formats.corpus import corpus_file, doc_text, iter_corpus
from synrank.formats.io import STDIN
from synrank.search.settings import BM25Config

CACHE_VERSION = 1
META_FILE = "synrank-bm25.json"
IDS_FILE = "docids.txt"
STEMMERS = ("english", "none")


def _stemmer(name: str) -> Any:
    if name == "none":
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(name)
    except KeyError:
        raise ConfigError(f"unknown stemmer language {name!r} (e.g. english, french, german; or none)", setting="stemmer") from None


def _tokenize(texts: Sequence[str], config: BM25Config, stemmer: Any, *, return_ids: bool) -> Any:
    import bm25s

    return bm25s.tokenize(
        list(texts),
        lower=True,
        stopwords=None if config.stopwords == "none" else config.stopwords,
        stemmer=stemmer,
        return_ids=return_ids,
        show_progress=False,
    )


class BM25Index:
    """A bm25s retriever plus the document ids of its rows."""

    def __init__(self, retriever: Any, doc_ids: list[str], config: BM25Config, path: Path | None = None) -> None:
        self.retriever = retriever
        self.doc_ids = doc_ids
        self.config = config
        self.path = path
        self._row = {d: i for i, d in enumerate(doc_ids)}
        self._stemmer = _stemmer(config.stemmer)

    # -- building and loading ------------------------------------------------------------------
    @classmethod
    def build(cls, doc_ids: Sequence[str], texts: Sequence[str], config: BM25Config) -> BM25Index:
        import bm25s

        config.validate()
        stemmer = _stemmer(config.stemmer)
        tokens = _tokenize(texts, config, stemmer, return_ids=True)
        retriever = bm25s.BM25(k1=config.k1, b=config.b, method=config.method)
        retriever.index(tokens, show_progress=False)
        return cls(retriever, list(doc_ids), config)

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)
        (folder / IDS_FILE).write_text("".join(d + "\n" for d in self.doc_ids), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, config: BM25Config) -> BM25Index:
        import bm25s

        retriever = bm25s.BM25.load(str(folder), load_vocab=True, show_progress=False, verbosity=0)
        doc_ids = (folder / IDS_FILE).read_text(encoding="utf-8").split("\n")[:-1]
        return cls(retriever, doc_ids, config, folder)

    # -- scoring -------------------------------------------------------------------------------
    def _query_token_ids(self, queries: Sequence[str]) -> list[list[int]]:
        tokenized = _tokenize(queries, self.config, self._stemmer, return_ids=False)
        vocab = self.retriever.vocab_dict
        # Terms the corpus never saw score nothing; the empty token bm25s adds is not a term.
        return [[vocab[t] for t in toks if t and t in vocab] for toks in tokenized]

    def _scores(self, token_ids: list[int]) -> np.ndarray:
        if not token_ids:
            return np.zeros(len(self.doc_ids), dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(token_ids), dtype=np.float32)

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Top ``k`` (doc_id, score) per query, best first; only documents sharing a term with the query
        (as Lucene), ties broken by corpus order so results are deterministic."""
        results: list[list[tuple[str, float]]] = []
        for ids in self._query_token_ids(queries):
            scores = self._scores(ids)
            nonzero = int(np.count_nonzero(scores > 0))
            kk = min(k, nonzero)
            if kk == 0:
                results.append([])
            else:
                top = np.argpartition(-scores, kk - 1)[:kk] if kk < len(scores) else np.arange(len(scores))
                top = sorted(top.tolist(), key=lambda i: (-scores[i], i))[:kk]
                results.append([(self.doc_ids[i], float(scores[i])) for i in top])
        return results

    def score_pairs(self, query: str, doc_ids: Sequence[str]) -> list[float]:
        """BM25 score of ``query`` against each document of ``doc_ids`` (corpus statistics of the whole index)."""
        scores = self._scores(self._query_token_ids([query])[0])
        out = []
        for d in doc_ids:
            row = self._row.get(d)
            if row is None:
                raise InputError(f"document {d!r} is not in the BM25 corpus")
            out.append(float(scores[row]))
        return out


# -- cache -------------------------------------------------------------------------------------
def _writable(folder: Path) -> bool:
    """Writable for us *and* not marked read-only by its permission bits (root ignores those, we don't:
    a shared, read-only dataset folder stays untouched)."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(folder, os.W_OK)


def default_cache_root(corpus_path: Path) -> Path:
    near = corpus_path if corpus_path.is_dir() else corpus_path.parent
    if _writable(near):
        return near / ".synrank-cache"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "synrank" / "bm25"


def cache_key(corpus_path: Path, config: BM25Config) -> str:
    import bm25s

    src = Path(corpus_file(corpus_path)).resolve()
    st = src.stat()
    payload = {
        "v": CACHE_VERSION,
        "bm25s": getattr(bm25s, "__version__", "?"),
        "corpus": str(src),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "config": asdict(config),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_or_build_bm25(
    corpus: str | Path,
    config: BM25Config | None = None,
    *,
    cache_root: str | Path | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] | None = None,
) -> BM25Index:
    """The BM25 index of ``corpus`` (BEIR folder, JSONL/TSV file or ``-``), from the cache when present."""
    config = config or BM25Config()
    config.validate()
    say = log or (lambda _m: None)
    if str(corpus) == STDIN:
        use_cache = False
    p = Path(str(corpus))
    if str(corpus) != STDIN and not p.exists():
        raise InputError("corpus not found", path=p)
    folder: Path | None = None
    if use_cache:
        root = Path(cache_root) if cache_root else default_cache_root(p)
        folder = root / f"bm25-{p.name or 'corpus'}-{cache_key(p, config)}"
        if (folder / META_FILE).exists() and (folder / IDS_FILE).exists():
            say(f"BM25 index from cache {folder}")
            return BM25Index.load(folder, config)
    ids: list[str] = []
    texts: list[str] = []
    for doc in iter_corpus(corpus):
        ids.append(doc.doc_id)
        texts.append(doc_text(doc, config.use_title))
    say(f"building BM25 index over {len(ids):,} documents (bm25s, k1={config.k1}, b={config.b}, stemmer={config.stemmer})")
    index = BM25Index.build(ids, texts, config)
    if folder is not None:
        from synrank.formats.outputs import guarded_output

        try:
            # Through the one guard, as any output: never over a folder synrank did not write, one writer at a time.
            with guarded_output(folder, inputs=[corpus], overwrite=True, kind="dir") as target:
                assert target.path is not None
                index.save(target.path)
                meta = {"corpus": str(Path(str(corpus)).resolve()), "documents": len(ids), "config": asdict(config)}
                (target.path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            index.path = folder
            say(f"BM25 index cached in {folder}")
        except (OSError, InputError) as exc:  # a cache that cannot be written is not an error: the index is in memory
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else getattr(exc, "message", str(exc))
            say(f"could not cache the BM25 index in {folder} ({why}); continuing without cache")
    return index

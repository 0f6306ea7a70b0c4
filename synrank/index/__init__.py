"""Encoding texts with a bi-encoder and building/loading/searching FAISS indexes.

The stage: ``synrank.index.run(IndexConfig(corpus=..., out=..., model="minilm"))`` (``build`` is its older name).
"""

from synrank.index.stage import IndexConfig, IndexResult, build, run

__all__ = ["IndexConfig", "IndexResult", "build", "run"]

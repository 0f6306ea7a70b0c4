"""Encoding texts with a bi-encoder and building/loading/searching FAISS indexes.

The stage: ``synrank.index.build(IndexConfig(corpus=..., out=..., model="minilm"))``.
"""

from synrank.index.stage import IndexConfig, IndexResult, build

__all__ = ["IndexConfig", "IndexResult", "build"]

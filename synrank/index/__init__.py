"""Encoding texts with a bi-encoder and building/loading/searching FAISS indexes."""

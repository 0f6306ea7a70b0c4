"""Helpers shared by test modules (test files never import each other)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

WORDS = "protein cell gene cancer virus vaccine brain heart blood drug trial mouse dose risk".split()


def write_synth(path: Path, n: int = 16, levels=(3, 2, 1, 0, 0), seed: int = 0) -> Path:
    """`generate --task docs` records: relevant passages share the query's words."""
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            q = " ".join(rng.sample(WORDS, 3))
            docs = []
            for j, level in enumerate(levels):
                text = q + " " + " ".join(rng.sample(WORDS, level + 1)) if level else " ".join(rng.sample(WORDS, 5))
                docs.append({"doc_id": f"q{i}-d{j}", "level": level, "text": text})
            fh.write(json.dumps({"query_id": f"q{i}", "query": q, "documents": docs, "meta": {}}) + "\n")
    return path


def write_scored(path: Path, n: int = 16, seed: int = 0) -> Path:
    """`score` training lists: teacher scores in [0, 1]."""
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            q = " ".join(rng.sample(WORDS, 3))
            cands = [
                {"doc_id": f"q{i}-d{j}", "text": q + " " + " ".join(rng.sample(WORDS, 2)) if j < 2 else " ".join(rng.sample(WORDS, 4)), "score": s}
                for j, s in enumerate((1.0, 0.7, 0.3, 0.1, 0.0))
            ]
            fh.write(json.dumps({"query_id": f"q{i}", "query": q, "candidates": cands, "meta": {}}) + "\n")
    return path


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))

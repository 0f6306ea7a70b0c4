"""DDP on the CPU (gloo, 2 processes through torchrun): every loss is the loss of the global batch, with the
single-process gradient, and `torchrun -m synrank train` trains a tiny model that loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import write_scored

pytestmark = pytest.mark.slow

GLOBAL_LOSS_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    sys.path.insert(0, sys.argv[2])
    from ddp_batch import LOSSES, global_batch, make_encoder, run_loss
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    xq, xp, targets, keys = global_batch()
    per = xq.size(0) // world
    sl = slice(rank * per, (rank + 1) * per)
    out = {}
    for name in LOSSES:
        encoder = DDP(make_encoder())  # DDP averages the processes' gradients, as in training
        loss = run_loss(name, encoder, xq[sl], xp[sl], targets[sl], keys[sl])
        loss.backward()
        out[name] = {"loss": loss.item(), "grad": encoder.module.weight.grad.tolist()}
    json.dump(out, open(sys.argv[1] + f".{rank}", "w"))
    dist.destroy_process_group()
    """
)

# Shared by the 2-process script and the single-process reference: the same data, encoder and losses.
BATCH_MODULE = textwrap.dedent(
    """
    import torch
    from synrank.train import losses as L
    from synrank.train.data import doc_key

    LOSSES = ["infonce", "kl", "kl+infonce", "wasserstein", "ws2"]

    def global_batch(b=6, k=3, d_in=5):
        g = torch.Generator().manual_seed(0)
        xq = torch.randn(b, d_in, generator=g, dtype=torch.float64)
        xp = torch.randn(b, k, d_in, generator=g, dtype=torch.float64)
        targets = torch.rand(b, k, generator=g, dtype=torch.float64)
        targets[:, 0] = 1.0  # the first passage is each list's top (teacher top-1)
        ids = [[f"q{i}-p{j}" for j in range(k)] for i in range(b)]
        ids[4][0] = ids[0][0]  # queries 0 (process 0) and 4 (process 1) come from one source passage
        ids[5][2] = ids[1][0]  # and query 1's positive is a negative of query 5 (process 1)
        keys = torch.tensor([[doc_key(x) for x in row] for row in ids])
        return xq, xp, targets, keys

    def make_encoder(d_in=5, d=4):
        torch.manual_seed(1)
        return torch.nn.Linear(d_in, d, bias=False).double()

    def run_loss(name, encoder, xq, xp, targets, keys):
        b, k, d_in = xp.shape
        emb = encoder(torch.cat([xq, xp.reshape(b * k, d_in)]))  # one forward per step, as DDP expects
        q, p = emb[:b], emb[b:].reshape(b, k, -1)
        extra = {"temperature": 0.5} if name in ("wasserstein", "ws2") else {}
        loss = L.make_loss(name, None, **extra)
        return loss.calculate_loss([[q]] + [[p[:, j]] for j in range(k)], L.ListLabels(targets, keys))
    """
)


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_loss_and_its_gradient_equal_the_single_process_value(tmp_path):
    """2 gloo processes, 3 queries each: every process computes the loss of the global batch of 6 (one
    Gaussian fit for ws2, masking across processes by document for infonce), and DDP's averaged gradient
    equals the gradient of one process holding all 6 queries."""
    import torch

    (tmp_path / "ddp_batch.py").write_text(BATCH_MODULE)
    script = tmp_path / "global_loss.py"
    script.write_text(GLOBAL_LOSS_SCRIPT)
    r = _torchrun([str(script), str(tmp_path / "out"), str(tmp_path)], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    res = [json.loads((tmp_path / f"out.{i}").read_text()) for i in range(2)]
    sys.path.insert(0, str(tmp_path))
    try:
        import ddp_batch
    finally:
        sys.path.remove(str(tmp_path))
    xq, xp, targets, keys = ddp_batch.global_batch()
    for name in ddp_batch.LOSSES:
        encoder = ddp_batch.make_encoder()
        ref = ddp_batch.run_loss(name, encoder, xq, xp, targets, keys)
        ref.backward()
        for rank in range(2):
            assert res[rank][name]["loss"] == pytest.approx(ref.item(), abs=1e-6, rel=1e-6), (name, rank)
            grad = torch.tensor(res[rank][name]["grad"], dtype=torch.float64)
            assert torch.allclose(grad, encoder.weight.grad, atol=1e-6, rtol=0), (name, rank)
        # the per-process losses the old code averaged differ from the global one
        local = [ddp_batch.run_loss(name, ddp_batch.make_encoder(), xq[s], xp[s], targets[s], keys[s]).item() for s in (slice(0, 3), slice(3, 6))]
        if name != "kl":  # kl sees only each query's own list: the mean of the halves is the global mean
            assert sum(local) / 2 != pytest.approx(ref.item(), rel=1e-4), name


def test_torchrun_trains_a_tiny_model_that_loads(tmp_path, tiny_bi_encoder):
    from sentence_transformers import SentenceTransformer

    src = write_scored(tmp_path / "lists.jsonl", n=16)
    out = tmp_path / "ckpt-ddp"
    r = _torchrun(
        ["-m", "synrank", "train", str(src), "--model", str(tiny_bi_encoder), "--loss", "kl+infonce", "--out", str(out),
         "--batch-size", "4", "--max-steps", "2", "--dtype", "fp32", "--logging-steps", "1", "--threads", "1"],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == ""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["result"]["world_size"] == 2 and manifest["result"]["steps"] == 2
    log = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    assert [rec["step"] for rec in log if "loss" in rec] == [1, 2]  # written once, by the main process
    assert SentenceTransformer(str(out), device="cpu").encode(["a b"]).shape == (1, 32)

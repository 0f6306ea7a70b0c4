"""DDP on the CPU (gloo, 2 processes through torchrun): in-batch negatives span both processes, and
`torchrun -m synrank train` trains a tiny model that loads."""

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

GATHER_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch, torch.distributed as dist
    from synrank.train.losses import infonce_loss, ws2_loss
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    g = torch.Generator().manual_seed(0)
    q_all = torch.randn(4, 6, generator=g, dtype=torch.float64)       # 2 queries per rank
    p_all = torch.randn(4, 3, 6, generator=g, dtype=torch.float64)    # lists of 3
    t_all = torch.tensor([[3.0, 1, 0], [0, 2, 1], [1, 0, 3], [2, 3, 0]], dtype=torch.float64)
    sl = slice(2 * rank, 2 * rank + 2)
    q = q_all[sl].clone().requires_grad_(True)
    p = p_all[sl].clone().requires_grad_(True)
    loss = infonce_loss(q, p, t_all[sl], temperature=0.1)
    loss.backward()
    out = {"rank": rank, "loss": loss.item(), "q_grad": q.grad.tolist(), "p_grad": p.grad.tolist()}
    # the same data without gathering: each process sees only its own 6 passages
    out["local_loss"] = infonce_loss(q_all[sl], p_all[sl], t_all[sl], temperature=0.1, gather=False).item()
    json.dump(out, open(sys.argv[1] + f".{rank}", "w"))
    dist.destroy_process_group()
    """
)


def _torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_in_batch_negatives_include_the_other_process_passages(tmp_path):
    import torch

    from synrank.train.losses import infonce_loss

    script = tmp_path / "gather.py"
    script.write_text(GATHER_SCRIPT)
    r = _torchrun([str(script), str(tmp_path / "out")], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    res = [json.loads((tmp_path / f"out.{i}").read_text()) for i in range(2)]
    # single-process reference on the whole global batch (4 queries x 12 passages)
    g = torch.Generator().manual_seed(0)
    q_all = torch.randn(4, 6, generator=g, dtype=torch.float64).requires_grad_(True)
    p_all = torch.randn(4, 3, 6, generator=g, dtype=torch.float64).requires_grad_(True)
    t_all = torch.tensor([[3.0, 1, 0], [0, 2, 1], [1, 0, 3], [2, 3, 0]], dtype=torch.float64)
    ref = infonce_loss(q_all, p_all, t_all, temperature=0.1)
    ref.backward()
    assert (res[0]["loss"] + res[1]["loss"]) / 2 == pytest.approx(ref.item(), rel=1e-10)
    assert res[0]["loss"] != pytest.approx(res[0]["local_loss"], rel=1e-3)  # gathering changed the negatives
    # DDP averages the processes' gradients: (grad_0 + grad_1)/2 per process == grad of the global mean,
    # and all_gather's backward already summed every process's contribution into each local passage.
    for rank in range(2):
        sl = slice(2 * rank, 2 * rank + 2)
        p_grad = torch.tensor(res[rank]["p_grad"], dtype=torch.float64) / 2
        q_grad = torch.tensor(res[rank]["q_grad"], dtype=torch.float64) / 2
        assert torch.allclose(p_grad, p_all.grad[sl], atol=1e-10)
        assert torch.allclose(q_grad, q_all.grad[sl], atol=1e-10)


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

"""Gradient caching: loss and gradients with a mini-batch size equal those of the full batch."""

from __future__ import annotations

import pytest
import torch

from synrank.train import losses as L

QUERIES = ["protein folding", "virus vaccine trial", "heart dose risk", "brain cell gene", "mouse blood drug"]
PASSAGES = [[f"{q} passage {j} about {w}" for j, w in enumerate(("cells", "doses", "risks"))] for q in QUERIES]
TARGETS = torch.tensor([[3.0, 1.0, 0.0], [2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 3.0], [2.0, 3.0, 0.0]])


def _features(model):
    cols = [QUERIES] + [[p[j] for p in PASSAGES] for j in range(3)]
    return [model.tokenize(col) for col in cols]


def _loss_and_grads(model, loss_fn):
    model.zero_grad()
    loss = loss_fn(_features(model), TARGETS)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


MAKERS = {
    "infonce": lambda m, mb: L.InfoNCELoss(m, mini_batch_size=mb),
    "wasserstein": lambda m, mb: L.WassersteinLoss(m, mini_batch_size=mb, temperature=0.5),
    "ws2": lambda m, mb: L.WS2Loss(m, mini_batch_size=mb),
    "kl+infonce": lambda m, mb: L.KLInfoNCELoss(m, mini_batch_size=mb),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_mini_batches_give_the_same_loss_and_gradients(tiny_bi_encoder, name):
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    model.eval()  # dropout off: the full and the chunked pass must see the same network
    full_loss, full = _loss_and_grads(model, MAKERS[name](model, None))
    cached_loss, cached = _loss_and_grads(model, MAKERS[name](model, 2))
    assert cached_loss == pytest.approx(full_loss, abs=1e-5)
    assert full.keys() == cached.keys() and len(full) > 10
    for n in full:
        assert torch.allclose(full[n], cached[n], atol=1e-5, rtol=1e-4), n
    assert any(g.abs().sum() > 0 for g in full.values())


def test_gradient_caching_turns_on_past_the_token_budget():
    from synrank.train.config import GRAD_CACHE_CHUNK_TOKENS, GRAD_CACHE_STEP_TOKENS, auto_mini_batch_size

    assert auto_mini_batch_size(None, 8, 4, 128) is None  # 5,120 tokens a step: one pass
    assert 16 * 9 * 256 > GRAD_CACHE_STEP_TOKENS
    assert auto_mini_batch_size(None, 16, 8, 256) == GRAD_CACHE_CHUNK_TOKENS // 256 == 32  # issue 12's recipe
    assert auto_mini_batch_size(0, 16, 8, 256) is None  # 0 = off
    assert auto_mini_batch_size(5, 2, 2, 16) == 5  # an explicit size always wins


def test_training_picks_the_cached_loss_and_records_it(tmp_path, tiny_bi_encoder):
    import json

    from helpers import write_synth

    from synrank.train import TrainConfig, train

    src = write_synth(tmp_path / "s.jsonl", n=8)
    out = tmp_path / "o"
    # 4 queries x 5 texts x 128 tokens = 2,560: under the budget; max_seq_length 2048 puts it over
    train(TrainConfig(out=out, inputs=[str(src)], model=str(tiny_bi_encoder), loss="infonce", batch_size=4, max_steps=1, dtype="fp32", max_seq_length=2048))
    assert json.loads((out / "manifest.json").read_text())["loss"]["mini_batch_size"] == 4

"""The shared machinery of every synrank loss: embedding, optional gradient caching, one global batch.

Each loss is a sentence-transformers loss module (``forward(sentence_features, labels)``) so that the
sentence-transformers trainer drives it. Inputs are always one query column followed by ``k`` passage
columns (one list of ``k`` passages per query) and a ``label`` column holding the ``k`` targets of each
list: relevance levels, or teacher scores. ``labels`` may also be a :class:`ListLabels` carrying each
passage's document key, so that a document seen in several lists of the batch is recognised (false-
negative masking). A subclass only implements :meth:`ListwiseLoss.compute` on embeddings of the *global*
batch, so the same code runs with and without gradient caching, on one process or many.

**Multi-process.** Under DDP every process gathers the queries, passages, targets and document keys of
all processes (embeddings with gradients, ``torch.distributed.nn.all_gather``) and computes the one loss
of the global batch, as trove does for the SyCL release. The gather's backward sums every process's
gradient into the local shard, so each process holds ``world_size x`` the global loss's gradient with
respect to its own embeddings; DDP's average over processes then gives exactly the single-process
gradient of the global batch (tested with 2 processes).

Gradient caching (GradCache, Gao et al. 2021, https://arxiv.org/abs/2101.06983) reuses
sentence-transformers' ``CachedLossMixin``: embeddings are first computed chunk by chunk without a graph,
the loss is back-propagated to the embeddings only, and the chunks are embedded again with a graph to
push the cached embedding gradients into the model. Memory then depends on ``mini_batch_size`` instead
of the batch size, while the loss and gradients are those of the full batch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from torch import Tensor, nn

from synrank.train.loss_names import SIMILARITIES


@dataclass
class ListLabels:
    """The label of a batch of lists: ``targets [B, k]`` and, optionally, ``doc_keys [B, k]`` (int64).

    Without document keys every passage counts as a distinct document.
    """

    targets: Tensor
    doc_keys: Tensor | None = None


def pairwise_scores(queries: Tensor, passages: Tensor, similarity: str) -> Tensor:
    """``[B, d] x [N, d] -> [B, N]`` similarity matrix (``cosine`` normalises first, ``dot`` does not)."""
    if similarity == "cosine":
        queries = F.normalize(queries, dim=-1)
        passages = F.normalize(passages, dim=-1)
    return queries @ passages.T


def list_scores(queries: Tensor, passages: Tensor, similarity: str) -> Tensor:
    """``[B, d] x [B, k, d] -> [B, k]``: each query against its own list."""
    if similarity == "cosine":
        queries = F.normalize(queries, dim=-1)
        passages = F.normalize(passages, dim=-1)
    return torch.einsum("bd,bkd->bk", queries, passages)


def own_columns(batch: int, k: int, device: torch.device) -> Tensor:
    """``[B, k]`` column indices of each query's own list among the ``B x k`` passages of the batch."""
    return torch.arange(batch, device=device)[:, None] * k + torch.arange(k, device=device)[None, :]


def in_batch_targets(targets: Tensor, fill: float = 0.0) -> Tensor:
    """Spread ``[B, k]`` list targets over all ``B x k`` passages of the batch; other queries' passages get ``fill``."""
    b, k = targets.shape
    full = torch.full((b, b * k), fill, dtype=targets.dtype, device=targets.device)
    return full.scatter(1, own_columns(b, k, targets.device), targets)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_global(
    queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """The global batch: every process's queries, passages, targets and document keys, in rank order.

    Embeddings keep their gradients (the backward sums all processes' gradients into the local shard);
    targets and keys are data. Without a process group the inputs are returned unchanged.
    """
    if not is_distributed():
        return queries, passages, targets, doc_keys
    import torch.distributed.nn as dist_nn

    def plain(t: Tensor) -> Tensor:
        parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)

    # One collective for queries and passages: two gathers could run their backward passes in a different
    # order on different processes and exchange the wrong gradients.
    b, k, d = passages.shape
    local = torch.cat([queries, passages.reshape(b * k, d)])
    with warnings.catch_warnings():  # deprecated in favour of a functional API without autograd support here
        warnings.simplefilter("ignore", FutureWarning)
        shards = dist_nn.all_gather(local.contiguous())
    q = torch.cat([s[:b] for s in shards])
    p = torch.cat([s[b:].reshape(b, k, d) for s in shards])
    return q, p, plain(targets), None if doc_keys is None else plain(doc_keys)


class ListwiseLoss(CachedLossMixin, nn.Module):
    """Base class: embeds ``(query, passage_1..k)`` columns and calls :meth:`compute` on the global batch.

    A subclass names its own constructor settings in :attr:`hyper_parameters` and keeps each as an attribute
    of that name; :meth:`get_config_dict` (what the model card and the manifest record) and :meth:`hyper`
    are built from them, so a new setting is written in the constructor and the tuple only.

    Args:
        model: the SentenceTransformer being trained.
        similarity: ``cosine`` (embeddings normalised before the product) or ``dot`` (the raw dot product of
            the model's embeddings; the same as cosine for models that normalise, e.g. MiniLM).
        mini_batch_size: embed at most this many texts at once and cache gradients (GradCache); ``None``
            embeds each column in one go.
        gather_across_devices: under DDP, compute the loss of the global batch (all processes' queries,
            passages, targets and document keys). ``False`` computes a per-process loss.
    """

    hyper_parameters: tuple[str, ...] = ()

    def __init__(
        self,
        model: Any,
        *,
        similarity: str,
        mini_batch_size: int | None = None,
        gather_across_devices: bool = True,
    ) -> None:
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {similarity!r} (use cosine or dot)")
        self.model = model
        self.similarity = similarity
        self.mini_batch_size = int(mini_batch_size or 0)
        self.uses_gradient_cache = bool(mini_batch_size)
        self.gather_across_devices = gather_across_devices
        # The terms of the last computed loss (e.g. {"kl": ..., "infonce": ...}), set by compute(), and
        # their running sums while the trainer evaluates (start_tally / stop_tally).
        self.terms: dict[str, Tensor] = {}
        self._tally: dict[str, list[float]] | None = None

    # -- loss terms in evaluation ------------------------------------------------------------------------
    def start_tally(self) -> None:
        """Sum the terms of every loss computed from now on (the trainer's evaluation loop)."""
        self._tally = {}

    def stop_tally(self) -> dict[str, float]:
        """Each term's mean over the queries seen since :meth:`start_tally` (all processes under DDP).

        Batches are weighted by their number of queries, as the trainer weights the total loss into
        ``eval_loss``, so ``eval_loss = sum of the weighted terms``.
        """
        tally, self._tally = self._tally or {}, None
        names = sorted(tally)
        if not names:
            return {}
        sums = torch.tensor([tally[n][0] for n in names] + [tally[names[0]][1]], dtype=torch.float64)
        if is_distributed():
            dist.all_reduce(sums)
        return {name: (sums[i] / sums[-1]).item() for i, name in enumerate(names)}

    def _add_to_tally(self, queries: int) -> None:
        if self._tally is None:
            return
        for name, value in self.terms.items():
            entry = self._tally.setdefault(name, [0.0, 0.0])
            entry[0] += float(value.detach()) * queries
            entry[1] += queries

    # -- what subclasses implement -------------------------------------------------------------------
    def compute(self, queries: Tensor, passages: Tensor, targets: Tensor, doc_keys: Tensor | None) -> Tensor:
        """Loss from query embeddings ``[B, d]``, passage embeddings ``[B, k, d]``, targets ``[B, k]`` and
        document keys ``[B, k]`` (or ``None``) of the global batch. A loss made of several terms puts them
        in :attr:`terms` (reported in evaluation as ``eval_<name>``)."""
        raise NotImplementedError

    # -- sentence-transformers loss interface ----------------------------------------------------------
    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | ListLabels) -> Tensor:
        sentence_features = list(sentence_features)
        if len(sentence_features) < 2:
            raise ValueError(f"expected a query column and at least one passage column, got {len(sentence_features)}")
        if self.uses_gradient_cache:
            return self.forward_cached(sentence_features, labels)
        reps = [[self.model(features)["sentence_embedding"]] for features in sentence_features]
        return self.calculate_loss(reps, labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | ListLabels | None = None, *, with_backward: bool = False
    ) -> Tensor:
        if labels is None:
            raise ValueError("list-wise losses need a label column with one target per passage")
        if not isinstance(labels, ListLabels):
            labels = ListLabels(labels)
        queries = torch.cat(reps[0])
        passages = torch.stack([torch.cat(column) for column in reps[1:]], dim=1)
        targets = labels.targets.to(device=queries.device, dtype=torch.float32)
        if targets.dim() == 1:
            targets = targets[:, None]
        if targets.shape != passages.shape[:2]:
            raise ValueError(f"labels have shape {tuple(targets.shape)}, expected {tuple(passages.shape[:2])}")
        keys = labels.doc_keys
        if keys is not None:
            keys = keys.to(device=queries.device, dtype=torch.long).reshape(targets.shape)
        local_queries = queries.shape[0]
        if self.gather_across_devices:
            queries, passages, targets, keys = gather_global(queries, passages, targets, keys)
        loss = self.compute(queries, passages, targets, keys)
        self._add_to_tally(local_queries)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    def hyper(self) -> dict[str, Any]:
        """The similarity and the subclass's hyper-parameters, as keywords of its functional form."""
        return {"similarity": self.similarity, **{name: getattr(self, name) for name in self.hyper_parameters}}

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "mini_batch_size": self.mini_batch_size or None} | {
            name: getattr(self, name) for name in self.hyper_parameters
        }

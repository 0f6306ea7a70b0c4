"""Each loss against an independent computation (numpy/scipy/POT on numpy, written-out formulas)."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import scipy.linalg
import scipy.special
import scipy.stats
import torch
import torch.nn.functional as F

from synrank.train.losses import gaussian_w2, infonce_loss, kl_loss, wasserstein_loss, ws2_loss

TARGETS = torch.tensor([[3.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 2.0], [1.0, 3.0, 2.0, 0.0]])


def _toy(seed: int = 0, b: int = 3, k: int = 4, d: int = 6):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, d, generator=g, dtype=torch.float64)
    p = torch.randn(b, k, d, generator=g, dtype=torch.float64)
    return q, p


def _cos(q: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    p = p / np.linalg.norm(p, axis=-1, keepdims=True)
    return q @ p.T


def test_infonce_equals_plain_cross_entropy_over_all_in_batch_passages():
    q, p = _toy()
    loss = infonce_loss(q, p, TARGETS.double(), temperature=0.05)
    qn, pn = q.numpy(), p.numpy().reshape(12, 6)
    logits = _cos(qn, pn) / 0.05
    pos = [0 * 4 + 0, 1 * 4 + 3, 2 * 4 + 1]  # argmax target of each list, as a column of the flat batch
    expected = np.mean([scipy.special.logsumexp(logits[i]) - logits[i, pos[i]] for i in range(3)])
    assert loss.item() == pytest.approx(expected, rel=1e-9)


def test_infonce_masks_false_negatives_and_extra_positives():
    q, p = _toy(1)
    t = torch.tensor([[1.0, 0.7, 0.5, 0.1], [0.2, 1.0, 0.9, 0.0], [0.3, 0.1, 1.0, 0.6]], dtype=torch.float64)
    loss = infonce_loss(q, p, t, temperature=0.1, fn_margin=0.6)
    logits = _cos(q.numpy(), p.numpy().reshape(12, 6)) / 0.1
    masked = {0: [1], 1: [4 + 2], 2: []}  # own-list passages scoring > 0.6 x the top score (0.6 exactly is kept)
    pos = [0, 5, 10]
    vals = []
    for i in range(3):
        keep = [j for j in range(12) if j not in masked[i]]
        vals.append(scipy.special.logsumexp(logits[i, keep]) - logits[i, pos[i]])
    assert loss.item() == pytest.approx(np.mean(vals), rel=1e-9)
    # binary baseline: with positive_min_level=2 the other level >= 2 passages of a list are not negatives
    loss2 = infonce_loss(q, p, TARGETS.double(), temperature=0.1, positive_min_level=2)
    masked2 = {0: [3], 1: [], 2: [8 + 2]}
    pos2 = [0, 7, 9]
    vals2 = [scipy.special.logsumexp(logits[i, [j for j in range(12) if j not in masked2[i]]]) - logits[i, pos2[i]] for i in range(3)]
    assert loss2.item() == pytest.approx(np.mean(vals2), rel=1e-9)


def test_kl_matches_torch_kl_div_written_out():
    q, p = _toy(2)
    t = torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    loss = kl_loss(q, p, t, temperature=0.05, teacher_temperature=0.3)
    s = torch.einsum("bd,bkd->bk", F.normalize(q, dim=-1), F.normalize(p, dim=-1))
    ref = F.kl_div(F.log_softmax(s / 0.05, dim=1), F.log_softmax(t / 0.3, dim=1), reduction="batchmean", log_target=True)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10)
    # and by hand in numpy
    pt = scipy.special.softmax(t.numpy() / 0.3, axis=1)
    ls = scipy.special.log_softmax(s.numpy() / 0.05, axis=1)
    assert loss.item() == pytest.approx(float(np.mean(np.sum(pt * (np.log(pt) - ls), axis=1))), rel=1e-9)


@pytest.mark.parametrize("in_batch", [False, True])
def test_wasserstein_matches_pot_and_scipy_1d(in_batch):
    q, p = _toy(4)
    loss = wasserstein_loss(q, p, TARGETS.double(), similarity="cosine", temperature=0.1, in_batch=in_batch)
    if in_batch:
        s = _cos(q.numpy(), p.numpy().reshape(12, 6))
        y = np.zeros((3, 12))
        for i in range(3):
            y[i, 4 * i : 4 * i + 4] = TARGETS[i].numpy()
    else:
        s = np.stack([_cos(q.numpy()[i : i + 1], p.numpy()[i])[0] for i in range(3)])
        y = TARGETS.numpy().astype(float)
    vals, vals_1d = [], []
    for i in range(3):
        a = scipy.special.softmax(s[i] / 0.1)
        b = scipy.special.softmax(y[i])
        m = np.abs(y[i][:, None] - y[i][None, :])
        vals.append(ot.emd2(a, b, m))
        # the ground cost is |level difference|: this is 1-D OT between level distributions
        vals_1d.append(scipy.stats.wasserstein_distance(y[i], y[i], a, b))
    assert loss.item() == pytest.approx(np.mean(vals), rel=1e-7)
    assert loss.item() == pytest.approx(np.mean(vals_1d), rel=1e-6)


def test_wasserstein_sinkhorn_option_matches_pot_numpy():
    q, p = _toy(5)
    loss = wasserstein_loss(q, p, TARGETS.double(), similarity="cosine", temperature=0.1, in_batch=False, ot_method="sinkhorn", ot_reg=0.1)
    s = np.stack([_cos(q.numpy()[i : i + 1], p.numpy()[i])[0] for i in range(3)])
    y = TARGETS.numpy()
    ref = np.mean(
        [
            ot.sinkhorn2(scipy.special.softmax(s[i] / 0.1), scipy.special.softmax(y[i]), np.abs(y[i][:, None] - y[i][None, :]), 0.1)
            for i in range(3)
        ]
    )
    assert loss.item() == pytest.approx(ref, rel=1e-6)


def _frechet_numpy(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = x.mean(0), y.mean(0)
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(cx @ cy)
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(cx + cy - 2 * np.real(covmean)))


def test_ws2_matches_scipy_sqrtm_frechet_distance():
    q, p = _toy(6, b=5, k=3, d=4)
    t = torch.tensor([[3.0, 1, 0], [2, 2, 0], [0, 1, 3], [1, 0, 0], [3, 2, 1]], dtype=torch.float64)
    loss = ws2_loss(q, p, t, similarity="cosine", temperature=0.2)
    s = _cos(q.numpy(), p.numpy().reshape(15, 4))
    y = np.zeros((5, 15))
    for i in range(5):
        y[i, 3 * i : 3 * i + 3] = t[i].numpy()
    ref = _frechet_numpy(scipy.special.softmax(s / 0.2, axis=1), scipy.special.softmax(y, axis=1))
    assert loss.item() == pytest.approx(ref, rel=1e-5, abs=1e-9)


def test_gaussian_w2_is_zero_for_identical_rows_and_matches_scipy_on_random():
    rng = np.random.default_rng(0)
    x = rng.random((6, 5))
    y = rng.random((6, 5))
    assert gaussian_w2(torch.tensor(x), torch.tensor(x)).item() == pytest.approx(0.0, abs=1e-6)
    assert gaussian_w2(torch.tensor(x), torch.tensor(y)).item() == pytest.approx(_frechet_numpy(x, y), rel=1e-6)


LOSS_FNS = {
    "infonce": lambda q, p, t: infonce_loss(q, p, t, temperature=0.05),
    "kl": lambda q, p, t: kl_loss(q, p, t),
    "kl+infonce": lambda q, p, t: kl_loss(q, p, t) + 0.1 * infonce_loss(q, p, t, temperature=0.01, fn_margin=0.6),
    # Exact-OT gradients are subgradients: on a saturated softmax (random vectors at tau=0.05) they carry
    # little signal, so the direction check uses an unsaturated temperature for the OT-based losses.
    "wasserstein": lambda q, p, t: wasserstein_loss(q, p, t, similarity="cosine", temperature=0.5),
    "wasserstein-list": lambda q, p, t: wasserstein_loss(q, p, t, similarity="cosine", temperature=0.5, in_batch=False),
    "ws2": lambda q, p, t: ws2_loss(q, p, t, similarity="cosine", temperature=1.0),
}


@pytest.mark.parametrize("name", sorted(set(LOSS_FNS) - {"ws2"}))
def test_one_step_raises_the_top_passage(name):
    """Gradients are finite and one small step moves probability mass to the highest-label passage."""
    q, p = _toy(7)
    q, p = q.float(), p.float()
    t = TARGETS.clone()
    top = t.argmax(dim=1)

    def top_margin(qq, pp):
        """Score of the top passage minus the mean score of the rest of its list."""
        s = torch.einsum("bd,bkd->bk", F.normalize(qq, dim=-1), F.normalize(pp, dim=-1))
        top_s = s.gather(1, top[:, None]).squeeze(1)
        return ((top_s - (s.sum(1) - top_s) / (s.size(1) - 1))).mean().item()

    q.requires_grad_(True)
    p.requires_grad_(True)
    loss = LOSS_FNS[name](q, p, t)
    loss.backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(p.grad).all()
    assert q.grad.abs().sum() > 0
    before = top_margin(q.detach(), p.detach())
    with torch.no_grad():
        lr = 1e-2 / max(q.grad.abs().max().item(), p.grad.abs().max().item())
        after = top_margin(q - lr * q.grad, p - lr * p.grad)
        assert LOSS_FNS[name](q - lr * q.grad, p - lr * p.grad, t).item() < loss.item()
    assert after > before


@pytest.mark.parametrize("name", sorted(LOSS_FNS))
def test_optimising_a_toy_batch_ranks_the_top_passages_first(name):
    """ws2 matches batch moments, so one step need not raise every list's top passage; optimised for a
    while, every loss must put each list's highest-label passage first and lower its own value."""
    q, p = _toy(8)
    q = q.float().requires_grad_(True)
    p = p.float().requires_grad_(True)
    t = TARGETS.clone()
    opt = torch.optim.Adam([q, p], lr=0.05)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = LOSS_FNS[name](q, p, t)
        loss.backward()
        first = loss.item() if first is None else first
        opt.step()
    with torch.no_grad():
        s = torch.einsum("bd,bkd->bk", F.normalize(q, dim=-1), F.normalize(p, dim=-1))
        assert (s.argmax(dim=1) == t.argmax(dim=1)).all(), s
        assert LOSS_FNS[name](q, p, t).item() < first


# -- SyCL release settings (issue 13.1) -------------------------------------------------------------------


def _sycl_ws2_reference(q: np.ndarray, p: np.ndarray, labels: np.ndarray, *, normalize: bool, temperature: float) -> float:
    """The SyCL release's ws2, written from its maths (sycl ``train.py`` WS2Loss + trove): trove's encoder
    normalises only with ``--normalize yes``, its similarity is ``q @ p.T`` over the batch's passages, labels
    become a block-diagonal [B, B*k] matrix, ``preds = softmax(logits / temperature)``, ``targets =
    softmax(labels)``, and the loss is the Frechet distance of Gaussians fitted to the rows. Here the
    covariances are the full N x N matrices and Tr sqrt(Sx Sy) comes from the eigenvalues of Sx Sy."""
    if normalize:
        q = q / np.linalg.norm(q, axis=-1, keepdims=True)
        p = p / np.linalg.norm(p, axis=-1, keepdims=True)
    b, k = labels.shape
    logits = q @ p.reshape(b * k, -1).T
    block = scipy.linalg.block_diag(*[labels[i : i + 1] for i in range(b)])
    x = scipy.special.softmax(logits / temperature, axis=1)
    y = scipy.special.softmax(block, axis=1)
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    eig = np.linalg.eigvals(cx @ cy)
    sqrt_trace = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(cx) + np.trace(cy) - 2 * sqrt_trace)


@pytest.mark.parametrize(("similarity", "temperature"), [("dot", 1.0), ("cosine", 0.05), ("dot", 0.3)])
def test_ws2_equals_the_release_formula_under_both_similarities(similarity, temperature):
    from synrank.train.losses import ListLabels, WS2Loss

    q, p = _toy(9, b=5, k=3, d=4)
    q, p = 3 * q, 2 * p  # lengths far from 1: the dot product and cosine differ
    t = torch.tensor([[3.0, 1, 0], [2, 2, 0], [0, 1, 3], [1, 0, 0], [3, 2, 1]], dtype=torch.float64)
    loss = WS2Loss(None, similarity=similarity, temperature=temperature)
    value = loss.calculate_loss([[q]] + [[p[:, j]] for j in range(3)], ListLabels(t)).item()
    ref = _sycl_ws2_reference(q.numpy(), p.numpy(), t.numpy(), normalize=similarity == "cosine", temperature=temperature)
    assert value == pytest.approx(ref, rel=1e-6, abs=1e-9)
    other = _sycl_ws2_reference(q.numpy(), p.numpy(), t.numpy(), normalize=similarity != "cosine", temperature=temperature)
    assert value != pytest.approx(other, rel=1e-3)  # the setting matters on these inputs


def test_defaults_are_the_reference_settings_per_loss():
    """similarity/temperatures left at auto/None resolve to each loss's reference: SyCL release (trove
    ``ModelArguments.temperature = 1.0``, raw dot product, ``softmax(label)``) for ws2/wasserstein; CADeT
    ``train_e5_listwise.py`` (``rank_temp 0.05``, ``kl_temp 0.3``, ``temp 0.01``, weight 0.1, threshold 0.6,
    normalised e5 embeddings) for kl and kl+infonce."""
    from synrank.train import TrainConfig
    from synrank.train.trainer import make_loss

    def resolved(loss, **kw):
        return make_loss(TrainConfig(out="o", inputs=["x"], loss=loss, **kw), None).get_config_dict()

    for name in ("ws2", "wasserstein"):
        cfg = resolved(name)
        assert (cfg["similarity"], cfg["temperature"], cfg["teacher_temperature"]) == ("dot", 1.0, 1.0)
    assert resolved("wasserstein", ot="sinkhorn")["ot_reg"] == 0.05
    kl = resolved("kl")
    assert (kl["similarity"], kl["temperature"], kl["teacher_temperature"]) == ("cosine", 0.05, 0.3)
    kd = resolved("kl+infonce")
    assert (kd["similarity"], kd["temperature"], kd["teacher_temperature"], kd["infonce_temperature"], kd["infonce_weight"], kd["fn_margin"]) == (
        "cosine", 0.05, 0.3, 0.01, 0.1, 0.6
    )
    nce = resolved("infonce")
    assert (nce["similarity"], nce["temperature"], nce["fn_margin"]) == ("cosine", 0.05, None)
    # explicit settings win, for every loss
    for name in ("ws2", "wasserstein", "kl", "kl+infonce", "infonce"):
        cfg = resolved(name, similarity="dot", temperature=0.2)
        assert (cfg["similarity"], cfg["temperature"]) == ("dot", 0.2)
    kd = resolved("kl+infonce", infonce_weight=0.5, infonce_temperature=0.02)
    assert (kd["infonce_weight"], kd["infonce_temperature"]) == (0.5, 0.02)
    assert resolved("wasserstein", ot="sinkhorn", ot_reg=0.2)["ot_reg"] == 0.2


# Loss switches TrainConfig states itself (a flag and a choice that only wasserstein takes, read from the
# loss's torch-free defaults in loss_names), "auto" for the per-loss similarity, and the gradient-caching
# chunk, which the trainer resolves from the step's size.
STATED_BY_TRAIN_CONFIG = ("ot", "in_batch", "mini_batch_size", "similarity")


def test_loss_hyper_parameters_are_written_once_in_the_loss():
    """Every keyword a loss constructor takes that TrainConfig also has defaults to None in TrainConfig (= the
    loss's own), and its help states each loss's value, so --help and docs/cli.md show it without a second
    definition to drift. The losses' signatures, read with inspect, are the reference."""
    import dataclasses
    import inspect

    from synrank.config import help_of
    from synrank.train import TrainConfig
    from synrank.train.losses import LOSS_CLASSES

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    checked = set()
    for cls in LOSS_CLASSES.values():
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.kind is not p.KEYWORD_ONLY or p.name not in fields or p.name in STATED_BY_TRAIN_CONFIG:
                continue
            checked.add(p.name)
            assert fields[p.name].default is None, f"TrainConfig.{p.name} restates {cls.__name__}'s default"
            if p.default is not None:
                assert repr(p.default) in help_of(TrainConfig, p.name), (p.name, cls.__name__, p.default)
    assert {"temperature", "teacher_temperature", "infonce_weight", "infonce_temperature", "fn_margin", "ot_reg"} <= checked


def test_switches_train_config_states_are_the_losses_defaults():
    """``ot`` and ``in_batch`` have a concrete default in TrainConfig (a CLI flag and a choice): it must be the
    value WassersteinLoss itself defaults to, so a run from the CLI and a loss built in Python agree."""
    import inspect

    from synrank.config import default_of
    from synrank.train import TrainConfig
    from synrank.train.losses import WassersteinLoss

    params = inspect.signature(WassersteinLoss.__init__).parameters
    for name in ("ot", "in_batch"):
        assert default_of(TrainConfig, name) == params[name].default, name


FUNCTIONAL_FORMS = {"wasserstein": wasserstein_loss, "ws2": ws2_loss, "kl": kl_loss, "infonce": infonce_loss}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL_FORMS))
def test_functional_forms_default_to_their_loss_class(name):
    """A loss's functional form and its class default every shared setting to one value (a constant of the
    loss's module), so calling the function bare computes what the class computes. The wasserstein class
    calls its OT solver ``ot``, the function ``ot_method``."""
    import inspect

    from synrank.train.losses import LOSS_CLASSES

    cls = {p.name: p.default for p in inspect.signature(LOSS_CLASSES[name].__init__).parameters.values()}
    cls["ot_method"] = cls.pop("ot", None)
    shared = 0
    for p in inspect.signature(FUNCTIONAL_FORMS[name]).parameters.values():
        if p.kind is p.KEYWORD_ONLY:
            assert p.name in cls and p.default == cls[p.name], (name, p.name, p.default, cls.get(p.name))
            shared += 1
    assert shared >= 3  # similarity and temperatures at least


def test_config_dict_records_every_hyper_parameter():
    """get_config_dict (the model card, the manifest) is built from ``hyper_parameters``: every keyword of
    the constructor is in it, so a new setting cannot be left out of the record."""
    import inspect

    from synrank.train.losses import LOSS_CLASSES

    for name, cls in LOSS_CLASSES.items():
        keywords = {p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind is p.KEYWORD_ONLY}
        recorded = set(cls(None).get_config_dict())
        assert keywords - {"gather_across_devices"} == recorded, name


# -- false negatives masked by document across the batch (issue 13.2) ---------------------------------------


def test_infonce_masks_a_shared_source_passage_in_another_querys_list():
    """Two queries generated from one source passage S in one batch (CADeT masking, threshold 0.6).

    Dot product at tau = 1, q0 = (1, 0), q1 = (0, 1); passages S=(1,1), A=(2,0), B=(0,0) for q0 (teacher
    1.0, 0.7, 0.1) and S=(1,1), C=(0,2), D=(1,0) for q1 (1.0, 0.2, 0.0). Logits are q0: x-coordinates
    [1, 2, 0, 1, 0, 1] and q1: y-coordinates [1, 0, 0, 1, 2, 0].
    - q0: own documents {S, A (0.7 > 0.6 x 1.0)}; A and q1's copy of S are masked; left [1, 0, 0, 1]:
      L0 = log(2e + 2) - 1.
    - q1: own documents {S}; q0's copy of S is masked; left [0, 0, 1, 2, 0]: L1 = log(3 + e + e^2) - 1.
    """
    from synrank.train.data import doc_key
    from synrank.train.losses import KLInfoNCELoss, ListLabels

    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    p = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 2.0], [1.0, 0.0]]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.7, 0.1], [1.0, 0.2, 0.0]], dtype=torch.float64)
    keys = torch.tensor([[doc_key(d) for d in row] for row in (["S", "A", "B"], ["S", "C", "D"])])
    e = np.e
    expected = (np.log(2 * e + 2) + np.log(3 + e + e**2)) / 2 - 1
    got = infonce_loss(q, p, t, keys, similarity="dot", temperature=1.0, fn_margin=0.6)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # without document keys only positions in the query's own list are masked (the old behaviour)
    by_position = (np.log(2 * e + 2 + e) + np.log(3 + e + e**2 + e)) / 2 - 1
    assert infonce_loss(q, p, t, similarity="dot", temperature=1.0, fn_margin=0.6).item() == pytest.approx(by_position, rel=1e-12)
    # the same through the kl+infonce module and its labels (KL term computed separately)
    loss = KLInfoNCELoss(None, similarity="dot", infonce_temperature=1.0)
    value = loss.calculate_loss([[q]] + [[p[:, j]] for j in range(3)], ListLabels(t, keys))
    kl = kl_loss(q, p, t, similarity="dot")
    assert value.item() == pytest.approx(kl.item() + 0.1 * expected, rel=1e-7)  # the module computes in float32

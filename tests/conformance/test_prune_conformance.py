"""refquant.interop.torch.prune against torch.nn.utils.prune (CPU).

Masks are compared exactly on tie-free scores (distinct magnitudes, and
channel norms at least 1e-4 apart relatively, far beyond the float32 rounding
of torch's norms); on tie-heavy scores only the counts and the entries away
from the threshold are compared, since ``torch.topk`` picks an unspecified
subset of the ties. Iterative pruning is compared through the real module
API (``prune.l1_unstructured(module, ...)`` applied again and again, which
goes through ``PruningContainer``), and direct ``compute_mask`` calls through
``iterative=False``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from refquant.interop.torch.prune import global_unstructured_masks, l1_unstructured_mask, ln_structured_mask

torch = pytest.importorskip("torch")
P = pytest.importorskip("torch.nn.utils.prune")


@pytest.fixture(scope="module", autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)


def _holder(w: np.ndarray) -> Any:
    m = torch.nn.Module()
    m.weight = torch.nn.Parameter(torch.from_numpy(np.array(w)))
    return m


def _mask(module: Any) -> np.ndarray:
    return module.weight_mask.detach().numpy().astype(bool)


def _tie_free(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    while True:
        w = rng.standard_normal(shape).astype(dtype)
        if np.unique(np.abs(w)).size == w.size:
            return w


def _norms(w: np.ndarray, n: float | str, dim: int) -> np.ndarray:
    t = torch.from_numpy(np.array(w, dtype=np.float64))
    dims = [d for d in range(w.ndim) if d != dim % w.ndim]
    return torch.norm(t, p=n, dim=dims).numpy()


def _separated(values: np.ndarray, rel: float = 1e-4) -> bool:
    v = np.sort(values)
    return bool(np.all(np.diff(v) > rel * np.maximum(np.abs(v[1:]), 1e-30)))


def _amounts(n: int) -> list[float | int]:
    return [0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0, 0, 1, n // 3, n]


SHAPES = [(1,), (7,), (4, 6), (16, 33), (3, 5, 7), (2, 3, 4, 5)]
NORMS: list[float | str] = [1, 2, math.inf, -math.inf, "fro", 3, 0.5]


# ----------------------------------------------------------------------------- unstructured


@pytest.mark.parametrize("shape", SHAPES)
def test_l1_unstructured_same_mask(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    w = _tie_free(rng, shape)
    scores = _tie_free(rng, shape)
    for amount in _amounts(w.size):
        m = _holder(w)
        P.l1_unstructured(m, "weight", amount)
        assert np.array_equal(l1_unstructured_mask(w, amount), _mask(m)), amount
        ref = P.L1Unstructured(amount).compute_mask(torch.from_numpy(scores), torch.ones(shape))
        got = l1_unstructured_mask(w, amount, importance_scores=scores)
        assert np.array_equal(got, ref.numpy().astype(bool)), amount
        m = _holder(w)
        P.l1_unstructured(m, "weight", amount, importance_scores=torch.from_numpy(scores))
        assert np.array_equal(got, _mask(m)), amount


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_l1_unstructured_dtypes_and_count(dtype: Any) -> None:
    w = _tie_free(np.random.default_rng(3), (20, 9), dtype)
    for amount in (0.35, 0.5, 0.45, 17, np.int64(3), np.float32(0.45), np.float64(0.35)):
        ref = P.L1Unstructured(amount).compute_mask(
            torch.from_numpy(w), torch.ones(w.shape, dtype=torch.from_numpy(w).dtype)
        )
        got = l1_unstructured_mask(w, amount)
        assert np.array_equal(got, ref.numpy().astype(bool))
        assert (~got).sum() == (ref == 0).sum()


@pytest.mark.parametrize("shape", [(9,), (6, 7), (4, 5, 6)])
def test_l1_unstructured_iterative(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    w = _tie_free(rng, shape)
    for rounds in ([0.5, 0.5], [0.3, 4, 0.6], [1, 0.2, 0.2, 0.9], [0.0, 1.0]):
        m = _holder(w)
        ours = None
        for amount in rounds:
            if isinstance(amount, int) and ours is not None and amount > ours.sum():
                continue
            P.l1_unstructured(m, "weight", amount)
            ours = l1_unstructured_mask(w, amount, default_mask=ours)
            assert np.array_equal(ours, _mask(m)), rounds
    # two rounds of 0.5 on the remaining = 0.75 of the total, in torch too (n divisible by 4)
    w = _tie_free(rng, (8, 8))
    m = _holder(w)
    P.l1_unstructured(m, "weight", 0.5)
    P.l1_unstructured(m, "weight", 0.5)
    assert np.array_equal(_mask(m), l1_unstructured_mask(w, 0.75))


def test_l1_unstructured_iterative_importance_scores() -> None:
    rng = np.random.default_rng(8)
    w, s1, s2 = (_tie_free(rng, (10, 12)) for _ in range(3))
    m = _holder(w)
    P.l1_unstructured(m, "weight", 0.4, importance_scores=torch.from_numpy(s1))
    P.l1_unstructured(m, "weight", 0.5, importance_scores=torch.from_numpy(s2))
    first = l1_unstructured_mask(w, 0.4, importance_scores=s1)
    assert np.array_equal(l1_unstructured_mask(w, 0.5, importance_scores=s2, default_mask=first), _mask(m))


def test_l1_unstructured_direct_compute_mask_with_default_mask() -> None:
    rng = np.random.default_rng(9)
    w = _tie_free(rng, (7, 11))
    dm = rng.random(w.shape) < 0.6
    for amount in (0.0, 0.3, 0.5, 1.0, 5, w.size):
        ref = P.L1Unstructured(amount).compute_mask(
            torch.from_numpy(w), torch.from_numpy(dm.astype(np.float32))
        )
        got = l1_unstructured_mask(w, amount, default_mask=dm, iterative=False)
        assert np.array_equal(got, ref.numpy().astype(bool)), amount


# ----------------------------------------------------------------------------- structured


@pytest.mark.parametrize("shape", [(4, 6), (16, 33), (3, 5, 7), (2, 3, 4, 5), (1, 3)])
@pytest.mark.parametrize("n", NORMS)
def test_ln_structured_same_mask(shape: tuple[int, ...], n: float | str) -> None:
    rng = np.random.default_rng(sum(shape) + 7 * len(shape))
    w = _tie_free(rng, shape)
    if n == "fro" and len(shape) > 3:  # torch.norm sends 3 reduced dims to matrix_norm
        with pytest.raises(RuntimeError):
            P.ln_structured(_holder(w), "weight", 1, n=n, dim=0)
        with pytest.raises(ValueError, match="fro"):
            ln_structured_mask(w, 1, n, 0)
        return
    for dim in range(-len(shape), len(shape)):
        if not _separated(_norms(w, n, dim)):
            continue
        for amount in _amounts(shape[dim]):
            m = _holder(w)
            P.ln_structured(m, "weight", amount, n=n, dim=dim)
            assert np.array_equal(ln_structured_mask(w, amount, n, dim), _mask(m)), (dim, amount)


def test_ln_structured_count_nonzero_norm() -> None:
    # n = 0 counts nonzeros: make the counts distinct per row
    w = np.tril(np.arange(1.0, 37.0).reshape(6, 6)).astype(np.float32)
    for amount in (0.5, 2, 5):
        m = _holder(w)
        P.ln_structured(m, "weight", amount, n=0, dim=0)
        assert np.array_equal(ln_structured_mask(w, amount, 0, 0), _mask(m))


@pytest.mark.parametrize("n", [1, 2, math.inf, "fro"])
def test_ln_structured_importance_scores(n: float | str) -> None:
    rng = np.random.default_rng(5)
    w, s = _tie_free(rng, (8, 6, 3)), _tie_free(rng, (8, 6, 3))
    for dim in (0, 1, 2):
        if not _separated(_norms(s, n, dim)):
            continue
        for amount in (0.5, 1, 0.25):
            m = _holder(w)
            P.ln_structured(m, "weight", amount, n=n, dim=dim, importance_scores=torch.from_numpy(s))
            assert np.array_equal(ln_structured_mask(w, amount, n, dim, importance_scores=s), _mask(m))


@pytest.mark.parametrize("seed", range(12))
def test_structured_after_unstructured_and_structured(seed: int) -> None:
    """torch's container rules: remaining channels = not entirely pruned; norms of the masked weight."""
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(x) for x in rng.integers(3, 8, size=int(rng.integers(2, 4))))
    w = _tie_free(rng, shape)
    m = _holder(w)
    a1 = float(rng.uniform(0.2, 0.97))
    P.l1_unstructured(m, "weight", a1)
    ours = l1_unstructured_mask(w, a1)
    for _ in range(3):
        dim = int(rng.integers(-len(shape), len(shape)))
        n = [1, 2, math.inf, "fro", 3][int(rng.integers(0, 5))]
        alive = np.moveaxis(ours, dim, 0).reshape(shape[dim], -1).any(axis=1)
        if not _separated(_norms(w * ours, n, dim)[alive]):
            continue
        amount = float(rng.random()) if rng.random() < 0.6 else int(rng.integers(0, alive.sum() + 1))
        P.ln_structured(m, "weight", amount, n=n, dim=dim)
        ours = ln_structured_mask(w, amount, n, dim, default_mask=ours)
        assert np.array_equal(ours, _mask(m)), (a1, dim, n, amount)
    # and unstructured again on top of the structured mask
    P.l1_unstructured(m, "weight", 0.5)
    assert np.array_equal(l1_unstructured_mask(w, 0.5, default_mask=ours), _mask(m))


def test_structured_iterative_importance_scores_are_not_masked() -> None:
    rng = np.random.default_rng(21)
    w, s = _tie_free(rng, (6, 8)), _tie_free(rng, (6, 8))
    m = _holder(w)
    P.l1_unstructured(m, "weight", 0.5)
    first = l1_unstructured_mask(w, 0.5)
    assert _separated(_norms(s, 2, 0))
    P.ln_structured(m, "weight", 0.5, n=2, dim=0, importance_scores=torch.from_numpy(s))
    assert np.array_equal(ln_structured_mask(w, 0.5, 2, 0, importance_scores=s, default_mask=first), _mask(m))


def test_ln_structured_direct_compute_mask_with_default_mask() -> None:
    rng = np.random.default_rng(13)
    w = _tie_free(rng, (9, 5, 4))
    dm = rng.random(w.shape) < 0.5
    dm[2] = False  # a channel already gone still counts for compute_mask
    for dim, n, amount in [(0, 2, 0.5), (0, 1, 4), (1, 2, 0.4), (-1, math.inf, 1), (0, 2, 0.0)]:
        ref = P.LnStructured(amount, n, dim).compute_mask(
            torch.from_numpy(w), torch.from_numpy(dm.astype(np.float32))
        )
        got = ln_structured_mask(w, amount, n, dim, default_mask=dm, iterative=False)
        assert np.array_equal(got, ref.numpy().astype(bool)), (dim, n, amount)


# ----------------------------------------------------------------------------- global


def _modules(ws: list[np.ndarray]) -> list[Any]:
    return [_holder(w) for w in ws]


@pytest.mark.parametrize("seed", range(6))
def test_global_unstructured_same_masks(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    shapes = [(16, 8), (16,), (4, 16), (4,), (3, 2, 5)][: 2 + seed % 4]
    ws = [_tie_free(rng, s) for s in shapes]
    while np.unique(np.abs(np.concatenate([w.ravel() for w in ws]))).size != sum(w.size for w in ws):
        ws = [_tie_free(rng, s) for s in shapes]
    total = sum(w.size for w in ws)
    for amount in _amounts(total):
        mods = _modules(ws)
        P.global_unstructured([(m, "weight") for m in mods], pruning_method=P.L1Unstructured, amount=amount)
        got = global_unstructured_masks(ws, amount)
        for g, m in zip(got, mods, strict=True):
            assert np.array_equal(g, _mask(m)), amount


def test_global_unstructured_importance_scores_and_existing_masks() -> None:
    rng = np.random.default_rng(31)
    ws = [_tie_free(rng, (12, 10)), _tie_free(rng, (10,)), _tie_free(rng, (5, 12))]
    scores = [_tie_free(rng, w.shape) for w in ws]
    mods = _modules(ws)
    # the first and last parameters were pruned before, on their own
    P.l1_unstructured(mods[0], "weight", 0.3)
    P.ln_structured(mods[2], "weight", 2, n=1, dim=0)
    masks = [l1_unstructured_mask(ws[0], 0.3), None, ln_structured_mask(ws[2], 2, 1, 0)]
    assert np.array_equal(masks[0], _mask(mods[0])) and np.array_equal(masks[2], _mask(mods[2]))
    for amount in (0.4, 30):
        imp = {
            (mods[1], "weight"): torch.from_numpy(scores[1]),
            (mods[2], "weight"): torch.from_numpy(scores[2]),
        }
        P.global_unstructured(
            [(m, "weight") for m in mods],
            pruning_method=P.L1Unstructured,
            importance_scores=imp,
            amount=amount,
        )
        masks = global_unstructured_masks(
            ws, amount, importance_scores=[None, scores[1], scores[2]], default_masks=masks
        )
        for g, m in zip(masks, mods, strict=True):
            assert np.array_equal(g, _mask(m)), amount


# ----------------------------------------------------------------------------- ties and errors


def test_ties_same_counts_and_same_mask_away_from_the_threshold() -> None:
    rng = np.random.default_rng(41)
    for _ in range(30):
        w = rng.integers(-3, 4, size=(int(rng.integers(1, 30)), 7)).astype(np.float32)
        amount = float(rng.random())
        ref = (
            P.L1Unstructured(amount)
            .compute_mask(torch.from_numpy(w), torch.ones(w.shape))
            .numpy()
            .astype(bool)
        )
        got = l1_unstructured_mask(w, amount)
        assert got.sum() == ref.sum()
        k = (~got).sum()
        if 0 < k:
            t = np.sort(np.abs(w).ravel())[k - 1]  # the threshold: only entries with |w| == t may differ
            away = np.abs(w) != t
            assert np.array_equal(got[away], ref[away])


BAD_AMOUNTS = [-1, 1.5, -0.5, 2.0, "0.3", None, [0.5], 1 + 0j, math.nan, np.float64(1.01), math.inf]


def _same_error(torch_call: Callable[[], object], our_call: Callable[[], object]) -> None:
    with pytest.raises(Exception) as theirs:
        torch_call()
    with pytest.raises(Exception) as ours:
        our_call()
    assert type(ours.value) is type(theirs.value) or issubclass(type(ours.value), type(theirs.value)), (
        theirs.value,
        ours.value,
    )


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_invalid_amounts_same_errors(amount: Any) -> None:
    w = _tie_free(np.random.default_rng(0), (4, 5))

    def torch_l1() -> None:
        P.l1_unstructured(_holder(w), "weight", amount)

    def torch_ln() -> None:
        P.ln_structured(_holder(w), "weight", amount, n=2, dim=0)

    def torch_global() -> None:
        mods = _modules([w, w])
        P.global_unstructured([(m, "weight") for m in mods], pruning_method=P.L1Unstructured, amount=amount)

    _same_error(torch_l1, lambda: l1_unstructured_mask(w, amount))
    _same_error(torch_ln, lambda: ln_structured_mask(w, amount, 2, 0))
    _same_error(torch_global, lambda: global_unstructured_masks([w, w], amount))


def test_bool_amounts() -> None:
    w = _tie_free(np.random.default_rng(4), (4, 5))
    # torch: False prunes nothing; True is 1 channel for LnStructured, a TypeError from topk for L1.
    # refquant raises TypeError for every bool amount (a flag is not a count).
    m = _holder(w)
    P.l1_unstructured(m, "weight", False)
    assert _mask(m).all()
    m = _holder(w)
    P.ln_structured(m, "weight", True, n=1, dim=1)
    assert int((~_mask(m).astype(bool)).any(axis=0).sum()) == 1
    with pytest.raises(TypeError):
        P.l1_unstructured(_holder(w), "weight", True)
    for amount in (True, False):
        for call in (
            lambda a=amount: l1_unstructured_mask(w, a),
            lambda a=amount: ln_structured_mask(w, a, 1, 1),
            lambda a=amount: global_unstructured_masks([w], a),
        ):
            with pytest.raises(TypeError, match=f"amount.*bool.*{amount}"):
                call()


def test_counts_larger_than_what_is_left_same_errors() -> None:
    w = _tie_free(np.random.default_rng(1), (4, 5))
    _same_error(lambda: P.l1_unstructured(_holder(w), "weight", 21), lambda: l1_unstructured_mask(w, 21))
    _same_error(
        lambda: P.ln_structured(_holder(w), "weight", 5, n=1, dim=0), lambda: ln_structured_mask(w, 5, 1, 0)
    )
    _same_error(
        lambda: P.global_unstructured([(_holder(w), "weight")], pruning_method=P.L1Unstructured, amount=21),
        lambda: global_unstructured_masks([w], 21),
    )
    # relative to the remaining entries: 20 - 10 = 10 left, 11 is too many
    m = _holder(w)
    P.l1_unstructured(m, "weight", 10)
    first = _mask(m)
    _same_error(
        lambda: P.l1_unstructured(m, "weight", 11), lambda: l1_unstructured_mask(w, 11, default_mask=first)
    )
    assert l1_unstructured_mask(w, 10, default_mask=first).sum() == 0


def test_structured_shape_and_dim_errors() -> None:
    v = np.arange(1.0, 6.0, dtype=np.float32)
    _same_error(
        lambda: P.ln_structured(_holder(v), "weight", 1, n=2, dim=0), lambda: ln_structured_mask(v, 1, 2, 0)
    )
    w = _tie_free(np.random.default_rng(2), (3, 4))
    for dim in (2, 5, -3):
        _same_error(
            lambda d=dim: P.ln_structured(_holder(w), "weight", 1, n=2, dim=d),
            lambda d=dim: ln_structured_mask(w, 1, 2, d),
        )


# ------------------------------------------------------------------ the Taylor structured procedure


def test_taylor_structured_prune_removes_the_neurons_torch_gates_rank_lowest() -> None:
    """Molchanov et al. 2019's gate formulation, in torch autograd: a gate ``c_j = 1`` on each hidden
    pre-activation; the importance is ``(dL/dc_j)**2``. The procedure must keep, in every hidden
    layer, the ``n - round(fraction * n)`` neurons of highest importance (two hidden layers, so the
    order of removal matters), and copy their rows and columns unchanged."""
    from refquant.nn.mlp import init_mlp
    from refquant.nn.train import Model
    from refquant.recipes.pruning import taylor_structured_prune

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    p = [(w, rng.normal(0, 0.3, b.shape)) for w, b in init_mlp([5, 8, 6, 3], rng=rng, dtype=np.float64)]
    gates = [torch.ones(8, dtype=torch.float64, requires_grad=True)]
    gates.append(torch.ones(6, dtype=torch.float64, requires_grad=True))
    h = torch.from_numpy(x)
    for i, (w, b) in enumerate(p):
        z = h @ torch.from_numpy(w).T + torch.from_numpy(b)
        h = torch.relu(z * gates[i]) if i < 2 else z
    torch.nn.functional.cross_entropy(h, torch.from_numpy(y)).backward()
    importance = [g.grad.numpy() ** 2 for g in gates]
    assert all(_separated(s) for s in importance)  # no ties: the choice is unambiguous
    keep = [np.sort(np.argsort(s)[s.size // 2 :]) for s in importance]  # fraction 0.5 of 8 and 6

    m = taylor_structured_prune(Model(p), x, y, fraction=0.5, finetune_epochs=0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(m.params[0][0], p[0][0][keep[0]])
    np.testing.assert_array_equal(m.params[0][1], p[0][1][keep[0]])
    np.testing.assert_array_equal(m.params[1][0], p[1][0][np.ix_(keep[1], keep[0])])
    np.testing.assert_array_equal(m.params[1][1], p[1][1][keep[1]])
    np.testing.assert_array_equal(m.params[2][0], p[2][0][:, keep[1]])
    np.testing.assert_array_equal(m.params[2][1], p[2][1])

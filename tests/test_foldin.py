"""Fold-in solves the problem ``NMF.transform`` solves, exactly, and never copies the items."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import nnls
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

from recommender.foldin import FoldIn, NNLSGram, gram_matrix

N_USERS, N_FILMS = 300, 2000


def fitted_nmf(k: int) -> NMF:
    """sklearn NMF (nndsvd, coordinate descent) fitted on a random sparse 0..1 matrix."""
    rng = np.random.default_rng(k)
    x = sp.random(
        N_USERS,
        N_FILMS,
        density=0.05,
        random_state=k + 1,
        format="csr",
        data_rvs=lambda n: rng.uniform(0.0, 1.0, n),
    )
    model = NMF(n_components=k, init="nndsvd", solver="cd", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x)
    return model


@pytest.fixture(scope="module", params=[20, 60], ids=["k20", "k60"])
def nmf(request: pytest.FixtureRequest) -> NMF:
    return fitted_nmf(request.param)


def users(seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, column indices, values) for users of different densities, down to one rating."""
    rng = np.random.default_rng(seed)
    out = []
    for label, n in [("one", 1), ("two", 2), ("sparse", 20), ("medium", 100), ("dense", 600)]:
        idx = np.sort(rng.choice(N_FILMS, n, replace=False))
        out.append((label, idx, rng.uniform(0.05, 1.0, n)))
    return out


def dense_row(idx: np.ndarray, vals: np.ndarray, n: int = N_FILMS) -> np.ndarray:
    x = np.zeros(n)
    x[idx] = vals
    return x


def objective(x: np.ndarray, w: np.ndarray, h: np.ndarray) -> float:
    return float(np.sum((x - w @ h) ** 2))


def sk_transform(model: NMF, x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.transform(sp.csr_matrix(x[None, :]))[0]


def test_matches_sklearn_transform(nmf: NMF):
    h = nmf.components_
    fold = FoldIn(h)
    # The same model with a far tighter stopping rule: sklearn's CD then reaches the exact answer.
    tight = copy.deepcopy(nmf).set_params(tol=1e-10, max_iter=5000)
    for label, idx, vals in users(nmf.n_components):
        x = dense_row(idx, vals)
        ours = fold.transform(idx, vals)
        theirs = sk_transform(nmf, x)
        scale = np.abs(theirs).max()
        assert scale > 0, label
        assert ours.shape == (nmf.n_components,)
        assert ours.min() >= 0.0
        # sklearn stops at tol=1e-4: W agrees to well within that.
        assert np.abs(ours - theirs).max() <= 1e-3 * scale, label
        # We solve exactly, so our objective is never worse than sklearn's.
        assert objective(x, ours, h) <= objective(x, theirs, h) + 1e-9, label
        exact = sk_transform(tight, x)
        assert np.abs(ours - exact).max() <= 1e-6 * scale, label


@pytest.mark.parametrize("start", ["unconstrained", "zero"])
def test_matches_scipy_nnls(nmf: NMF, start: str):
    """From either start (the Cholesky one, or w = 0 when G has no Cholesky factor)."""
    h = nmf.components_
    fold = FoldIn(h)
    assert fold.solver._cholesky is not None
    if start == "zero":
        fold.solver._cholesky = None
    for label, idx, vals in users(100 + nmf.n_components):
        x = dense_row(idx, vals)
        ours = fold.transform(idx, vals)
        ref, _ = nnls(h.T, x)
        scale = np.abs(ref).max()
        assert np.abs(ours - ref).max() <= 1e-6 * scale, label
        assert objective(x, ours, h) == pytest.approx(objective(x, ref, h), rel=1e-9, abs=1e-12)
        # Some components sit on the bound w = 0: the non-negativity constraint is active.
        if label in ("sparse", "medium"):
            assert (ours == 0).any(), label


def test_all_zero_user_gives_zero_factors(nmf: NMF):
    fold = FoldIn(nmf.components_)
    empty = fold.transform(np.array([], dtype=np.intp), np.array([]))
    np.testing.assert_array_equal(empty, np.zeros(nmf.n_components))
    zeros = fold.transform(np.array([3, 17, 400]), np.zeros(3))
    np.testing.assert_array_equal(zeros, np.zeros(nmf.n_components))
    np.testing.assert_array_equal(sk_transform(nmf, np.zeros(N_FILMS)), empty)


def test_single_rating_user_matches_closed_form():
    # One component and one rated film j: w = x_j h_j / ||h||² (the projection onto h).
    h = np.array([[0.5, 2.0, 0.0, 1.0]])
    w = FoldIn(h).transform(np.array([1]), np.array([0.8]))
    assert w[0] == pytest.approx(0.8 * 2.0 / (0.25 + 4.0 + 1.0), rel=1e-9)


def test_scores_are_w_times_h(nmf: NMF):
    h32 = nmf.components_.astype(np.float32)
    fold = FoldIn(h32)
    _, idx, vals = users(5)[2]
    w = fold.transform(idx, vals)
    scores = fold.scores(w)
    assert scores.dtype == np.float32
    assert scores.shape == (N_FILMS,)
    np.testing.assert_allclose(scores, w @ h32.astype(np.float64), rtol=1e-5, atol=1e-7)


def test_unused_component_gets_zero_weight():
    # A component row of zeros (a component no film uses) makes G singular; the solver must
    # still give the exact answer, with that component at 0.
    rng = np.random.default_rng(9)
    h = rng.uniform(0, 1, (6, 80))
    h[2] = 0.0
    idx = np.arange(0, 80, 3)
    vals = rng.uniform(0.1, 1, idx.size)
    w = FoldIn(h).transform(idx, vals)
    ref, _ = nnls(h.T, dense_row(idx, vals, 80))
    assert w[2] == 0.0
    np.testing.assert_allclose(w, ref, atol=1e-9)


def test_nnls_gram_solves_the_quadratic_exactly():
    # min wᵀGw - 2qᵀw, w >= 0, checked against the KKT conditions.
    rng = np.random.default_rng(4)
    a = rng.normal(size=(30, 8))
    g = a.T @ a
    q = rng.normal(size=8)
    w = NNLSGram(g).solve(q)
    grad = g @ w - q
    assert w.min() >= 0
    assert 0 < (w > 0).sum() < 8
    np.testing.assert_allclose(grad[w > 0], 0.0, atol=1e-9)
    assert grad[w == 0].min() >= -1e-9
    # q <= 0: w = 0 is optimal.
    np.testing.assert_array_equal(NNLSGram(g).solve(-np.abs(q)), np.zeros(8))


def test_components_are_not_copied(tmp_path):
    h = np.random.default_rng(1).uniform(0, 1, (5, 300)).astype(np.float32)
    np.save(tmp_path / "components.npy", h)
    mapped = np.load(tmp_path / "components.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    fold = FoldIn(mapped)
    assert fold.components is mapped
    assert np.shares_memory(fold.components, mapped)
    assert fold.n_components == 5
    w = fold.transform(np.array([1, 2, 3]), np.array([0.2, 0.9, 0.4]))
    assert fold.components is mapped  # a request does not replace it either
    np.testing.assert_allclose(fold.scores(w), w @ h.astype(np.float64), rtol=1e-5, atol=1e-7)
    # An in-memory array is kept as the same object too.
    assert FoldIn(h).components is h


def test_fold_keeps_the_columns_it_gathered():
    """ranking reuses them for its kernel: they must be exactly H's columns of the user's films,
    in column order, with ``order`` mapping them back to the user's own order."""
    rng = np.random.default_rng(11)
    h = rng.gamma(0.3, 1.0, (12, 500)).astype(np.float32)
    fold = FoldIn(h)
    idx = np.array([400, 3, 250, 17, 499, 0])
    vals = rng.uniform(0.1, 1.0, idx.size)
    folded = fold.fold(idx, vals)
    np.testing.assert_array_equal(folded.order, [5, 1, 3, 2, 0, 4])
    np.testing.assert_array_equal(folded.columns, h[:, [0, 3, 17, 250, 400, 499]])
    np.testing.assert_array_equal(folded.columns[:, np.argsort(folded.order)], h[:, idx])
    np.testing.assert_array_equal(folded.w, fold.transform(idx, vals))
    ref, _ = nnls(h.T.astype(np.float64), dense_row(idx, vals, 500))
    np.testing.assert_allclose(folded.w, ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("n_active", [0, 1, 20, 21, 22, 64])
def test_scores_read_only_the_active_rows_when_few(n_active: int):
    """Up to a third of the components active, ``w H`` reads only their rows (in blocks of
    columns): a NaN in a row whose weight is 0 never reaches the scores. Past a third it is
    one product over all of H, whose NaN rows then do (0 x NaN is NaN)."""
    rng = np.random.default_rng(n_active)
    k, n_films = 64, 30_000  # 20 active rows of 30,000 float32: three blocks of columns
    h = rng.gamma(0.3, 1.0, (k, n_films)).astype(np.float32)
    active = np.sort(rng.choice(k, n_active, replace=False))
    w = np.zeros(k)
    w[active] = rng.uniform(0.1, 2.0, n_active)
    want = w[active] @ h[active].astype(np.float64)
    fold = FoldIn(h)
    got = fold.scores(w)
    assert got.dtype == np.float32 and got.shape == (n_films,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    if n_active == 0:
        np.testing.assert_array_equal(got, np.zeros(n_films, dtype=np.float32))
    inactive = np.setdiff1d(np.arange(k), active)
    if inactive.size:
        h[inactive[:3]] = np.nan  # the fold-in's H is this array: rows scores must not read
        poisoned = fold.scores(w)
        if n_active <= k / 3:
            np.testing.assert_array_equal(poisoned, got)
        else:
            assert np.isnan(poisoned).all()


def test_gram_matrix_is_h_ht_whatever_the_block_size():
    rng = np.random.default_rng(12)
    h = rng.gamma(0.3, 1.0, (7, 1_001)).astype(np.float32)
    h64 = h.astype(np.float64)
    for chunk_bytes in (1, 8 * 7 * 100, 1 << 20):  # one column, 100 columns, all at once
        np.testing.assert_allclose(gram_matrix(h, chunk_bytes), h64 @ h64.T, rtol=1e-12)

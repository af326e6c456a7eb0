"""NMF by coordinate descent: scikit-learn's ``solver="cd"`` updates, arranged to run fast.

scikit-learn's coordinate descent (Cichocki & Phan, 2009; also called HALS) updates one column
``t`` of ``W`` at a time, for every row ``i``::

    W[i, t] = max(0, W[i, t] - (W[i] · HHt[:, t] - XHt[i, t]) / HHt[t, t])

with ``HHt = H Hᵀ`` and ``XHt = X Hᵀ``, then does the same for ``Hᵀ`` with ``Wᵀ W`` and
``Xᵀ W``. Its Cython loop walks the whole of ``W`` once per column (k passes over a
users × k array) on one core. Rows never depend on each other, so the same updates, in the
same order within each row, can run on a block of rows that stays in cache; and the gradients
of a block of columns come from one matrix product (BLAS), leaving only the corrections for
columns updated earlier in the block to be done one column at a time. Row blocks run in
parallel threads, and ``X Hᵀ`` / ``Xᵀ W`` are split by rows over the same threads (scipy's
sparse products release the GIL). The result is the same W and H as scikit-learn's to
rounding (``bench/train.py`` checks the loss side by side; ``tests/test_training.py`` too).

``nndsvd`` is scikit-learn's ``init="nndsvd"``, with scikit-learn's randomized SVD redone
step for step so that its sparse products run on the same threads (scikit-learn's run on one
core, and its start took as long as 15 iterations at k=370): the same start, bit for bit when
scikit-learn also runs on one BLAS thread (``tests/test_training.py``).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.utils.extmath import svd_flip
from threadpoolctl import threadpool_limits

ROW_BLOCK = 4096  # rows of a factor updated together: 4096 x 370 float64 is 12 MB
COL_BLOCK = 32  # components whose gradients come from one matrix product
EPS = 1e-6  # scikit-learn's nndsvd zeroes smaller entries
N_OVERSAMPLES = 10  # scikit-learn's randomized_svd defaults
N_ITER_SMALL_K, N_ITER_LARGE_K = 7, 4


class SparseProducts:
    """``X @ D`` and ``Xᵀ @ D`` for dense ``D``, split over a pool of threads (scipy's sparse
    products release the GIL), each entry summed in the order scipy sums it on its own.

    ``X @ D`` runs on ranges of rows of ``X`` (users), each row gathering rows of ``D``.
    ``Xᵀ @ D`` runs on ranges of columns of ``X`` (films), each range held as its own CSR
    block and multiplied as scipy multiplies ``X.T`` (CSC): user by user, reading ``D`` in
    order and adding into the films' rows, which is what scikit-learn does. (Gathering from the
    CSR of ``Xᵀ`` instead jumps around all of ``D``, a users × k matrix: 1.7 times slower at
    ml-32m size.) The ranges hold about equal numbers of entries, one per thread. ``x`` must be
    float64 CSR without duplicate entries. Use it as a context manager (the threads stop on
    exit).
    """

    def __init__(self, x: sp.csr_matrix, threads: int | None = None) -> None:
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="nmf")
        self.shape: tuple[int, int] = x.shape
        self.x_sq = float(np.dot(x.data, x.data))  # ||X||²_F
        self._x = _row_parts(x, self.threads)
        self._xt = _column_parts(x, self.threads)

    def __enter__(self) -> SparseProducts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.pool.shutdown()

    def x_times(self, dense: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``X @ dense``."""
        return self._times(self._x, dense, out)

    def xt_times(self, dense: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``Xᵀ @ dense``."""
        return self._times(self._xt, dense, out)

    def _times(self, parts, dense: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        dense = np.ascontiguousarray(dense, dtype=np.float64)  # scipy would copy it per part
        if out is None:
            out = np.empty((parts[-1][1] if parts else 0, dense.shape[1]))

        def run(part: tuple[int, int, sp.csr_matrix]) -> None:
            lo, hi, rows = part
            out[lo:hi] = rows @ dense

        list(self.pool.map(run, parts))
        return out


def randomized_svd(
    xs: SparseProducts, k: int, random_state: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sklearn.utils.extmath.randomized_svd(X, k, random_state=random_state)`` with its
    defaults (10 oversamples, 7 or 4 LU-normalised power iterations, ``transpose="auto"``,
    sign flip), step for step, the sparse products on ``xs``'s threads."""
    n_samples, n_features = xs.shape
    rng = np.random.RandomState(random_state)
    n_iter = N_ITER_SMALL_K if k < 0.1 * min(xs.shape) else N_ITER_LARGE_K
    transpose = n_samples < n_features
    # M is X, or Xᵀ when X is wide; sklearn multiplies by M and by Mᵀ.
    m_times, mt_times = (xs.xt_times, xs.x_times) if transpose else (xs.x_times, xs.xt_times)
    q = rng.normal(size=(n_samples if transpose else n_features, k + N_OVERSAMPLES))
    for _ in range(n_iter):
        q, _ = linalg.lu(m_times(q), permute_l=True, check_finite=False)
        q, _ = linalg.lu(mt_times(q), permute_l=True, check_finite=False)
    q, _ = linalg.qr(m_times(q), mode="economic", check_finite=False)
    b = mt_times(q).T  # Qᵀ M
    u_hat, s, vt = linalg.svd(b, full_matrices=False, lapack_driver="gesdd")
    del b
    u = q @ u_hat
    u, vt = svd_flip(u, vt, u_based_decision=not transpose)
    if transpose:
        return vt[:k].T, s[:k], u[:, :k].T
    return u[:, :k], s[:k], vt[:k]


def nndsvd(
    x: sp.csr_matrix | SparseProducts, k: int, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """Boutsidis & Gallopoulos (2008) NNDSVD, as ``sklearn.decomposition.NMF(init="nndsvd")``."""
    # The dense steps (LU, QR and SVD of tall, thin matrices, and the vector work below) run
    # on one BLAS thread: with two, OpenBLAS's threads wait for each other whenever another
    # process holds a core, and these steps took 3 to 15 times longer on a shared 2-core
    # machine. The sparse products, most of the work, still run on every core.
    with threadpool_limits(limits=1, user_api="blas"):
        if isinstance(x, SparseProducts):
            u, s, v = randomized_svd(x, k, random_state)
        else:
            with SparseProducts(x) as xs:
                u, s, v = randomized_svd(xs, k, random_state)
        w, h = _nndsvd_factors(u, s, v)
    w[w < EPS] = 0
    h[h < EPS] = 0
    return w, h


def _nndsvd_factors(u: np.ndarray, s: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = s.size
    # Component j of W is a column of u: work on rows of uᵀ (contiguous) and transpose at the end.
    ut = np.ascontiguousarray(u.T)
    del u
    wt, h = np.zeros_like(ut), np.zeros_like(v)
    wt[0] = np.sqrt(s[0]) * np.abs(ut[0])
    h[0] = np.sqrt(s[0]) * np.abs(v[0])
    for j in range(1, k):
        a, b = ut[j], v[j]
        a_p, b_p = np.maximum(a, 0), np.maximum(b, 0)
        a_n, b_n = np.abs(np.minimum(a, 0)), np.abs(np.minimum(b, 0))
        a_p_nrm, b_p_nrm = np.sqrt(np.dot(a_p, a_p)), np.sqrt(np.dot(b_p, b_p))
        a_n_nrm, b_n_nrm = np.sqrt(np.dot(a_n, a_n)), np.sqrt(np.dot(b_n, b_n))
        m_p, m_n = a_p_nrm * b_p_nrm, a_n_nrm * b_n_nrm
        if m_p > m_n:
            left, right, sigma = a_p / a_p_nrm, b_p / b_p_nrm, m_p
        else:
            left, right, sigma = a_n / a_n_nrm, b_n / b_n_nrm, m_n
        scale = np.sqrt(s[j] * sigma)
        wt[j] = scale * left
        h[j] = scale * right
    del ut
    return np.ascontiguousarray(wt.T), h


def _update_rows(f: np.ndarray, gram: np.ndarray, cross: np.ndarray, diag: np.ndarray) -> None:
    """One coordinate-descent pass over every column of the row block ``f`` (in place)."""
    k = f.shape[1]
    for c0 in range(0, k, COL_BLOCK):
        c1 = min(c0 + COL_BLOCK, k)
        # Gradients of the block's columns with the columns before it already updated...
        grad = np.asfortranarray(f @ gram[:, c0:c1] - cross[:, c0:c1])
        cols = np.asfortranarray(f[:, c0:c1])
        moved = np.zeros_like(cols)
        inner = np.asfortranarray(gram[c0:c1, c0:c1])
        for t in range(c1 - c0):
            hess = diag[c0 + t]
            if hess == 0:
                continue  # scikit-learn skips such a column too
            g = grad[:, t]
            if t:  # ...plus what the block's earlier columns moved since
                g = g + moved[:, :t] @ inner[:t, t]
            old = cols[:, t]
            new = np.maximum(old - g / hess, 0.0)
            np.subtract(new, old, out=moved[:, t])
            cols[:, t] = new
        f[:, c0:c1] = cols


class CoordinateDescent:
    """A fit in progress: ``X ≈ W H`` from a start ``(W, H)``, one :meth:`step` per iteration.

    ``x`` is a float64 CSR matrix without duplicate entries, or the :class:`SparseProducts`
    built for the start (its threads are then shared, and it stays open on exit). One thread
    per core multiplies ``X`` and ``Xᵀ`` and runs the coordinate descent on row blocks. Use it
    as a context manager (the threads it started stop on exit).
    """

    def __init__(
        self,
        x: sp.csr_matrix | SparseProducts,
        w: np.ndarray,
        h: np.ndarray,
        threads: int | None = None,
    ) -> None:
        self._owned = not isinstance(x, SparseProducts)
        self.xs = SparseProducts(x, threads) if not isinstance(x, SparseProducts) else x
        self.threads = self.xs.threads
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.ht = np.ascontiguousarray(h.T, dtype=np.float64)
        self.hth = self.ht.T @ self.ht
        self._xht = np.empty_like(self.w)
        self._xtw = np.empty_like(self.ht)

    def __enter__(self) -> CoordinateDescent:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.xs.close()

    @property
    def h(self) -> np.ndarray:
        return np.ascontiguousarray(self.ht.T)

    def step(self) -> float:
        """One iteration (every column of W, then of H); returns ``||X - W H||_F``."""
        # One BLAS thread per worker: the workers already fill the cores (and the k × k Gram
        # products are small next to the rest).
        with threadpool_limits(limits=1, user_api="blas"):
            self._update(self.w, self.hth, self.xs.x_times(self.ht, self._xht))
            wtw = self.w.T @ self.w
            xtw = self.xs.xt_times(self.w, self._xtw)
            self._update(self.ht, wtw, xtw)
            self.hth = self.ht.T @ self.ht
        # ||X - WH||² = ||X||² - 2 <Xᵀ W, Hᵀ> + <Wᵀ W, H Hᵀ>: no users × films product, and
        # Xᵀ W is already at hand.
        sq = self.xs.x_sq - 2.0 * float(np.vdot(xtw, self.ht)) + float(np.vdot(wtw, self.hth))
        return float(np.sqrt(max(sq, 0.0)))

    def _update(self, f: np.ndarray, gram: np.ndarray, cross: np.ndarray) -> None:
        """Coordinate descent on every row of ``f`` in place, row blocks in parallel."""
        diag = gram.diagonal().copy()

        def run(lo: int) -> None:
            hi = min(lo + ROW_BLOCK, f.shape[0])
            _update_rows(f[lo:hi], gram, cross[lo:hi], diag)

        list(self.xs.pool.map(run, range(0, f.shape[0], ROW_BLOCK)))


def _column_parts(x: sp.csr_matrix, n: int) -> list[tuple[int, int, sp.csc_matrix]]:
    """``Xᵀ`` as up to ``n`` row ranges of about equal numbers of entries, each the transpose
    (CSC, no copy) of a CSR block of ``x``'s columns (together one copy of ``x``)."""
    per_column = np.bincount(x.indices, minlength=x.shape[1])
    ends = np.concatenate(([0], np.cumsum(per_column)))
    cuts = np.searchsorted(ends, np.linspace(0, x.nnz, n + 1)[1:-1])
    edges = sorted({0, x.shape[1], *(int(c) for c in cuts)})
    return [(lo, hi, x[:, lo:hi].tocsr().T) for lo, hi in itertools.pairwise(edges)]


def _row_parts(x: sp.csr_matrix, n: int) -> list[tuple[int, int, sp.csr_matrix]]:
    """``x`` as up to ``n`` row ranges holding about equal numbers of entries (views, no copy)."""
    cuts = np.searchsorted(x.indptr, np.linspace(0, x.nnz, n + 1)[1:-1])
    edges = sorted({0, x.shape[0], *(int(c) for c in cuts)})
    parts = []
    for lo, hi in itertools.pairwise(edges):
        a, b = x.indptr[lo], x.indptr[hi]
        rows = sp.csr_matrix(
            (x.data[a:b], x.indices[a:b], x.indptr[lo : hi + 1] - a), shape=(hi - lo, x.shape[1])
        )
        parts.append((lo, hi, rows))
    return parts

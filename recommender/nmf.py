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

``nndsvd`` is scikit-learn's ``init="nndsvd"`` with the same randomized SVD, so a fit starts
where ``NMF(init="nndsvd")`` starts.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits

ROW_BLOCK = 4096  # rows of a factor updated together: 4096 x 370 float64 is 12 MB
COL_BLOCK = 32  # components whose gradients come from one matrix product
EPS = 1e-6  # scikit-learn's nndsvd zeroes smaller entries


def nndsvd(x: sp.csr_matrix, k: int, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Boutsidis & Gallopoulos (2008) NNDSVD, as ``sklearn.decomposition.NMF(init="nndsvd")``."""
    u, s, v = randomized_svd(x, k, random_state=random_state)
    w, h = np.zeros_like(u), np.zeros_like(v)
    w[:, 0] = np.sqrt(s[0]) * np.abs(u[:, 0])
    h[0, :] = np.sqrt(s[0]) * np.abs(v[0, :])
    for j in range(1, k):
        a, b = u[:, j], v[j, :]
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
        w[:, j] = scale * left
        h[j, :] = scale * right
    w[w < EPS] = 0
    h[h < EPS] = 0
    return w, h


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

    ``X`` and ``Xᵀ`` are held as CSR matrices split by rows into equal shares of the ratings;
    one thread per core multiplies them and runs the coordinate descent on row blocks. Use it
    as a context manager (the threads stop on exit).
    """

    def __init__(
        self, x: sp.csr_matrix, w: np.ndarray, h: np.ndarray, threads: int | None = None
    ) -> None:
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="nmf")
        self.x = _row_parts(x, self.threads)
        self.xt = _row_parts(x.T.tocsr(), self.threads)
        self.x_sq = float(np.dot(x.data, x.data))  # ||X||²_F (x has no duplicate entries)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.ht = np.ascontiguousarray(h.T, dtype=np.float64)
        self.hth = self.ht.T @ self.ht
        self._xht = np.empty_like(self.w)
        self._xtw = np.empty_like(self.ht)

    def __enter__(self) -> CoordinateDescent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()

    @property
    def h(self) -> np.ndarray:
        return np.ascontiguousarray(self.ht.T)

    def step(self) -> float:
        """One iteration (every column of W, then of H); returns ``||X - W H||_F``."""
        self._update(self.w, self.hth, self._times(self.x, self.ht, self._xht))
        wtw = self.w.T @ self.w
        xtw = self._times(self.xt, self.w, self._xtw)
        self._update(self.ht, wtw, xtw)
        self.hth = self.ht.T @ self.ht
        # ||X - WH||² = ||X||² - 2 <Xᵀ W, Hᵀ> + <Wᵀ W, H Hᵀ>: no users × films product, and
        # Xᵀ W is already at hand.
        sq = self.x_sq - 2.0 * float(np.vdot(xtw, self.ht)) + float(np.vdot(wtw, self.hth))
        return float(np.sqrt(max(sq, 0.0)))

    def _times(self, parts: list[tuple[int, int, sp.csr_matrix]], dense, out) -> np.ndarray:
        def run(part: tuple[int, int, sp.csr_matrix]) -> None:
            lo, hi, rows = part
            out[lo:hi] = rows @ dense

        list(self.pool.map(run, parts))
        return out

    def _update(self, f: np.ndarray, gram: np.ndarray, cross: np.ndarray) -> None:
        """Coordinate descent on every row of ``f`` in place, row blocks in parallel."""
        diag = gram.diagonal().copy()

        def run(lo: int) -> None:
            hi = min(lo + ROW_BLOCK, f.shape[0])
            _update_rows(f[lo:hi], gram, cross[lo:hi], diag)

        # One BLAS thread per worker: the workers already fill the cores.
        with threadpool_limits(limits=1 if self.threads > 1 else None, user_api="blas"):
            list(self.pool.map(run, range(0, f.shape[0], ROW_BLOCK)))


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

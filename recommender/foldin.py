"""Fold a new user into a fixed NMF model: the non-negative least squares ``NMF.transform`` solves.

For a user's scaled vector ``x`` (one value per model film, 0 where unrated) and fixed components
``H`` (k × films), fold-in finds ``w >= 0`` minimising ``||x - w H||²``. Expanding the square, it
depends on the films only through ``G = H Hᵀ`` (k × k, computed once per model) and
``q = H x`` (touching only the films the user rated), so one user costs a k×k problem instead
of a pass over every film per iteration, which is what makes ``NMF.transform`` take seconds.

The k×k problem is solved exactly by block principal pivoting (Kim & Park, 2011, "Fast
nonnegative matrix factorization: an active-set-like method and comparisons", SIAM J. Sci.
Comput. 33(6)), which exchanges many variables per step and so needs a handful of k×k solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from recommender.item_item import ItemItem

_MAX_ITER_FACTOR = 5  # safety valve; block pivoting converges in far fewer steps in practice
# ``w H`` reads only the rows of H where w > 0 (the NNLS solution is sparse) when at most this
# share of the components is active; past it one matrix-vector product over H is faster.
_SPARSE_SCORES_SHARE = 1 / 3
_SCORES_CHUNK_BYTES = 1 << 20  # the active rows are gathered this much at a time (cache-sized)


class NNLSGram:
    """Solver for ``min_{w>=0} wᵀ G w - 2 qᵀ w`` with a fixed positive semi-definite ``G``."""

    def __init__(self, gram: np.ndarray) -> None:
        gram = np.asarray(gram, dtype=np.float64)
        k = gram.shape[0]
        # A tiny ridge keeps the sub-systems solvable when a component is (numerically) unused;
        # it is far below the solver tolerance of NMF.transform, so W does not move.
        ridge = 1e-12 * max(float(np.trace(gram)) / max(k, 1), 1e-300)
        self.gram = gram + ridge * np.eye(k)
        self.k = k
        # Block pivoting may start from any partition. Starting with every component free
        # makes the first step the unconstrained solution, two triangular solves with this
        # factor instead of a fresh k × k solve per user (q > 0 almost everywhere, so the
        # usual start frees nearly every component anyway): a third of the time at k=370.
        try:
            self._cholesky: tuple[np.ndarray, bool] | None = linalg.cho_factor(self.gram)
        except linalg.LinAlgError:
            self._cholesky = None  # not numerically positive definite: start from w = 0

    def solve(self, q: np.ndarray) -> np.ndarray:
        """The exact non-negative minimiser ``w`` (length k, float64)."""
        q = np.asarray(q, dtype=np.float64)
        k = self.k
        if k == 0 or not np.any(q > 0):
            return np.zeros(k)  # with G PSD and q <= 0, w = 0 satisfies the optimality conditions
        gram = self.gram
        if self._cholesky is not None:
            passive = np.ones(k, dtype=bool)
            w = linalg.cho_solve(self._cholesky, q, check_finite=False)
            grad = np.zeros(k)  # zero on the free components by construction
        else:
            passive = np.zeros(k, dtype=bool)
            w = np.zeros(k)
            grad = -q.copy()  # gradient (up to a factor 2) at w = 0
        budget, best = 3, k + 1
        tol = 1e-12 * max(float(np.abs(q).max()), 1.0)
        for _ in range(_MAX_ITER_FACTOR * k):
            infeasible = (passive & (w < -tol)) | (~passive & (grad < -tol))
            n_bad = int(infeasible.sum())
            if n_bad == 0:
                break
            if n_bad < best:
                best, budget = n_bad, 3
                passive ^= infeasible
            elif budget > 0:
                budget -= 1
                passive ^= infeasible
            else:  # backup rule: flip only the largest infeasible index, which cannot cycle
                passive[np.flatnonzero(infeasible).max()] ^= True
            w = np.zeros(k)
            idx = np.flatnonzero(passive)
            if idx.size:
                w[idx] = _solve_spd(gram[np.ix_(idx, idx)], q[idx])
            grad = gram @ w - q
            grad[passive] = 0.0
        return np.maximum(w, 0.0)


def _solve_spd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]


@dataclass(frozen=True, slots=True)
class Folded:
    """One user folded in: ``w`` and the item-matrix columns of the user's films it read.

    ``columns[:, i]`` is ``H[:, item_index[order[i]]]`` (the films in column order, as they
    were gathered): ranking reuses them for its kernel instead of gathering them again, which
    would cost another pass over most of the item matrix's cache lines.
    """

    w: np.ndarray  # k, float64
    columns: np.ndarray  # k × the user's films, the components' dtype, in column order
    order: np.ndarray  # argsort of item_index


def gram_matrix(h: np.ndarray, chunk_bytes: int = 32 << 20) -> np.ndarray:
    """``H Hᵀ`` in float64, from float64 copies of a few columns of ``H`` at a time: a float64
    copy of the whole item matrix (237 MiB at 84,000 films, k=370) would double the
    process's peak memory at start-up."""
    k, n_films = h.shape
    gram = np.zeros((k, k))
    step = max(1, chunk_bytes // (8 * max(k, 1)))
    for start in range(0, n_films, step):
        part = np.asarray(h[:, start : start + step], dtype=np.float64)
        gram += part @ part.T
    return gram


class FoldIn:
    """Everything fold-in needs from a model, computed once at load.

    ``components`` may be a read-only memory map; it is never copied per request.
    """

    def __init__(
        self,
        components: np.ndarray,
        film_bias: np.ndarray | None = None,
        item_item: ItemItem | None = None,
    ) -> None:
        self.components = components
        # The model's item-item half (item_item.py), blended with w H by ranking; None: NMF alone.
        if item_item is not None and item_item.n_films != components.shape[1]:
            raise ValueError(f"item_item has {item_item.n_films} films, not {components.shape[1]}")
        self.item_item = item_item
        # The same memory as a plain ndarray: indexing a memmap goes through its Python-level
        # __getitem__ on every request.
        self._items = np.asarray(components)
        self.solver = NNLSGram(gram_matrix(self._items))
        # Each film's bias (film_bias.py), where predicted stars start; 0 when unknown.
        n_films = components.shape[1]
        self.film_bias = (
            np.zeros(n_films) if film_bias is None else np.asarray(film_bias, dtype=np.float64)
        )
        if self.film_bias.shape != (n_films,):
            raise ValueError(f"film_bias has shape {self.film_bias.shape}, not ({n_films},)")

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, item_index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """User factors ``w`` for scaled ``values`` at model columns ``item_index``."""
        return self.fold(item_index, values).w

    def fold(self, item_index: np.ndarray, values: np.ndarray) -> Folded:
        """:meth:`transform`, keeping the item-matrix columns it gathered (see :class:`Folded`)."""
        item_index = np.asarray(item_index, dtype=np.intp)
        values = np.asarray(values, dtype=np.float64)
        # Gathered in column order: each row of H is then read forwards, twice as fast.
        order = np.argsort(item_index, kind="stable")
        columns = self._items[:, item_index[order]]
        q = columns.astype(np.float64) @ values[order]
        return Folded(w=self.solver.solve(q), columns=columns, order=order)

    def scores(self, w: np.ndarray) -> np.ndarray:
        """Predicted scaled value for every model film: ``w H`` (float32, at most one pass
        over H: only the rows of the components w uses when it uses few)."""
        h = self._items
        w = np.asarray(w, dtype=h.dtype)
        active = np.flatnonzero(w)
        if active.size > _SPARSE_SCORES_SHARE * w.size:
            return w @ h
        n_films = h.shape[1]
        out = np.zeros(n_films, dtype=h.dtype)
        if active.size == 0:
            return out
        w_active = w[active]
        step = max(1024, _SCORES_CHUNK_BYTES // (h.itemsize * active.size))
        for start in range(0, n_films, step):  # a copy of a few active columns at a time
            out[start : start + step] = w_active @ h[active, start : start + step]
        return out

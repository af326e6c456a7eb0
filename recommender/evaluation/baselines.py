"""The baselines: popularity, and EASE (Steck, 2019, "Embarrassingly shallow autoencoders for
sparse data"), a closed-form item-item model that is hard to beat on MovieLens.

EASE learns from presence (every rating counts as 1, as in the paper). Its weight matrix is
dense films × films, so it is restricted to the ``max_items`` most-rated films: on ml-32m the
84,000 rated films would need 28 GB; 20,000 films need 1.6 GB (float32).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from recommender.evaluation.recommenders import Universe, lookup, top_k

log = logging.getLogger(__name__)

EASE_MAX_ITEMS = 20_000
# Films rated by fewer training users almost never reach anyone's top 100, and every film
# kept costs cubic time: on ml-latest-small this keeps a third of the films and all of the
# recall (docs/evaluation.md has the numbers).
EASE_MIN_COUNT = 5
# Single precision: half the memory and about twice the speed of the inverse, and rankings
# do not need more digits (G holds counts, λ keeps it well conditioned).
EASE_DTYPE = np.float32


class Popularity:
    """Every user gets the most-rated films they have not rated; stars are the user's mean."""

    name = "popularity"

    def __init__(self, universe: Universe) -> None:
        self.universe = universe

    def top(self, ids: np.ndarray, stars: np.ndarray, k: int) -> np.ndarray:
        seen = self.universe.positions(ids)
        top = top_k(self.universe.counts.astype(np.float64), seen[seen >= 0], k)
        return self.universe.item_ids[top]

    def predict_stars(
        self, ids: np.ndarray, stars: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        return np.full(len(targets), float(np.mean(stars)) if len(stars) else 3.5)


EASE_ROW_BLOCK = 1024


@dataclass
class Ease:
    """EASE over ``item_ids``: ``scores = x B`` with ``x`` the user's rated films (0/1)."""

    item_ids: np.ndarray
    weights: np.ndarray  # films × films, zero diagonal
    lam: float
    name: str = "EASE"

    def top(self, ids: np.ndarray, stars: np.ndarray, k: int) -> np.ndarray:
        pos = lookup(self.item_ids, ids)
        pos = pos[pos >= 0]
        # Summed a block of rows at a time: a heavy ml-32m rater's rows gathered at once would
        # be |pos| × 20,000 floats (over a gigabyte).
        scores = np.zeros(self.weights.shape[1], dtype=np.float64)
        for start in range(0, pos.size, EASE_ROW_BLOCK):
            scores += self.weights[pos[start : start + EASE_ROW_BLOCK]].sum(axis=0)
        return self.item_ids[top_k(scores, pos, k)]

    def predict_stars(
        self, ids: np.ndarray, stars: np.ndarray, targets: np.ndarray
    ) -> np.ndarray | None:
        return None  # EASE ranks; it does not predict ratings


def ease_items(
    universe: Universe, max_items: int = EASE_MAX_ITEMS, min_count: int = EASE_MIN_COUNT
) -> np.ndarray:
    """The films EASE models: the most-rated, at most ``max_items``, each rated ``min_count``+."""
    order = np.lexsort((universe.item_ids, -universe.counts))[:max_items]
    order = order[universe.counts[order] >= min_count]
    return np.sort(universe.item_ids[order])


def gram(train: pd.DataFrame, item_ids: np.ndarray, block: int = 2048) -> np.ndarray:
    """``XᵀX`` for the binary users × ``item_ids`` matrix of ``train`` (dense, ``EASE_DTYPE``).

    Built a block of columns at a time: on ml-32m the sparse product of all 20,000 films at
    once would hold 400M entries with their indices.
    """
    cols = lookup(item_ids, train["movieId"].to_numpy())
    keep = cols >= 0
    rows, _ = pd.factorize(train["userId"].to_numpy()[keep])
    x = sp.csc_matrix(
        (np.ones(int(keep.sum())), (rows, cols[keep])),
        shape=(int(rows.max()) + 1 if rows.size else 0, item_ids.size),
    )
    x.data[:] = 1.0  # a film rated twice by one user is still one film
    xt = x.T.tocsr()
    out = np.empty((item_ids.size, item_ids.size), dtype=EASE_DTYPE)
    for start in range(0, item_ids.size, block):
        out[:, start : start + block] = (xt @ x[:, start : start + block]).toarray()
    return out


def ease_weights(gram_matrix: np.ndarray, lam: float, overwrite: bool = False) -> np.ndarray:
    """The closed form ``B = I - P diag(1/diag P)``, ``P = (G + λI)⁻¹``, diagonal zeroed.

    With ``overwrite`` the Gram matrix's memory becomes ``B`` (no second n² array).
    """
    g = gram_matrix if overwrite else gram_matrix.copy()
    g[np.diag_indices_from(g)] += lam
    # Cholesky then its inverse, both in place: half the time and memory of a general inverse.
    # G is symmetric, so its transpose is the Fortran-ordered view LAPACK works on without a copy.
    factor, lower = scipy.linalg.cho_factor(g.T, overwrite_a=True, check_finite=False)
    (potri,) = scipy.linalg.lapack.get_lapack_funcs(("potri",), (factor,))
    p, info = potri(factor, lower=lower, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE inverse failed (LAPACK info {info})")
    _mirror(p, lower)
    p = p.T  # symmetric again: the C-ordered view, so a user's rows are contiguous
    p /= -np.diag(p).copy()[None, :]
    np.fill_diagonal(p, 0.0)
    return p


def _mirror(a: np.ndarray, lower: bool, block: int = 2048) -> None:
    """Copy the computed triangle of ``a`` onto the other, a block at a time (no n² temporary)."""
    for i in range(0, a.shape[0], block):
        if lower:
            a[:i, i : i + block] = a[i : i + block, :i].T
        else:
            a[i : i + block, :i] = a[:i, i : i + block].T
    # The loop never touches the diagonal blocks: mirror inside each of them.
    for i in range(0, a.shape[0], block):
        d = a[i : i + block, i : i + block]
        tri = np.tril(d) if lower else np.triu(d)
        d[...] = tri + (np.tril(d, -1) if lower else np.triu(d, 1)).T


def fit_ease(
    train: pd.DataFrame,
    lam: float,
    universe: Universe | None = None,
    max_items: int = EASE_MAX_ITEMS,
    min_count: int = EASE_MIN_COUNT,
) -> Ease:
    start = time.perf_counter()
    universe = universe or Universe.from_ratings(train)
    items = ease_items(universe, max_items, min_count)
    weights = ease_weights(gram(train, items), lam, overwrite=True)
    log.info("EASE λ=%g on %d films in %.1f s", lam, items.size, time.perf_counter() - start)
    return Ease(item_ids=items, weights=weights, lam=lam)

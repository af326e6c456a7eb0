"""The item-item half of the model: EASE weights between films, kept sparse, blended with NMF.

EASE (Steck, 2019, "Embarrassingly shallow autoencoders for sparse data") learns, in closed
form, how much having rated film ``j`` says about film ``i``: ``B = I - P diag(1/diag P)``
with ``P = (XᵀX + λI)⁻¹`` over the binary users × films matrix. NMF summarises taste in ``k``
components, which blurs the specific film-to-film links EASE keeps; on held-out MovieLens
users the blend of the two ranks better than either (docs/evaluation.md).

What is stored. EASE's matrix is dense films × films, so it is fitted on the ``max_films``
most-rated films (each rated by ``min_ratings`` users or more) and each film's row keeps only
its ``keep`` largest weights (by size): at ml-32m scale 20,000 films × 1,000 weights are
160 MB, memory-mapped like the item matrix, where the dense matrix would be 1.6 GB. The rows
are stored as CSR arrays over the model's columns (``indptr``, ``indices``, ``weights``).

How it is used (``ranking``). A user's films with a positive fold-in value (liked, or watched
without a rating) enter as 1, so a film they disliked never pulls its neighbours up (the
presence trap, ``evidence``). Each side's scores are divided by their spread over every film
for this user, and the item-item side is weighted by ``weight``. Both sides are sums of one
term per film the user rated, so the reasons shown stay exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from recommender.errors import ModelError
from recommender.model_store import lookup

log = logging.getLogger(__name__)

INDPTR, INDICES, WEIGHTS = "item_item_indptr", "item_item_indices", "item_item_weights"
ARRAYS = (INDPTR, INDICES, WEIGHTS)
META = "item_item"  # the metadata key holding the settings it was fitted with

# Single precision: half the memory and about twice the speed of the inverse, and rankings do
# not need more digits (G holds counts, λ keeps it well conditioned).
DTYPE = np.float32
ROW_BLOCK = 2048
# 2 is the default and 3 ties it; far above, NMF's half is a rounding error and float32 scores
# overflow, so a larger weight is a typo or a damaged metadata.json, not a choice.
MAX_WEIGHT = 100.0


@dataclass(frozen=True)
class ItemItemConfig:
    """How the item-item half is fitted and weighed (chosen on validation users,
    docs/evaluation.md). ``weight`` 0 leaves it out: the model is NMF alone."""

    weight: float = 2.0
    lam: float = 100.0
    max_films: int = 20_000
    min_ratings: int = 5
    keep: int = 1_000

    def validate(self) -> None:
        if not 0 <= self.weight <= MAX_WEIGHT:  # False for NaN too
            raise ValueError(f"item-item weight must be a number from 0 to {MAX_WEIGHT:g}")
        if not np.isfinite(self.lam) or self.lam <= 0:
            raise ValueError("item-item lambda must be a number above 0")
        for name in ("max_films", "min_ratings", "keep"):
            if getattr(self, name) < 1:
                raise ValueError(f"item-item {name} must be at least 1")


# -- fitting ---------------------------------------------------------------------------------


def gram(ratings: pd.DataFrame, item_ids: np.ndarray, block: int = ROW_BLOCK) -> np.ndarray:
    """``XᵀX`` for the binary users × ``item_ids`` (sorted) matrix of ``ratings`` (dense,
    ``DTYPE``). Built a block of columns at a time: on ml-32m the sparse product of all
    20,000 films at once would hold 400M entries with their indices."""
    cols = lookup(item_ids, ratings["movieId"].to_numpy())
    keep = cols >= 0
    rows, _ = pd.factorize(ratings["userId"].to_numpy()[keep])
    # Float32 ones: counts stay exact (below 2**24 raters a pair) at half float64's memory.
    x = sp.csc_matrix(
        (np.ones(int(keep.sum()), dtype=DTYPE), (rows, cols[keep])),
        shape=(int(rows.max()) + 1 if rows.size else 0, item_ids.size),
    )
    x.data[:] = 1.0  # a film rated twice by one user is still one film
    xt = x.T.tocsr()
    out = np.empty((item_ids.size, item_ids.size), dtype=DTYPE)
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


def _mirror(a: np.ndarray, lower: bool, block: int = ROW_BLOCK) -> None:
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


def modelled_films(
    item_ids: np.ndarray, counts: np.ndarray, max_films: int, min_ratings: int
) -> np.ndarray:
    """Positions (into ``item_ids``, sorted) of the films EASE models: the most-rated, at
    most ``max_films``, each rated ``min_ratings`` times or more."""
    order = np.lexsort((item_ids, -counts))[:max_films]
    return np.sort(order[counts[order] >= min_ratings])


def sparsify(weights: np.ndarray, keep: int) -> sp.csr_matrix:
    """Each row's ``keep`` largest weights by size (a row at a time would be slow; a block
    of rows at a time keeps the temporaries small)."""
    n = weights.shape[0]
    keep = min(keep, n)
    parts = []
    for start in range(0, n, ROW_BLOCK):
        block = weights[start : start + ROW_BLOCK]
        idx = np.argpartition(-np.abs(block), keep - 1, axis=1)[:, :keep]
        vals = np.take_along_axis(block, idx, axis=1)
        rows = np.repeat(np.arange(block.shape[0]), keep)
        part = sp.csr_matrix((vals.ravel(), (rows, idx.ravel())), shape=(block.shape[0], n))
        part.eliminate_zeros()  # the zero diagonal when a row has fewer than ``keep`` weights
        parts.append(part)
    return sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, n), dtype=DTYPE)


def fit_item_item(
    ratings: pd.DataFrame, item_ids: np.ndarray, cfg: ItemItemConfig
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The stored arrays (CSR rows over the model's sorted ``item_ids``) and the settings
    and sizes that go into the model's metadata."""
    start = time.perf_counter()
    item_ids = np.asarray(item_ids, dtype=np.int64)
    pos = lookup(item_ids, ratings["movieId"].to_numpy())
    counts = np.bincount(pos[pos >= 0], minlength=item_ids.size)
    del pos  # 8 bytes a rating: gone before the Gram matrix makes its own pass
    films = modelled_films(item_ids, counts, cfg.max_films, cfg.min_ratings)
    n = item_ids.size
    if films.size < 2:
        csr = sp.csr_matrix((n, n), dtype=DTYPE)
    else:
        local = sparsify(ease_weights(gram(ratings, item_ids[films]), cfg.lam, True), cfg.keep)
        local = local.tocoo()
        # Rows and columns from EASE's films back to the model's columns.
        csr = sp.csr_matrix(
            (local.data.astype(DTYPE), (films[local.row], films[local.col])), shape=(n, n)
        )
    arrays = {
        INDPTR: csr.indptr.astype(np.int64),
        INDICES: csr.indices.astype(np.int32),
        WEIGHTS: csr.data.astype(DTYPE),
    }
    seconds = time.perf_counter() - start
    meta = {
        "weight": cfg.weight,
        "lambda": cfg.lam,
        "max_films": cfg.max_films,
        "min_ratings": cfg.min_ratings,
        "keep": cfg.keep,
        "films": int(films.size),
        "weights_stored": int(csr.nnz),
        "seconds": round(seconds, 3),
    }
    log.info("item-item: EASE on %d films, %d weights kept, %.1f s", films.size, csr.nnz, seconds)
    return arrays, meta


# -- serving ---------------------------------------------------------------------------------


class ItemItem:
    """The stored weights, ready for requests (the arrays may be read-only memory maps)."""

    def __init__(
        self, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, weight: float
    ) -> None:
        n = indptr.size - 1
        self.matrix = sp.csr_matrix((weights, indices, indptr), shape=(n, n), copy=False)
        self.weight = float(weight)

    @property
    def n_films(self) -> int:
        return int(self.matrix.shape[0])

    def scores(self, positions: np.ndarray) -> np.ndarray:
        """Every film's summed weight from the films at ``positions`` (float64)."""
        rows = self.matrix[np.asarray(positions, dtype=np.intp)]
        return np.asarray(rows.sum(axis=0), dtype=np.float64).ravel()

    def contributions(self, positions: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``len(cols)`` × ``len(positions)``: the weight each of the user's films gives each
        film in ``cols``."""
        rows = self.matrix[np.asarray(positions, dtype=np.intp)]
        return np.asarray(rows[:, np.asarray(cols, dtype=np.intp)].T.todense(), dtype=np.float64)


def stored_item_item(
    extras: Mapping[str, np.ndarray], metadata: Mapping[str, Any], n_films: int
) -> ItemItem | None:
    """The model folder's item-item half, or ``None`` when it has none (a model trained
    before it existed, or with weight 0) or its arrays do not fit the model.

    Raises :class:`ModelError` when the arrays are there but metadata.json holds no usable
    weight for them: the checksums cover the arrays, not the metadata, so that is a damaged
    or hand-edited folder, and ranking quietly without the half would hide it."""
    if not all(key in extras for key in ARRAYS):
        return None
    settings = metadata.get(META)
    weight = settings.get("weight") if isinstance(settings, Mapping) else None
    usable = isinstance(weight, int | float) and not isinstance(weight, bool)
    if not usable or not 0 < weight <= MAX_WEIGHT:
        raise ModelError(
            f"the model's metadata.json gives its item-item half the weight {weight!r}, not a "
            f"number above 0 and at most {MAX_WEIGHT:g}; train the model again with "
            "'boxdrec train'."
        )
    indptr, indices, weights = (extras[key] for key in ARRAYS)
    ok = (
        indptr.shape == (n_films + 1,)
        and indices.ndim == 1
        and indices.shape == weights.shape
        and np.issubdtype(indptr.dtype, np.integer)
        and np.issubdtype(indices.dtype, np.integer)
        and np.issubdtype(weights.dtype, np.floating)
        and int(indptr[0]) == 0
        and int(indptr[-1]) == indices.size
        and bool(np.all(np.diff(indptr) >= 0))
        and (indices.size == 0 or (int(indices.min()) >= 0 and int(indices.max()) < n_films))
    )
    if not ok:
        log.warning("the model's item-item arrays do not fit its films: ranking with NMF alone")
        return None
    return ItemItem(indptr, indices, weights, float(weight))

"""Rank the films a user has not seen, predict their stars and say which of their films drive it.

The fold-in solution is linear in the user's vector on its active set ``A`` (the components with
``w > 0``): ``w_A = G_AA⁻¹ H_A x``. So a film's score splits exactly into one term per film the
user rated, ``score_i = Σ_j x_j K(i, j)`` with ``K = H_Aᵀ G_AA⁻¹ H_A``. The largest terms are the
reason shown; ``K`` also picks the user's films that vote on the predicted stars.

Predicted stars: the user's mean plus their spread times the film's z-score, which starts at the
film's bias (how MovieLens raters rate it against their own average, ``film_bias.py``) and
moves by the user's own residuals on their most similar films (their z-score minus that film's
bias, weighted by ``K``), trusted in proportion to how many films vote. With no bias stored
the start is 0, the user's mean. Measured on held-out users in docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommender.foldin import Folded, FoldIn
from recommender.scaling import CLIP, UserScale

NEIGHBOURS = 50  # how many of the user's films vote on a predicted star rating
SHRINK = 10.0  # pulls the votes toward the film's bias when few films vote
# (both chosen on validation users: 10 / 3 gave RMSE 0.89, 50 / 10 0.87; docs/evaluation.md)


@dataclass(frozen=True, slots=True)
class UserVector:
    """A user's films in model columns: ``positions``, their ``stars`` and scaled ``values``."""

    positions: np.ndarray
    stars: np.ndarray  # NaN for watched-but-unrated films folded in as neutral
    values: np.ndarray
    scale: UserScale


@dataclass(frozen=True, slots=True)
class Ranked:
    """One ranked film in model columns, before it is dressed with titles."""

    position: int
    score: float
    stars: float | None
    drivers: tuple[tuple[int, float], ...]  # (index into UserVector.positions, contribution)


@dataclass(frozen=True, slots=True)
class Blend:
    """How one user's score was put together: ``score = nmf_scale · (w H) + item_scale ·
    (item-item sum over the films with a positive value)``. Each half is divided by its spread
    over every film for this user, so ``ItemItem.weight`` alone sets their balance."""

    nmf_scale: float
    item_scale: float


@dataclass(frozen=True, slots=True)
class Candidates:
    """A user's top films by score, best first, before their stars and reasons."""

    positions: np.ndarray  # model columns
    scores: np.ndarray  # the model's own score of each, before any ``adjust``
    folded: Folded | None  # None when there is no candidate
    blend: Blend | None = None  # None: the score is NMF's alone


def user_scores(foldin: FoldIn, user: UserVector, w: np.ndarray) -> tuple[np.ndarray, Blend | None]:
    """The model's score of every film for a user folded in as ``w`` (float32), and how its
    halves were weighed (None when the model has no item-item half or it has nothing to add).

    Only films with a positive value enter the item-item half, each as 1: a film rated below
    the user's average never pulls its neighbours up (the presence trap, ``evidence``)."""
    nmf = foldin.scores(w)
    pairs = foldin.item_item
    evidence = user.positions[user.values > 0]
    if pairs is None or evidence.size == 0:
        return nmf, None
    other = pairs.scores(evidence)
    spread_nmf, spread_other = float(nmf.std()), float(other.std())
    blend = Blend(
        nmf_scale=1.0 / spread_nmf if spread_nmf > 0 else 0.0,
        item_scale=pairs.weight / spread_other if spread_other > 0 else 0.0,
    )
    if blend.nmf_scale == 0.0 and blend.item_scale == 0.0:
        return nmf, None
    scores = nmf.astype(np.float64) * blend.nmf_scale + other * blend.item_scale
    return scores.astype(nmf.dtype), blend


def rank(
    foldin: FoldIn,
    user: UserVector,
    exclude: np.ndarray,
    n: int,
    n_drivers: int = 3,
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Ranked]:
    """Top ``n`` films by score, skipping model columns flagged in the boolean ``exclude``.

    ``adjust`` maps the scores of every film to the ones ranked on (a popularity tilt); the
    ``score`` reported stays the model's own.
    """
    return explain(foldin, user, candidates(foldin, user, exclude, n, adjust), n_drivers=n_drivers)


def candidates(
    foldin: FoldIn,
    user: UserVector,
    exclude: np.ndarray,
    n: int,
    adjust: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Candidates:
    """:func:`rank`'s films without their stars and reasons, which :func:`explain` adds for
    the ones a caller will show (each film's are computed on their own, so explaining a few
    gives the same as explaining all of them, for a fraction of the cost)."""
    none = Candidates(positions=np.zeros(0, dtype=np.intp), scores=np.zeros(0), folded=None)
    if user.positions.size == 0 or n <= 0:
        return none
    folded = foldin.fold(user.positions, user.values)
    # As computed (float32 for a float32 model): the order and every score reported are the
    # same as in float64, and the selection below runs on half the bytes.
    raw, blend = user_scores(foldin, user, folded.w)
    scores = adjust(raw) if adjust is not None else raw
    if scores is raw:  # the exclusions below must not touch the scores reported
        scores = raw.copy()
    scores[exclude] = -np.inf
    n = min(n, int(np.isfinite(scores).sum()))
    if n == 0:
        return none
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.lexsort((top, -scores[top]))]  # by score, ties by column for determinism
    return Candidates(positions=top, scores=raw[top], folded=folded, blend=blend)


def explain(
    foldin: FoldIn,
    user: UserVector,
    found: Candidates,
    rows: np.ndarray | None = None,
    n_drivers: int = 3,
) -> list[Ranked]:
    """The candidates at indices ``rows`` (default: all of them, in order) with their
    predicted stars and the user's films that drive them."""
    picked = np.arange(found.positions.size) if rows is None else np.asarray(rows, np.intp)
    if picked.size == 0 or found.folded is None:
        return []
    cols = found.positions[picked]
    kernel = _kernel(foldin, found.folded, cols)
    # Every row at once: one film's stars and reasons are one row of the kernel.
    stars = _predict_stars_rows(kernel, user, foldin.film_bias[cols], foldin.film_bias)
    # Only films with a positive value can contribute positively (the zeros of disliked films
    # would also make the selection several times slower: argpartition hates ties).
    liked = np.flatnonzero(user.values > 0)
    contributions = _contributions(foldin, user, kernel, cols, liked, found.blend)
    drivers = _top_rows(contributions, n_drivers, liked)
    return [
        Ranked(position=int(col), score=float(score), stars=stars[row], drivers=drivers[row])
        for row, (col, score) in enumerate(zip(cols, found.scores[picked], strict=True))
    ]


def _contributions(
    foldin: FoldIn,
    user: UserVector,
    kernel: np.ndarray,
    cols: np.ndarray,
    liked: np.ndarray,
    blend: Blend | None,
) -> np.ndarray:
    """Each of the user's ``liked`` films' term in the score of each film in ``cols`` (rows):
    the NMF kernel's, plus the item-item weight when the score blends both (float32)."""
    nmf = kernel[:, liked] * user.values[liked].astype(np.float32)[None, :]
    if blend is None or foldin.item_item is None:
        return nmf
    pairs = foldin.item_item.contributions(user.positions[liked], cols)
    return (nmf * blend.nmf_scale + pairs * blend.item_scale).astype(np.float32)


def _kernel(foldin: FoldIn, folded: Folded, cols: np.ndarray) -> np.ndarray:
    """``K`` for the films ``cols`` (rows) and the user's films (columns, in their order)."""
    active = np.flatnonzero(folded.w > 0)
    n_rated = folded.order.size
    if active.size == 0:
        return np.zeros((cols.size, n_rated))
    h = foldin.components
    gram = foldin.solver.gram[np.ix_(active, active)]
    # np.ix_ gathers only the entries needed: h[active] would copy whole rows of the item matrix.
    left = np.linalg.solve(gram, h[np.ix_(active, cols)].astype(np.float64)).T  # cols × |A|
    # The user's columns come from the fold-in's gather (rows of a small matrix), not from
    # the item matrix again. The kernel (films × the user's films) only orders and weighs the
    # user's films: float32 is ample.
    right = folded.columns[active].astype(np.float32, copy=False)
    in_column_order = left.astype(np.float32) @ right
    kernel = np.empty_like(in_column_order)
    kernel[:, folded.order] = in_column_order
    return kernel


def predict_one(
    foldin: FoldIn, user: UserVector, position: int, n_drivers: int = 3
) -> tuple[Ranked, tuple[tuple[int, float], ...]]:
    """One film as :func:`rank` would show it, plus the user's films whose stars vote on its
    predicted stars: (index into ``user.positions``, share of the vote), largest first."""
    folded = foldin.fold(user.positions, user.values)
    col = np.array([position], dtype=np.intp)
    if foldin.item_item is None:  # one column of w H, not every film's score
        score = float(
            np.asarray(folded.w, dtype=foldin.components.dtype) @ foldin.components[:, position]
        )
        blend = None
    else:  # the blend's scales depend on every film's score
        scores, blend = user_scores(foldin, user, folded.w)
        score = float(scores[position])
    kernel = _kernel(foldin, folded, col)[0]
    stars = _predict_stars_rows(kernel[None, :], user, foldin.film_bias[col], foldin.film_bias)
    every = np.arange(user.positions.size)
    contrib = _contributions(foldin, user, kernel[None, :], col, every, blend)[0]
    ranked = Ranked(
        position=int(position),
        score=score,
        stars=stars[0],
        drivers=_drivers(np.where(user.values > 0, contrib, 0.0), n_drivers),
    )
    weights, order = _voters(kernel, user)
    total = float(weights[order].sum())
    return ranked, tuple((int(j), float(weights[j]) / total) for j in order)


def _predict_stars_rows(
    kernel: np.ndarray, user: UserVector, target_bias: np.ndarray, bias: np.ndarray
) -> list[float | None]:
    """Predicted stars for every row of ``kernel`` (films × the user's films), whose films
    have ``target_bias``; ``bias`` is every model film's (indexed by ``user.positions``)."""
    rated = np.isfinite(user.stars)
    if not rated.any():
        return [None] * kernel.shape[0]
    scale = user.scale
    if scale.std > 0:
        z = np.clip((np.where(rated, user.stars, scale.mean) - scale.mean) / scale.std, -CLIP, CLIP)
    else:
        z = np.zeros(user.stars.shape)
    residual = np.where(rated, z - bias[user.positions], 0.0)
    w = kernel if rated.all() else np.where(rated[None, :], kernel, 0.0)
    order = _top_columns(w, NEIGHBOURS)
    picked = np.take_along_axis(w, order, axis=1)
    picked = np.where(picked > 0, picked, 0.0)  # only positive weights vote
    total = picked.sum(axis=1)
    voters = (picked > 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        voted = np.where(total > 0, (picked * residual[order]).sum(axis=1) / total, 0.0)
    trust = voters / (voters + SHRINK)
    predicted_z = np.asarray(target_bias, dtype=np.float64) + trust * voted
    out = np.clip(scale.mean + scale.std * predicted_z, 0.5, 5.0)
    return [float(x) for x in out]


def _top_rows(
    values: np.ndarray, k: int, columns: np.ndarray | None = None
) -> list[tuple[tuple[int, float], ...]]:
    """:func:`_drivers` for every row of ``values``; ``columns`` maps its columns to the
    indices reported (default: themselves)."""
    order = _top_columns(values, k)
    picked = np.take_along_axis(values, order, axis=1)
    if columns is not None:
        order = columns[order]
    return [
        tuple((int(j), float(v)) for j, v in zip(cols, vals, strict=True) if v > 0)
        for cols, vals in zip(order.tolist(), picked.tolist(), strict=True)
    ]


def _top_columns(values: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the ``k`` largest values, largest first (ties: lower column)."""
    k = min(k, values.shape[1])
    if k == 0:
        return np.zeros((values.shape[0], 0), dtype=np.intp)
    m = values.shape[1]
    if k < m:  # the k largest end up last (no negated copy of a films × films matrix)
        part = np.argpartition(values, m - k, axis=1)[:, m - k :]
    else:
        part = np.broadcast_to(np.arange(m), values.shape)
    vals = np.take_along_axis(values, part, axis=1)
    within = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, within, axis=1)


def _voters(weights: np.ndarray, user: UserVector) -> tuple[np.ndarray, np.ndarray]:
    """The kernel weights of the user's rated films and the (up to NEIGHBOURS) that vote."""
    w = np.where(np.isfinite(user.stars), weights, 0.0)
    order = np.argsort(-w)[:NEIGHBOURS]
    return w, order[w[order] > 0]


def _drivers(contrib: np.ndarray, k: int) -> tuple[tuple[int, float], ...]:
    order = np.argsort(-contrib)[:k]
    return tuple((int(j), float(contrib[j])) for j in order if contrib[j] > 0)

"""Rank the films a user has not seen, predict their stars and say which of their films drive it.

The fold-in solution is linear in the user's vector on its active set ``A`` (the components with
``w > 0``): ``w_A = G_AA⁻¹ H_A x``. So a film's score splits exactly into one term per film the
user rated, ``score_i = Σ_j x_j K(i, j)`` with ``K = H_Aᵀ G_AA⁻¹ H_A``. The largest terms are the
reason shown; ``K`` also weighs the user's own stars into the predicted stars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommender.foldin import FoldIn
from recommender.scaling import UserScale

NEIGHBOURS = 10  # how many of the user's films vote on a predicted star rating
SHRINK = 3.0  # pulls predictions with few votes toward the user's average


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
    if user.positions.size == 0 or n <= 0:
        return []
    w = foldin.transform(user.positions, user.values)
    raw = foldin.scores(w).astype(np.float64)
    scores = adjust(raw) if adjust is not None else raw.copy()
    scores[exclude] = -np.inf
    n = min(n, int(np.isfinite(scores).sum()))
    if n == 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.lexsort((top, -scores[top]))]  # by score, ties by column for determinism
    kernel = _kernel(foldin, w, top, user.positions)
    contributions = kernel * user.values[None, :]
    return [
        Ranked(
            position=int(col),
            score=float(raw[col]),
            stars=_predict_stars(kernel[row], user),
            drivers=_drivers(contributions[row], n_drivers),
        )
        for row, col in enumerate(top)
    ]


def _kernel(foldin: FoldIn, w: np.ndarray, cols: np.ndarray, rated: np.ndarray) -> np.ndarray:
    active = np.flatnonzero(w > 0)
    if active.size == 0:
        return np.zeros((cols.size, rated.size))
    h = foldin.components
    gram = foldin.solver.gram[np.ix_(active, active)]
    left = np.linalg.solve(gram, h[active][:, cols].astype(np.float64)).T  # cols × |A|
    return left @ h[active][:, rated].astype(np.float64)


def predict_one(
    foldin: FoldIn, user: UserVector, position: int, n_drivers: int = 3
) -> tuple[Ranked, tuple[tuple[int, float], ...]]:
    """One film as :func:`rank` would show it, plus the user's films whose stars vote on its
    predicted stars: (index into ``user.positions``, share of the vote), largest first."""
    w = foldin.transform(user.positions, user.values)
    col = np.array([position], dtype=np.intp)
    score = float(np.asarray(w, dtype=foldin.components.dtype) @ foldin.components[:, position])
    kernel = _kernel(foldin, w, col, user.positions)[0]
    ranked = Ranked(
        position=int(position),
        score=score,
        stars=_predict_stars(kernel, user),
        drivers=_drivers(kernel * user.values, n_drivers),
    )
    weights, order = _voters(kernel, user)
    total = float(weights[order].sum())
    return ranked, tuple((int(j), float(weights[j]) / total) for j in order)


def _voters(weights: np.ndarray, user: UserVector) -> tuple[np.ndarray, np.ndarray]:
    """The kernel weights of the user's rated films and the (up to NEIGHBOURS) that vote."""
    w = np.where(np.isfinite(user.stars), weights, 0.0)
    order = np.argsort(-w)[:NEIGHBOURS]
    return w, order[w[order] > 0]


def _predict_stars(weights: np.ndarray, user: UserVector) -> float | None:
    if not np.isfinite(user.stars).any():
        return None
    w, order = _voters(weights, user)
    if order.size == 0:
        return float(np.clip(user.scale.mean, 0.5, 5.0))
    votes = float(np.dot(w[order], user.stars[order]) / w[order].sum())
    trust = order.size / (order.size + SHRINK)
    return float(np.clip(user.scale.mean + trust * (votes - user.scale.mean), 0.5, 5.0))


def _drivers(contrib: np.ndarray, k: int) -> tuple[tuple[int, float], ...]:
    order = np.argsort(-contrib)[:k]
    return tuple((int(j), float(contrib[j])) for j in order if contrib[j] > 0)

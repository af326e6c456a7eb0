"""ranking.rank: the vectorised stars and reasons equal the one-film functions, and a request
never copies the item matrix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from recommender.foldin import FoldIn
from recommender.ranking import (
    NEIGHBOURS,
    SHRINK,
    UserVector,
    _drivers,
    _predict_stars_rows,
    _top_rows,
    rank,
)
from recommender.scaling import fit_user_scale


def reference_stars(
    kernel_row: np.ndarray, user: UserVector, target_bias: float, bias: np.ndarray
) -> float:
    """The predicted-stars rule written out film by film, for one film."""
    mean, std = user.scale.mean, user.scale.std
    voters = []
    for j in np.argsort(-kernel_row, kind="stable"):
        if len(voters) == NEIGHBOURS:
            break
        if np.isfinite(user.stars[j]) and kernel_row[j] > 0:
            voters.append(j)
    if std <= 0:
        return float(np.clip(mean, 0.5, 5.0))
    z = np.clip((user.stars - mean) / std, -2.5, 2.5)
    weights = kernel_row[voters]
    vote = (
        float(np.dot(weights, z[voters] - bias[user.positions[voters]]) / weights.sum())
        if voters
        else 0.0
    )
    trust = len(voters) / (len(voters) + SHRINK)
    return float(np.clip(mean + std * (target_bias + trust * vote), 0.5, 5.0))


def user_of(stars: np.ndarray, positions: np.ndarray | None = None) -> UserVector:
    scale = fit_user_scale(stars[np.isfinite(stars)])
    values = np.where(np.isfinite(stars), np.nan_to_num(stars) / 5.0, 0.2)
    if positions is None:
        positions = np.arange(stars.size)
    return UserVector(positions=positions, stars=stars, values=values, scale=scale)


@pytest.mark.parametrize("n_films", [1, 3, NEIGHBOURS, NEIGHBOURS + 1, 60])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_at_once_equal_one_film_at_a_time(n_films: int, seed: int):
    rng = np.random.default_rng(seed)
    stars = rng.choice(np.arange(1, 11) / 2, n_films)
    stars[rng.random(n_films) < 0.2] = np.nan  # watched, not rated
    user = user_of(stars)
    kernel = rng.normal(size=(40, n_films))
    kernel[0] = 0.0  # nobody votes: the user's mean
    kernel[1] = -1.0  # only negative weights: nobody votes either
    kernel[2, :3] = 9.0  # ties, all among the voters and the reasons
    bias = rng.normal(scale=0.3, size=n_films + 5)
    target_bias = rng.normal(scale=0.3, size=kernel.shape[0])
    rows = _predict_stars_rows(kernel, user, target_bias, bias)
    want = [reference_stars(k, user, b, bias) for k, b in zip(kernel, target_bias, strict=True)]
    assert rows == pytest.approx(want, abs=1e-12)
    contributions = kernel * user.values[None, :]
    for got, row in zip(_top_rows(contributions, 3), contributions, strict=True):
        want = _drivers(row, 3)
        # Same films with the same contributions; among tied values either order is right.
        assert [v for _, v in got] == pytest.approx([v for _, v in want], abs=1e-12)
        assert all(row[j] == pytest.approx(v) for j, v in got)


def test_with_no_rated_film_there_are_no_stars():
    user = user_of(np.array([np.nan, np.nan]))
    assert _predict_stars_rows(np.ones((3, 2)), user, np.zeros(3), np.zeros(2)) == [None] * 3


def test_stars_start_from_the_films_bias_and_move_with_the_users_residuals():
    stars = np.array([2.0, 3.0, 4.0, 5.0])
    user = user_of(stars)
    mean, std = user.scale.mean, user.scale.std
    bias = np.zeros(4)
    # Nobody votes (no positive kernel weight): the user's mean plus their spread times the
    # film's bias, so a film the crowd rates above its own average predicts above the mean.
    nobody = np.zeros((2, 4))
    loved, panned = _predict_stars_rows(nobody, user, np.array([0.8, -0.8]), bias)
    assert loved == pytest.approx(mean + 0.8 * std)
    assert panned == pytest.approx(mean - 0.8 * std)
    # One voter, the film they gave 5 stars (z = +1.34): the prediction moves up by
    # std * trust * that residual.
    one = np.array([[0.0, 0.0, 0.0, 1.0]])
    (moved,) = _predict_stars_rows(one, user, np.zeros(1), bias)
    z5 = (5.0 - mean) / std
    assert moved == pytest.approx(mean + std * z5 / (1 + SHRINK))
    # The same voter, on a film everyone rates high (bias 1.0): its residual is smaller.
    (tempered,) = _predict_stars_rows(one, user, np.zeros(1), np.array([0, 0, 0, 1.0]))
    assert tempered == pytest.approx(mean + std * (z5 - 1.0) / (1 + SHRINK))


def test_a_request_allocates_nowhere_near_the_item_matrix():
    """The issue's rule: no per-request copy of the item matrix (not even of its active rows)."""
    rng = np.random.default_rng(3)
    k, n_films = 64, 200_000
    components = rng.gamma(0.3, 1.0, (k, n_films)).astype(np.float32)
    foldin = FoldIn(components)
    positions = rng.choice(n_films, 500, replace=False)
    user = user_of(rng.choice(np.arange(1, 11) / 2, 500), positions)
    exclude = np.zeros(n_films, dtype=bool)
    exclude[positions] = True
    rank(foldin, user, exclude, 300)  # warm up numpy's caches
    tracemalloc.start()
    ranked = rank(foldin, user, exclude, 300)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(ranked) == 300
    active = int((foldin.transform(positions, user.values) > 0).sum())
    active_rows = active * n_films * components.itemsize
    assert active >= 20, "the check needs an active set worth copying"
    # A few vectors over the films (the scores) are expected; a copy of the active rows of
    # the item matrix (what h[active] would make) is not.
    assert peak < 0.5 * active_rows, f"{peak / 2**20:.1f} MiB for one request"


def test_a_user_who_liked_nothing_gets_films_without_reasons():
    rng = np.random.default_rng(5)
    components = rng.gamma(0.3, 1.0, (8, 300))
    stars = np.array([1.0, 1.5, 2.0])
    user = UserVector(
        positions=np.array([3, 4, 5]),
        stars=stars,
        values=np.zeros(3),
        scale=fit_user_scale(stars),
    )
    ranked = rank(FoldIn(components), user, np.zeros(300, dtype=bool), 5)
    assert len(ranked) == 5
    assert all(r.drivers == () for r in ranked)

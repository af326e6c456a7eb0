"""ranking.rank: the vectorised stars and reasons equal the one-film functions, explaining a few
candidates equals explaining them all, and a request never copies the item matrix."""

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
    _kernel,
    _predict_stars_rows,
    _top_rows,
    candidates,
    explain,
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


def random_user(rng: np.random.Generator, n_films: int, n_rated: int) -> UserVector:
    positions = rng.choice(n_films, n_rated, replace=False)
    stars = rng.choice(np.arange(1, 11) / 2, n_rated)
    stars[rng.random(n_rated) < 0.1] = np.nan
    return user_of(stars, positions)


def test_the_kernel_from_the_fold_ins_columns_is_the_formula():
    """K = H_Aᵀ G_AA⁻¹ H_A over the active set, columns in the user's own order (the fold-in
    gathered them in column order)."""
    rng = np.random.default_rng(6)
    components = rng.gamma(0.3, 1.0, (24, 3_000)).astype(np.float32)
    foldin = FoldIn(components)
    user = random_user(rng, 3_000, 200)
    folded = foldin.fold(user.positions, user.values)
    active = np.flatnonzero(folded.w > 0)
    assert 0 < active.size < 24
    cols = np.array([5, 2_999, 17, 1_000])
    h = components.astype(np.float64)
    gram = foldin.solver.gram[np.ix_(active, active)]
    want = h[np.ix_(active, cols)].T @ np.linalg.solve(gram, h[np.ix_(active, user.positions)])
    got = _kernel(foldin, folded, cols)
    assert got.shape == (4, 200)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


def test_explaining_some_candidates_equals_explaining_all():
    """What the service relies on to explain only the films it shows."""
    rng = np.random.default_rng(7)
    components = rng.gamma(0.3, 1.0, (16, 2_000)).astype(np.float32)
    foldin = FoldIn(components, film_bias=rng.normal(scale=0.3, size=2_000))
    user = random_user(rng, 2_000, 300)
    exclude = np.zeros(2_000, dtype=bool)
    exclude[user.positions] = True
    everything = rank(foldin, user, exclude, 100)
    found = candidates(foldin, user, exclude, 100)
    np.testing.assert_array_equal(found.positions, [r.position for r in everything])
    assert not np.isin(found.positions, user.positions).any()
    rows = np.array([0, 1, 7, 42, 99])
    some = explain(foldin, user, found, rows)
    assert [r.position for r in some] == [everything[i].position for i in rows]
    for got, want in zip(some, (everything[i] for i in rows), strict=True):
        assert got.score == want.score
        # The float32 kernel of 5 rows and of 100 may round differently (BLAS blocks them
        # differently): the same stars to far below what is shown.
        assert got.stars == pytest.approx(want.stars, abs=1e-6)
        assert [j for j, _ in got.drivers] == [j for j, _ in want.drivers]
        assert [v for _, v in got.drivers] == pytest.approx([v for _, v in want.drivers])
    assert explain(foldin, user, found, np.array([], dtype=np.intp)) == []


def test_the_service_shows_what_explaining_the_whole_pool_would(service, letterboxd_dir):
    """recommend_films explains only the blocks the first n films come from; the list is the
    one the whole pool of 300, seen-guarded and block-ordered, gives."""
    from functools import partial

    from recommender.filters import ListFilters
    from recommender.service import POOL_FACTOR, POOL_SIZE, UnmatchedTitles, shown_order

    export = service.read_export_file(letterboxd_dir / "real" / "ratings_2022_empty_year_crlf.csv")
    films, _ = service.user_films(export)
    user, used = service.user_vector(films)
    for n in (1, 10, 25):
        for filters in (ListFilters(), ListFilters(obscurity=0.8)):
            got = service.recommend_films(films, n=n, filters=filters)
            exclude = service._exclusions(films, False, ()) | ~service.facts.allowed(filters)
            adjust = partial(service.facts.adjust, obscurity=filters.obscurity)
            pool = rank(
                service.foldin, user, exclude, max(POOL_SIZE, POOL_FACTOR * n), adjust=adjust
            )
            unmatched = UnmatchedTitles(films)
            pool = [r for r in pool if not service._probably_seen(r.position, unmatched)]
            want = [
                service._dress(i + 1, r, user, used, films.watchlist_ids)
                for i, r in enumerate(shown_order(pool)[:n])
            ]
            assert len(got.items) == n
            assert [(r.movie_id, r.predicted_stars, r.reason) for r in got.items] == [
                (r.movie_id, r.predicted_stars, r.reason) for r in want
            ]

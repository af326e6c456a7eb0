"""Training: the notebook's filters, the sparse matrix, the loss and the NMF fit, on toy data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommender.scaling import scale_by_user
from recommender.training import (
    TrainConfig,
    apply_filters,
    build_matrix,
    cap_users_per_film,
    filter_films_by_count,
    filter_users_by_activity,
    fit_nmf,
    frobenius_loss,
)


def frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating"])


def users_with_counts(counts: dict[int, int]) -> pd.DataFrame:
    """User ``u`` rates films 1..counts[u] with 3 stars."""
    return frame([(u, m, 3.0) for u, n in counts.items() for m in range(1, n + 1)])


# -- the notebook's row-by-row selection, copied as the reference --------------------------------


def select_diverse_users(ratings_df, similarity_threshold=0.3, max_users_per_movie=500):
    """The notebook's ``select_diverse_users``, verbatim apart from comments."""
    user_to_movies = {}
    movie_user_counts = {}

    for _, row in ratings_df.iterrows():
        user_id = row["userId"]
        movie_id = row["movieId"]

        if user_id not in user_to_movies:
            user_to_movies[user_id] = set()
        user_to_movies[user_id].add(movie_id)

        if movie_id not in movie_user_counts:
            movie_user_counts[movie_id] = 0

    sorted_users = sorted(user_to_movies.keys(), key=lambda u: len(user_to_movies[u]), reverse=True)

    selected_users = []

    for user_id in sorted_users:
        user_movies = user_to_movies[user_id]
        if any(
            movie_user_counts.get(movie_id, 0) >= max_users_per_movie for movie_id in user_movies
        ):
            continue

        too_similar = False
        for selected_id in selected_users:
            selected_movies = user_to_movies[selected_id]
            intersection = len(user_movies.intersection(selected_movies))
            union = len(user_movies.union(selected_movies))

            if intersection / union > similarity_threshold:
                too_similar = True
                break

        if not too_similar:
            selected_users.append(user_id)

            for movie_id in user_movies:
                movie_user_counts[movie_id] += 1

    return ratings_df[ratings_df["userId"].isin(selected_users)]


def random_ratings(seed: int, n_users: int = 60, n_films: int = 40) -> pd.DataFrame:
    """Users with random activity over a few popular and many rare films.

    Rows are grouped by user in ascending userId order, so the notebook's tie order (first
    appearance) is userId order, as ours is. UserIds and movieIds are sparse, not 0..n-1.
    """
    rng = np.random.default_rng(seed)
    user_ids = np.sort(rng.choice(np.arange(1, 10_000), n_users, replace=False))
    film_ids = rng.choice(np.arange(1, 100_000), n_films, replace=False)
    popularity = rng.dirichlet(np.full(n_films, 0.5))
    rows = []
    for u in user_ids:
        n = int(rng.integers(1, 15))  # many ties in activity
        films = rng.choice(film_ids, n, replace=False, p=popularity)
        rows += [(int(u), int(m), float(rng.integers(1, 11)) / 2) for m in films]
    return frame(rows)


@pytest.mark.parametrize(("seed", "cap"), [(0, 5), (1, 5), (2, 3), (3, 8), (4, 1)])
def test_cap_users_per_film_matches_the_notebook(seed: int, cap: int):
    ratings = random_ratings(seed)
    ours = cap_users_per_film(ratings, cap)
    reference = select_diverse_users(ratings, similarity_threshold=1, max_users_per_movie=cap)
    assert sorted(ours["userId"].unique()) == sorted(reference["userId"].unique())
    pd.testing.assert_frame_equal(ours, reference)  # the same rows, in the same order
    # The cap binds (otherwise the comparison proves little) and is respected.
    assert ours["userId"].nunique() < ratings["userId"].nunique()
    assert ours.groupby("movieId")["userId"].nunique().max() <= cap


def test_cap_users_per_film_visits_most_active_first_ties_by_user_id():
    # Film 1 may have one user. Users 7 and 3 rate two films, user 5 three: 5 goes first and
    # takes film 1; 3 and 7 also rate film 1, so both are dropped. User 9 rates only film 2.
    ratings = frame(
        [
            (7, 1, 4.0),
            (7, 2, 4.0),
            (3, 1, 4.0),
            (3, 3, 4.0),
            (5, 1, 2.0),
            (5, 2, 2.0),
            (5, 3, 2.0),
            (9, 2, 5.0),
        ]
    )
    assert sorted(cap_users_per_film(ratings, 1)["userId"].unique()) == [5]
    assert sorted(cap_users_per_film(ratings, 2)["userId"].unique()) == [3, 5, 9]
    # Equal activity (users 7 and 3, two films each, sharing film 1): the lower userId wins.
    tie = frame([(7, 1, 4.0), (7, 2, 4.0), (3, 1, 4.0), (3, 3, 4.0)])
    assert cap_users_per_film(tie, 1)["userId"].unique().tolist() == [3]


@pytest.mark.parametrize("seed", [5, 6])
def test_filters_that_keep_every_row_return_the_frame_without_a_copy(seed: int):
    """At 32 million ratings a filter that keeps everyone must not copy the frame, and the
    cap's shortcut (no film has more raters than the cap) must agree with the notebook."""
    ratings = random_ratings(seed)
    most = int(ratings["movieId"].value_counts().max())
    assert cap_users_per_film(ratings, most) is ratings
    assert filter_users_by_activity(ratings, 0.0, 1.0) is ratings
    assert filter_films_by_count(ratings, 1) is ratings
    for cap in (most, most - 1):
        reference = select_diverse_users(ratings, similarity_threshold=1, max_users_per_movie=cap)
        pd.testing.assert_frame_equal(cap_users_per_film(ratings, cap), reference)


def notebook_filter_users_by_activity(ratings_df, min_percentile, max_percentile):
    """The notebook's version, verbatim apart from the docstring."""
    user_rating_counts = ratings_df.groupby("userId")["rating"].count()
    min_threshold = user_rating_counts.quantile(min_percentile)
    max_threshold = user_rating_counts.quantile(max_percentile)
    filtered_users = user_rating_counts[
        (user_rating_counts >= min_threshold) & (user_rating_counts <= max_threshold)
    ].index
    return ratings_df[ratings_df["userId"].isin(filtered_users)]


@pytest.mark.parametrize(("lo", "hi"), [(0.5, 0.97), (0.0, 1.0), (0.2, 0.3), (0.9, 0.9)])
def test_filters_match_the_notebook(lo: float, hi: float):
    ratings = random_ratings(21, n_users=80)
    pd.testing.assert_frame_equal(
        filter_users_by_activity(ratings, lo, hi),
        notebook_filter_users_by_activity(ratings, lo, hi),
    )
    counts = ratings.groupby("movieId").size()
    for min_ratings in (1, 3, 10):
        expected = ratings[ratings["movieId"].isin(counts[counts >= min_ratings].index)]
        pd.testing.assert_frame_equal(filter_films_by_count(ratings, min_ratings), expected)


def test_filter_users_by_activity_bounds_are_inclusive():
    # Counts 1..5: the 25th percentile is exactly 2 and the 75th exactly 4.
    ratings = users_with_counts({10: 1, 20: 2, 30: 3, 40: 4, 50: 5})
    kept = filter_users_by_activity(ratings, 0.25, 0.75)
    assert sorted(kept["userId"].unique()) == [20, 30, 40]
    assert len(kept) == 2 + 3 + 4
    assert len(filter_users_by_activity(ratings, 0.0, 1.0)) == len(ratings)
    assert sorted(filter_users_by_activity(ratings, 1.0, 1.0)["userId"].unique()) == [50]
    # Between two counts (the 50th percentile of 1..4 is 2.5) nobody sits on the bound.
    four = users_with_counts({1: 1, 2: 2, 3: 3, 4: 4})
    assert sorted(filter_users_by_activity(four, 0.5, 1.0)["userId"].unique()) == [3, 4]


def test_filter_films_by_count():
    ratings = frame([(1, 100, 3.0), (2, 100, 4.0), (3, 100, 5.0), (1, 200, 2.0), (2, 200, 1.0)])
    ratings.loc[len(ratings)] = (3, 300, 4.0)
    assert sorted(filter_films_by_count(ratings, 2)["movieId"].unique()) == [100, 200]
    assert sorted(filter_films_by_count(ratings, 3)["movieId"].unique()) == [100]
    assert len(filter_films_by_count(ratings, 1)) == 6
    assert filter_films_by_count(ratings, 4).empty


def test_build_matrix_is_sparse_with_ids_and_scaled_values():
    ratings = frame(
        [
            (42, 7, 1.0),
            (5, 300, 4.0),
            (42, 300, 3.0),
            (5, 7, 2.0),
            (42, 11, 5.0),
            (99, 11, 3.5),
        ]
    )
    rm = build_matrix(ratings)
    assert sp.issparse(rm.matrix) and rm.matrix.format == "csr"
    assert not isinstance(rm.matrix, np.ndarray)
    assert rm.matrix.shape == (3, 3)
    assert rm.matrix.dtype == np.float64
    np.testing.assert_array_equal(rm.user_ids, [5, 42, 99])
    np.testing.assert_array_equal(rm.item_ids, [7, 11, 300])
    assert rm.item_ids.dtype == np.int64
    np.testing.assert_array_equal(rm.item_counts, [2, 2, 2])
    assert rm.matrix.nnz == 6
    # User 5: 2 and 4 stars -> 0.3 and 0.7. User 42: 1, 3, 5 -> 0.5 ∓ sqrt(1.5)/5 and 0.5.
    # User 99: a single rating -> 0.5.
    d = np.sqrt(1.5) / 5
    expected = np.array(
        [
            [0.3, 0.0, 0.7],
            [0.5 - d, 0.5 + d, 0.5],
            [0.0, 0.5, 0.0],
        ]
    )
    np.testing.assert_allclose(rm.matrix.toarray(), expected, atol=1e-12)


def test_build_matrix_values_follow_scale_by_user():
    ratings = random_ratings(7)
    rm = build_matrix(ratings)
    codes, _ = pd.factorize(ratings["userId"], sort=True)
    items, _ = pd.factorize(ratings["movieId"], sort=True)
    scaled = scale_by_user(codes, ratings["rating"].to_numpy(), int(codes.max()) + 1)
    np.testing.assert_allclose(np.asarray(rm.matrix[codes, items]).ravel(), scaled)
    assert rm.matrix.nnz == len(ratings)


def test_frobenius_loss_equals_dense_computation():
    rng = np.random.default_rng(3)
    x = sp.random(30, 50, density=0.2, random_state=4, format="csr")
    w = rng.uniform(0, 1, (30, 5))
    h = rng.uniform(0, 1, (5, 50))
    dense = np.linalg.norm(x.toarray() - w @ h)
    assert frobenius_loss(x, w, h) == pytest.approx(dense, rel=1e-10)
    # An exact factorisation has zero loss.
    exact = sp.csr_matrix(w @ h)
    assert frobenius_loss(exact, w, h) == pytest.approx(0.0, abs=1e-5)


def low_rank(seed: int = 0, shape: tuple[int, int] = (40, 60), k: int = 4) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(rng.uniform(0, 1, (shape[0], k)) @ rng.uniform(0, 1, (k, shape[1])))


def test_fit_nmf_recovers_a_low_rank_matrix():
    x = low_rank()
    cfg = TrainConfig(n_components=4, max_iter=300, tol=1e-9, progress_every=20)
    calls: list[tuple[int, int, float]] = []
    fit = fit_nmf(x, cfg, progress=lambda d, t, loss: calls.append((d, t, loss)))
    norm = float(np.sqrt(x.multiply(x).sum()))
    assert fit.loss < 0.01 * norm
    assert fit.components.shape == (4, 60)
    assert fit.user_factors.shape == (40, 4)
    assert fit.components.min() >= 0 and fit.user_factors.min() >= 0
    assert fit.loss == pytest.approx(frobenius_loss(x, fit.user_factors, fit.components))
    assert fit.loss == fit.loss_history[-1]
    # One progress call per chunk, reporting iterations done, the total and the loss.
    assert [c[0] for c in calls] == list(range(20, fit.n_iter + 1, 20))
    assert {c[1] for c in calls} == {300}
    assert [c[2] for c in calls] == fit.loss_history
    # Coordinate descent never makes the loss worse.
    diffs = np.diff(fit.loss_history)
    assert np.all(diffs <= 1e-9 * fit.loss_history[0])


def test_fit_nmf_is_deterministic():
    x = low_rank(seed=1)
    cfg = TrainConfig(n_components=3, max_iter=40, random_state=5)
    a, b = fit_nmf(x, cfg), fit_nmf(x, cfg)
    np.testing.assert_array_equal(a.components, b.components)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    assert a.loss_history == b.loss_history
    assert a.n_iter == b.n_iter == 40


def test_fit_nmf_stops_early_when_tol_is_large():
    x = low_rank(seed=2)
    # tol=1: any improvement is "less than 100 %", so the second chunk ends the fit.
    fit = fit_nmf(x, TrainConfig(n_components=4, max_iter=300, tol=1.0, progress_every=10))
    assert fit.n_iter == 20
    assert len(fit.loss_history) == 2
    # With tol=0 it runs to max_iter (unless the loss stops moving exactly).
    full = fit_nmf(x, TrainConfig(n_components=4, max_iter=50, tol=0.0, progress_every=10))
    assert full.n_iter == 50 and len(full.loss_history) == 5
    assert full.loss <= fit.loss


def test_fit_nmf_refuses_more_components_than_the_matrix_allows():
    # A silent cap would record a setting the model never used.
    x = low_rank(shape=(3, 8), k=2)
    with pytest.raises(ValueError, match=r"n_components 10 is more than .*3 users x 8 films.*3"):
        fit_nmf(x, TrainConfig(n_components=10, max_iter=20))
    assert fit_nmf(x, TrainConfig(n_components=3, max_iter=20)).components.shape == (3, 8)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"user_min_percentile": 0.9, "user_max_percentile": 0.5}, "user percentiles must"),
        ({"user_min_percentile": -0.1}, "user percentiles must"),
        ({"user_max_percentile": 1.5}, "user percentiles must"),
        ({"n_components": 0}, "n_components must be at least 1"),
        ({"max_iter": 0}, "max_iter must be at least 1"),
        ({"max_users_per_film": -1}, r"max_users_per_film must be 0 \(no cap\) or more"),
        ({"min_ratings_per_film": 0}, "min_ratings_per_film must be at least 1"),
        ({"progress_every": -3}, "progress_every must be at least 1"),
        ({"tol": -1e-6}, "tol must be a number >= 0"),
        ({"tol": float("nan")}, "tol must be a number >= 0"),
    ],
)
def test_train_config_validate_rejects_bad_values(changes: dict[str, float], message: str):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes).validate()


def test_train_config_defaults_are_valid():
    TrainConfig().validate()
    TrainConfig(user_min_percentile=0.0, user_max_percentile=0.0, tol=0.0).validate()


def test_apply_filters_records_every_step_and_refuses_to_empty():
    ratings = random_ratings(11)
    cfg = TrainConfig(user_min_percentile=0.0, user_max_percentile=1.0, max_users_per_film=4)
    filtered, stats = apply_filters(ratings, cfg)
    steps = [s["step"] for s in stats.steps]
    assert steps == ["all ratings", "user activity", "users per film cap", "min ratings per film"]
    assert stats.steps[0]["ratings"] == len(ratings)
    assert stats.steps[-1] == {
        "step": "min ratings per film",
        "users": filtered["userId"].nunique(),
        "films": filtered["movieId"].nunique(),
        "ratings": len(filtered),
    }
    with pytest.raises(ValueError, match="the filters removed every rating; loosen them"):
        apply_filters(ratings, TrainConfig(min_ratings_per_film=10_000))


def rating_like(seed: int, shape: tuple[int, int] = (300, 200), density: float = 0.08):
    """A sparse matrix of values in (0, 1], shaped like scaled ratings."""
    x = sp.random(*shape, density=density, random_state=seed, format="csr")
    x.data = np.random.default_rng(seed).uniform(0.05, 1.0, x.nnz)
    return x


@pytest.mark.parametrize(("k", "threads"), [(5, 1), (40, 2), (70, 3)])
def test_fit_is_scikit_learns_coordinate_descent(k: int, threads: int, monkeypatch):
    """Our blocked, threaded updates give scikit-learn's W, H and loss (nndsvd, cd, no shuffle).

    k=70 spans three component blocks (COL_BLOCK=32), and small row blocks several row blocks.
    """
    import warnings

    from sklearn.decomposition import non_negative_factorization
    from sklearn.exceptions import ConvergenceWarning

    import recommender.nmf as nmf

    monkeypatch.setattr(nmf, "ROW_BLOCK", 64)
    monkeypatch.setattr(nmf.os, "cpu_count", lambda: threads)
    x = rating_like(k)
    cfg = TrainConfig(n_components=k, max_iter=30, tol=0.0, progress_every=10)
    ours = fit_nmf(x, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        w, h, n = non_negative_factorization(
            x, n_components=k, init="nndsvd", solver="cd", tol=0.0, max_iter=30, random_state=0
        )
    assert n == ours.n_iter == 30
    np.testing.assert_allclose(ours.user_factors, w, rtol=0, atol=1e-9 * np.abs(w).max())
    np.testing.assert_allclose(ours.components, h, rtol=0, atol=1e-9 * np.abs(h).max())
    assert ours.loss == pytest.approx(frobenius_loss(x, w, h), rel=1e-10)


@pytest.mark.parametrize(
    ("shape", "k", "threads"),
    [((300, 200), 12, 1), ((300, 200), 12, 2), ((100, 250), 12, 3), ((400, 300), 50, 2)],
)
def test_nndsvd_is_scikit_learns_start(shape: tuple[int, int], k: int, threads: int, monkeypatch):
    """Bit for bit, tall or wide (sklearn then factorises Xᵀ), the products on 1-3 threads."""
    from sklearn.decomposition._nmf import _initialize_nmf
    from threadpoolctl import threadpool_limits

    import recommender.nmf as nmf

    monkeypatch.setattr(nmf.os, "cpu_count", lambda: threads)
    x = rating_like(9, shape)
    w, h = nmf.nndsvd(x, k, random_state=3)
    with threadpool_limits(limits=1, user_api="blas"):  # ours runs its dense steps so
        w_sk, h_sk = _initialize_nmf(x, k, init="nndsvd", random_state=3)
    np.testing.assert_array_equal(w, w_sk)
    np.testing.assert_array_equal(h, h_sk)


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_sparse_products_are_scipys_to_the_last_bit(threads: int):
    """X @ D and Xᵀ @ D split over threads (Xᵀ by film ranges, as scipy's CSC product adds up
    user by user) equal scipy's own products exactly, empty rows and columns included."""
    from recommender.nmf import SparseProducts

    x = rating_like(4, (120, 90), density=0.1)
    x = sp.csr_matrix(x.multiply(np.arange(90) % 7 != 0))  # some empty films
    x = sp.vstack([x, sp.csr_matrix((5, 90))]).tocsr()  # and some empty users
    x.eliminate_zeros()
    rng = np.random.default_rng(threads)
    d_films, d_users = rng.random((90, 6)), rng.random((125, 6))
    with SparseProducts(x, threads) as xs:
        np.testing.assert_array_equal(xs.x_times(d_films), x @ d_films)
        np.testing.assert_array_equal(xs.xt_times(d_users), x.T @ d_users)
        np.testing.assert_array_equal(xs.xt_times(np.asfortranarray(d_users)), x.T @ d_users)


def test_frobenius_loss_sums_duplicate_entries_first():
    # Two entries at one position are one value of 3.0, not two of 1.0 and 2.0.
    x = sp.csr_matrix((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 2, 2])), shape=(2, 2))
    assert not x.has_canonical_format
    assert frobenius_loss(x, np.zeros((2, 1)), np.zeros((1, 2))) == pytest.approx(3.0)

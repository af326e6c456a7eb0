"""Hand-built ``UserFilms`` for the social features: a person is a dict movieId -> stars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from recommender.service import RecommenderService
from recommender.user_films import UserFilm, UserFilms


def popular_ids(service: RecommenderService, n: int, skip: int = 0) -> list[int]:
    """The movieIds of the model's most-rated films, from rank ``skip`` on (stable order)."""
    order = np.argsort(-np.asarray(service.model.item_counts), kind="stable")
    return [int(service.model.item_ids[i]) for i in order[skip : skip + n]]


def films_of(
    service: RecommenderService,
    ratings: Mapping[int, float],
    *,
    watched: Iterable[int] = (),
    watchlist: Iterable[int] = (),
) -> UserFilms:
    """A person who rated ``ratings``, watched ``watched`` without rating and lists
    ``watchlist``; every film is named by its MovieLens title."""
    watched, watchlist = set(watched), set(watchlist)
    films = [
        UserFilm(m, service.title(m), None, float(s), True, m in watchlist)
        for m, s in ratings.items()
    ]
    films += [UserFilm(m, service.title(m), None, None, True, False) for m in sorted(watched)]
    films += [
        UserFilm(m, service.title(m), None, None, False, True)
        for m in sorted(watchlist - set(ratings) - watched)
    ]
    return UserFilms(
        films=tuple(films),
        seen_ids=frozenset(ratings) | frozenset(watched),
        ratings=tuple(float(s) for s in ratings.values()),
    )


def varied_stars(n: int, seed: int = 0) -> list[float]:
    """``n`` half-star ratings spread over 0.5..5, reproducibly."""
    rng = np.random.default_rng(seed)
    return [float(s) for s in rng.integers(1, 11, size=n) / 2]

"""One person's taste in model terms, shared by /compare and /movienight.

A :class:`Person` is their stored films folded into the model once: the fold-in vector ``w``,
their rating scale (mean and spread of every rating they gave) and the vector the ranking
kernel explains with. :func:`predict` gives their predicted stars for any films, on their own
scale, through the same kernel as /recommend, so a "★4.2" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import BoxdrecError
from recommender.ranking import Ranked, UserVector, rank
from recommender.scaling import CLIP, UserScale, fit_user_scale
from recommender.service import RecommenderService, letterboxd_url
from recommender.user_films import UserFilm, UserFilms


@dataclass(frozen=True)
class Person:
    """A person's films, folded in. ``user``/``w`` are None when the model learns nothing from
    them (no film it knows rated above their average): comparisons still use their ratings."""

    films: UserFilms
    scale: UserScale
    user: UserVector | None
    used: tuple[UserFilm, ...]
    w: np.ndarray | None

    def z(self, stars: np.ndarray) -> np.ndarray:
        """Stars as this person's z-scores (clipped like the model's scaling); 0 without spread."""
        return zscores(self.scale, stars)


def seen_ids(films: UserFilms) -> set[int]:
    """Every film the person has watched: the export's watched rows, matched or duplicate."""
    return set(films.seen_ids) | {f.movie_id for f in films.films if f.watched}


def zscores(scale: UserScale, stars: np.ndarray) -> np.ndarray:
    stars = np.asarray(stars, dtype=np.float64)
    if scale.std <= 0:
        return np.zeros(stars.shape)
    return np.clip((stars - scale.mean) / scale.std, -CLIP, CLIP)


def person(service: RecommenderService, films: UserFilms, *, strict: bool = True) -> Person:
    """Fold ``films`` in. With ``strict`` a person the model learns nothing from raises the
    service's :class:`BoxdrecError`; otherwise they come back with ``user`` and ``w`` None."""
    scale = fit_user_scale(np.array(films.ratings, dtype=np.float64))
    try:
        user, used = service.user_vector(films)
    except BoxdrecError:
        if strict:
            raise
        return Person(films=films, scale=scale, user=None, used=(), w=None)
    w = service.foldin.transform(user.positions, user.values)
    return Person(films=films, scale=user.scale, user=user, used=tuple(used), w=w)


def predict(service: RecommenderService, who: Person, positions: np.ndarray) -> dict[int, Ranked]:
    """The ranking kernel's verdict (predicted stars, drivers) on the model columns
    ``positions``, by column. Empty when the person has no usable vector."""
    positions = np.unique(np.asarray(positions, dtype=np.intp))
    positions = positions[positions >= 0]
    if who.user is None or positions.size == 0:
        return {}
    exclude = np.ones(len(service.model.item_ids), dtype=bool)
    exclude[positions] = False
    return {r.position: r for r in rank(service.foldin, who.user, exclude, int(positions.size))}


def stars_or_nan(ranked: Ranked | None) -> float:
    """A :func:`predict` verdict's stars, NaN when there is none."""
    return np.nan if ranked is None or ranked.stars is None else float(ranked.stars)


@dataclass(frozen=True, slots=True)
class FilmCard:
    """What a reply shows about a film: its title, year, genres and Letterboxd link."""

    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    tmdb_id: int | None
    imdb_id: int | None

    @property
    def letterboxd_url(self) -> str | None:
        return letterboxd_url(self.tmdb_id, self.imdb_id)


def film_card(service: RecommenderService, movie_id: int) -> FilmCard:
    movies = service.catalogue.movies
    if movie_id not in movies.index:
        return FilmCard(movie_id, service.title(movie_id), None, (), None, None)
    row = movies.loc[movie_id]
    genres = tuple(g for g in str(row["genres"]).split("|") if g and g != "(no genres listed)")
    return FilmCard(
        movie_id=movie_id,
        title=service.title(movie_id),
        year=_maybe_int(row["year"]),
        genres=genres,
        tmdb_id=_maybe_int(row["tmdbId"]),
        imdb_id=_maybe_int(row["imdbId"]),
    )


def _maybe_int(value: object) -> int | None:
    return None if pd.isna(value) else int(value)  # type: ignore[call-overload]

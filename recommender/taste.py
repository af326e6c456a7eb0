"""A person's taste profile: how much and how generously they rate, what they like, and the
model's taste dimensions they load on most, with a one-line signature.

Definitions (docs/architecture.md explains them for users):

* **Generosity**: see :class:`recommender.crowd.Generosity`: the mean of (their stars − the
  film's MovieLens mean) over the rated films MovieLens raters have rated at least 5 times,
  shrunk toward the typical rater when few films are shared, as a percentile among MovieLens
  raters computed the same way. No percentile below 5 shared films.
* **Favourite genres and decades**: every rated film counts in each of its genres (and its
  decade) with ``d = stars − the person's own mean``; a genre's *liking* is
  ``Σd / (n + prior)``, a mean shrunk toward 0 by ``prior`` imaginary neutral films
  (:data:`PRIOR_FILMS`, or :data:`PRIOR_SHARE` of their rated films if more). It grows with
  how far above their own average they rate the genre *and* with how many films back that up:
  20 horror films at +0.5★ beat one at +2★, and for someone with 2,000 ratings a curated
  handful of silent classics does not outweigh the genres they live in. Favourites need
  :data:`MIN_FILMS` films and a positive liking. Someone with fewer than :data:`MIN_RATED`
  ratings gets genres by how many films they watched instead.
* **Taste dimensions**: the fold-in weights ``w`` (as for recommendations), times each
  component's norm so that components on different scales compare; the three largest, as a
  share of the total, with the component's generated name and example films.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recommender.crowd import Generosity, star_bins
from recommender.dimensions import name_parts
from recommender.errors import BoxdrecError
from recommender.service import RecommenderService
from recommender.user_films import UserFilm, UserFilms

log = logging.getLogger(__name__)

PRIOR_FILMS = 5.0
PRIOR_SHARE = 0.03
MIN_FILMS = 3
MIN_RATED = 5
N_FAVOURITES = 3
N_DIMENSIONS = 3
N_YOURS = 2  # the person's own films named under each dimension
NO_GENRE = "(no genres listed)"

# How each genre reads in a signature ("… of 1970s crime and thrillers").
SIGNATURE_WORDS = {
    "Action": "action",
    "Adventure": "adventure",
    "Animation": "animation",
    "Children": "children's films",
    "Comedy": "comedy",
    "Crime": "crime",
    "Documentary": "documentaries",
    "Drama": "drama",
    "Fantasy": "fantasy",
    "Film-Noir": "film noir",
    "Horror": "horror",
    "IMAX": "IMAX",
    "Musical": "musicals",
    "Mystery": "mystery",
    "Romance": "romance",
    "Sci-Fi": "sci-fi",
    "Thriller": "thrillers",
    "War": "war films",
    "Western": "westerns",
}


@dataclass(frozen=True)
class Preference:
    """How much someone likes one genre or decade (see the module docstring)."""

    name: str  # "Horror", "1970s"
    films: int
    mean_stars: float | None  # their average in it; None when counted from watched films
    liking: float  # stars above their own mean, shrunk; or the share of films watched


@dataclass(frozen=True)
class ExampleFilm:
    movie_id: int
    title: str
    year: int | None


@dataclass(frozen=True)
class TasteDimension:
    index: int  # the NMF component
    name: str
    share: float  # of the person's total (scaled) loading, 0..1
    examples: tuple[ExampleFilm, ...]
    yours: tuple[str, ...]  # the person's own films that load most on it (their names)


@dataclass(frozen=True)
class TasteProfile:
    n_films: int  # films matched to MovieLens
    n_watched: int
    n_rated: int
    mean_stars: float | None
    rating_counts: np.ndarray  # 10 half-star bins, every rating in the export
    shared_counts: np.ndarray  # 10 bins, their ratings of films MovieLens raters rated
    crowd_shares: np.ndarray  # 10 bins summing to 1: MovieLens ratings of those films
    generosity: Generosity | None  # None: the model has no crowd statistics
    genres: tuple[Preference, ...]  # every genre with films, best liked first
    decades: tuple[Preference, ...]
    basis: str  # "ratings" or "watched" (too few ratings to weigh genres by them)
    dimensions: tuple[TasteDimension, ...]
    signature: str
    model_name: str

    @property
    def favourite_genres(self) -> tuple[Preference, ...]:
        return _favourites(self.genres)

    @property
    def favourite_decades(self) -> tuple[Preference, ...]:
        return _favourites(self.decades)


def _favourites(prefs: tuple[Preference, ...]) -> tuple[Preference, ...]:
    chosen = [p for p in prefs if p.films >= MIN_FILMS and p.liking > 0]
    return tuple(chosen[:N_FAVOURITES])


def build_profile(service: RecommenderService, films: UserFilms) -> TasteProfile:
    """The profile of one person's stored films (pure in-memory work: milliseconds)."""
    ref = service.taste_data.get()
    ratings = np.asarray(films.ratings, dtype=np.float64)
    mean = float(ratings.mean()) if ratings.size else None
    rated = [f for f in films.films if f.stars is not None]
    rated_ids = np.array([f.movie_id for f in rated], dtype=np.int64)
    rated_stars = np.array([f.stars for f in rated], dtype=np.float64)

    shared_counts = np.zeros(10)
    crowd_shares = np.zeros(10)
    generosity = None
    if ref.crowd is not None:
        generosity = ref.crowd.generosity(rated_ids, rated_stars)
        known = ref.crowd.rated_enough(rated_ids)  # the films the percentile is about
        shared_counts = _counts(rated_stars[known])
        crowd_shares = ref.crowd.histogram(rated_ids[known])

    if len(rated) >= MIN_RATED and mean is not None:
        basis = "ratings"
        genres, decades = preferences(service, rated, mean)
    else:
        basis = "watched"
        genres, decades = watched_preferences(service, [f for f in films.films if f.watched])

    dims = dimensions(service, films)
    profile = TasteProfile(
        n_films=len(films.films),
        n_watched=films.n_watched,
        n_rated=int(ratings.size),
        mean_stars=mean,
        rating_counts=_counts(ratings),
        shared_counts=shared_counts,
        crowd_shares=crowd_shares,
        generosity=generosity,
        genres=genres,
        decades=decades,
        basis=basis,
        dimensions=dims,
        signature="",
        model_name=service.model.name,
    )
    return _with_signature(profile)


def _counts(stars: np.ndarray) -> np.ndarray:
    return np.bincount(star_bins(stars), minlength=10).astype(np.float64)


# -- genres and decades ------------------------------------------------------------------------


def _genres_and_decade(service: RecommenderService, films: list[UserFilm]):
    """(genres, decade label or None) of each film, from the catalogue (the user's year as a
    fallback)."""
    movies = service.catalogue.movies
    ids = [f.movie_id for f in films]
    rows = movies.reindex(ids)
    genre_text = rows["genres"].tolist()
    years = rows["year"].tolist()
    out = []
    for f, text, year in zip(films, genre_text, years, strict=True):
        genres = [] if pd.isna(text) else [g for g in str(text).split("|") if g and g != NO_GENRE]
        y = f.year if pd.isna(year) else int(year)
        out.append((genres, None if y is None else f"{y - y % 10}s"))
    return out


def preferences(
    service: RecommenderService, rated: list[UserFilm], mean: float
) -> tuple[tuple[Preference, ...], tuple[Preference, ...]]:
    """Genres and decades by shrunk liking (stars relative to the person's own mean)."""
    sums: dict[str, list[float]] = defaultdict(list)
    decade_sums: dict[str, list[float]] = defaultdict(list)
    for f, (genres, decade) in zip(rated, _genres_and_decade(service, rated), strict=True):
        assert f.stars is not None
        for g in genres:
            sums[g].append(f.stars)
        if decade is not None:
            decade_sums[decade].append(f.stars)
    prior = max(PRIOR_FILMS, PRIOR_SHARE * len(rated))
    return _ranked(sums, mean, prior), _ranked(decade_sums, mean, prior)


def _ranked(groups: dict[str, list[float]], mean: float, prior: float) -> tuple[Preference, ...]:
    prefs = [
        Preference(
            name=name,
            films=len(stars),
            mean_stars=float(np.mean(stars)),
            liking=float(np.sum(np.asarray(stars) - mean) / (len(stars) + prior)),
        )
        for name, stars in groups.items()
    ]
    return tuple(sorted(prefs, key=lambda p: (-p.liking, -p.films, p.name)))


def watched_preferences(
    service: RecommenderService, watched: list[UserFilm]
) -> tuple[tuple[Preference, ...], tuple[Preference, ...]]:
    """Without enough ratings: genres and decades by the share of watched films in them."""
    counts: dict[str, int] = defaultdict(int)
    decade_counts: dict[str, int] = defaultdict(int)
    for genres, decade in _genres_and_decade(service, watched):
        for g in genres:
            counts[g] += 1
        if decade is not None:
            decade_counts[decade] += 1

    def ranked(c: dict[str, int]) -> tuple[Preference, ...]:
        total = max(len(watched), 1)
        prefs = [Preference(name, n, None, n / total) for name, n in c.items()]
        return tuple(sorted(prefs, key=lambda p: (-p.films, p.name)))

    return ranked(counts), ranked(decade_counts)


# -- taste dimensions --------------------------------------------------------------------------


def dimensions(service: RecommenderService, films: UserFilms) -> tuple[TasteDimension, ...]:
    """The person's strongest NMF components, named, with examples and their own films."""
    ref = service.taste_data.get()
    try:
        user, used = service.user_vector(films)
    except BoxdrecError:
        return ()  # nothing the model can read a taste from: the profile says so
    w = service.foldin.transform(user.positions, user.values)
    strength = w * ref.scale
    total = float(strength.sum())
    if total <= 0:
        return ()
    out = []
    for c in np.argsort(-strength, kind="stable")[:N_DIMENSIONS]:
        if strength[c] <= 0:
            break
        c = int(c)
        # The person's films that load most on it, weighted by how much they liked them.
        pull = np.asarray(service.model.components[c, user.positions], dtype=np.float64)
        pull *= user.values
        loaders = [j for j in np.argsort(-pull, kind="stable").tolist() if pull[j] > 0]
        picked = _fitting(service, [used[j] for j in loaders], ref.dimensions.names[c])
        mine = [f.name for f in picked[:N_YOURS]]
        out.append(
            TasteDimension(
                index=c,
                name=ref.dimensions.names[c],
                share=float(strength[c]) / total,
                examples=tuple(_examples(service, ref.dimensions.examples[c])),
                yours=tuple(mine),
            )
        )
    return tuple(out)


def _fitting(service: RecommenderService, films: list[UserFilm], name: str) -> list[UserFilm]:
    """``films`` (strongest loaders first) that the dimension's name describes: those with every
    genre (and the era) it names first, then those with one of its genres; never one with none
    of them ("War dramas · Yours: Rear Window" reads as nonsense). A name that names no genre
    or era keeps them all."""
    claims = name_parts(name)
    if not claims.genres and claims.era is None:
        return films
    facts = _genres_and_year(service, films)
    full = [f for f, (g, y) in zip(films, facts, strict=True) if claims.fits(g, y)]
    some = [
        f
        for f, (g, y) in zip(films, facts, strict=True)
        if f not in full and set(g) & set(claims.genres)
    ]
    return full + some


def _genres_and_year(
    service: RecommenderService, films: list[UserFilm]
) -> list[tuple[list[str], int | None]]:
    movies = service.catalogue.movies.reindex([f.movie_id for f in films])
    out = []
    for f, text, year in zip(
        films, movies["genres"].tolist(), movies["year"].tolist(), strict=True
    ):
        genres = [] if pd.isna(text) else [g for g in str(text).split("|") if g and g != NO_GENRE]
        out.append((genres, f.year if pd.isna(year) else int(year)))
    return out


def _examples(service: RecommenderService, ids: Iterable[int]) -> list[ExampleFilm]:
    movies = service.catalogue.movies
    out = []
    for movie_id in (int(i) for i in ids):
        if movie_id < 0:
            continue
        year = movies.at[movie_id, "year"] if movie_id in movies.index else None
        out.append(
            ExampleFilm(
                movie_id=movie_id,
                title=service.title(movie_id),
                year=None if year is None or pd.isna(year) else int(year),
            )
        )
    return out


# -- signature ---------------------------------------------------------------------------------


def rater_word(percentile: float | None) -> str:
    """ "A generous rater", "A tough critic"… from the generosity percentile."""
    if percentile is None:
        return "A film lover"
    if percentile >= 80:
        return "A generous rater"
    if percentile >= 60:
        return "A warm rater"
    if percentile > 40:
        return "A balanced rater"
    if percentile > 20:
        return "A demanding rater"
    return "A tough critic"


def _with_signature(profile: TasteProfile) -> TasteProfile:
    pct = profile.generosity.percentile if profile.generosity else None
    who = rater_word(pct)
    genres = [SIGNATURE_WORDS.get(p.name, p.name.lower()) for p in profile.favourite_genres[:2]]
    if not genres and profile.genres:  # nothing clearly above their average: most watched
        best = max(profile.genres, key=lambda p: p.films)
        genres = [SIGNATURE_WORDS.get(best.name, best.name.lower())]
    decades = profile.favourite_decades
    era = f"{decades[0].name} " if decades else ""
    if not genres:
        return replace(profile, signature=f"{who} with eclectic taste")
    return replace(profile, signature=f"{who} of {era}{' and '.join(genres)}")

"""/compare: how two people's tastes line up, told honestly.

**Agreement** is measured on the films both rated, after removing each person's rating style:
every rating becomes that person's z-score (their mean and spread over *all* their ratings,
clipped to ±2.5 like the model's scaling), so a generous rater's 4 stars and a stingy rater's 3
can both mean "good". The raw agreement is the cosine of the two z vectors. It is centred on each
person's overall mean, not on the shared films' mean, so two people who both rate every shared
film above their average agree (Pearson on the overlap alone would call that noise). It is then
shrunk toward 0 (neutral) by ``n / (n + λ)`` with ``λ = SHRINK_FILMS = 10``: with ten shared
films the evidence counts half, with 40 four fifths, so four lucky matches never read as
"soulmates". The overlap count and a confidence label are always shown with it.

**Taste similarity** is the cosine of the two fold-in vectors ``w`` (non-negative, so 0..1): how
alike their profiles over the model's taste dimensions are. It needs no shared film.

Everything is vectorised over the two film lists and the k model dimensions: milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recommender.evidence import LOW_STARS
from recommender.person import (
    FilmCard,
    Person,
    film_card,
    person,
    predict,
    seen_ids,
    stars_or_nan,
)
from recommender.service import RecommenderService
from recommender.user_films import UserFilms

SHRINK_FILMS = 10.0  # λ: shared films at which the agreement counts half
MIN_SHARED = 3  # fewer shared rated films: no agreement figure at all
MEDIUM_CONFIDENCE, HIGH_CONFIDENCE = 10, 30  # shared films for "medium" and "high"
FAVOURITE_Z = 0.5  # both rated it this far above their own average
DISAGREE_Z = 1.0  # z-scores at least this far apart
LOVED_Z = 1.0  # a film someone "loved": a standard deviation above their average
SHOW = 5  # films per list

Confidence = Literal["none", "low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class SharedFilm:
    """A film both rated: each one's stars and z-score (their own scale)."""

    film: FilmCard
    stars_a: float
    stars_b: float
    z_a: float
    z_b: float


@dataclass(frozen=True, slots=True)
class LovedFilm:
    """A film the other person loved that this person has not seen."""

    film: FilmCard
    their_stars: float  # the other person's rating
    predicted_stars: float | None  # this person's, on their own scale (None: model lacks it)
    on_watchlist: bool  # already on this person's watchlist


@dataclass(frozen=True)
class Comparison:
    n_shared: int  # films both rated
    n_both_seen: int  # films both watched, rated or not
    agreement: float | None  # shrunk, -1..1; None with fewer than MIN_SHARED shared films
    raw_agreement: float | None  # before shrinking
    confidence: Confidence
    taste_similarity: float | None  # cosine of the fold-in vectors, 0..1
    shared_favourites: tuple[SharedFilm, ...]
    disagreements: tuple[SharedFilm, ...]
    for_a: tuple[LovedFilm, ...]  # b loved, a has not seen
    for_b: tuple[LovedFilm, ...]  # a loved, b has not seen
    verdict: str

    @property
    def confidence_label(self) -> str:
        """e.g. "low: 4 shared films"."""
        films = "film" if self.n_shared == 1 else "films"
        return f"{self.confidence}: {self.n_shared} shared rated {films}"


def compare(service: RecommenderService, a: UserFilms, b: UserFilms) -> Comparison:
    """How ``a`` and ``b`` compare; see the module docstring for the measures."""
    pa, pb = person(service, a, strict=False), person(service, b, strict=False)
    ids_a, stars_a = _rated(a)
    ids_b, stars_b = _rated(b)
    shared, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    za, zb = pa.z(stars_a[ia]), pb.z(stars_b[ib])
    raw = _cosine(za, zb) if shared.size >= MIN_SHARED else None
    agreement = None if raw is None else raw * shared.size / (shared.size + SHRINK_FILMS)
    confidence = _confidence(shared.size)
    taste = None if pa.w is None or pb.w is None else _cosine(pa.w, pb.w)

    low = np.minimum(za, zb)
    favourites = np.flatnonzero(low >= FAVOURITE_Z)
    favourites = favourites[
        np.lexsort((shared[favourites], -(za + zb)[favourites], -low[favourites]))
    ]
    gap = np.abs(za - zb)
    apart = np.flatnonzero(gap >= DISAGREE_Z)
    apart = apart[np.lexsort((shared[apart], -gap[apart]))]
    both_seen = len(seen_ids(a) & seen_ids(b))

    def row(i: int) -> SharedFilm:
        film = film_card(service, int(shared[i]))
        return SharedFilm(
            film, float(stars_a[ia[i]]), float(stars_b[ib[i]]), float(za[i]), float(zb[i])
        )

    return Comparison(
        n_shared=int(shared.size),
        n_both_seen=both_seen,
        agreement=agreement,
        raw_agreement=raw,
        confidence=confidence,
        taste_similarity=taste,
        shared_favourites=tuple(row(i) for i in favourites[:SHOW]),
        disagreements=tuple(row(i) for i in apart[:SHOW]),
        for_a=_loved_unseen(service, pb, pa),
        for_b=_loved_unseen(service, pa, pb),
        verdict=verdict(agreement, confidence, taste),
    )


def _rated(films: UserFilms) -> tuple[np.ndarray, np.ndarray]:
    rated = films.rated
    ids = np.array([f.movie_id for f in rated], dtype=np.int64)
    stars = np.array([f.stars for f in rated], dtype=np.float64)
    return ids, stars


def _cosine(x: np.ndarray, y: np.ndarray) -> float | None:
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return None if norm <= 1e-12 else float(np.clip(np.dot(x, y) / norm, -1.0, 1.0))


def _confidence(n_shared: int) -> Confidence:
    if n_shared < MIN_SHARED:
        return "none"
    if n_shared < MEDIUM_CONFIDENCE:
        return "low"
    return "medium" if n_shared < HIGH_CONFIDENCE else "high"


def _loved_unseen(
    service: RecommenderService, lover: Person, viewer: Person
) -> tuple[LovedFilm, ...]:
    """Films ``lover`` rated at least LOVED_Z above their average that ``viewer`` has not seen,
    ordered by ``viewer``'s predicted stars (films the model lacks last), then by how much
    ``lover`` loved them."""
    ids, stars = _rated(lover.films)
    z = lover.z(stars)
    seen = seen_ids(viewer.films)
    keep = (z >= LOVED_Z) & (stars > LOW_STARS) & ~np.isin(ids, list(seen))
    ids, stars, z = ids[keep], stars[keep], z[keep]
    positions = service.model.positions(ids)
    verdicts = predict(service, viewer, positions)
    predicted = np.array([stars_or_nan(verdicts.get(int(p))) for p in positions], dtype=np.float64)
    # Unknown predictions sort last: -inf after every real star value.
    key = np.where(np.isfinite(predicted), np.round(predicted, 1), -np.inf)
    order = np.lexsort((ids, -z, -key))
    # A film the viewer logged under a title that matched nothing may still be this one.
    guard = service.seen_guard(viewer.films)
    shown = [i for i in order[: 4 * SHOW] if positions[i] < 0 or not guard(int(positions[i]))]
    watchlist = viewer.films.watchlist_ids
    return tuple(
        LovedFilm(
            film=film_card(service, int(ids[i])),
            their_stars=float(stars[i]),
            predicted_stars=None if np.isnan(predicted[i]) else round(float(predicted[i]), 1),
            on_watchlist=int(ids[i]) in watchlist,
        )
        for i in shown[:SHOW]
    )


# -- words ------------------------------------------------------------------------------------

_AGREEMENT_WORDS: Sequence[tuple[float, str]] = (
    (0.5, "strong agreement"),
    (0.25, "fair agreement"),
    (0.1, "slight agreement"),
    (-0.1, "no clear agreement"),
    (-1.01, "disagreement"),
)
_TASTE_WORDS: Sequence[tuple[float, str]] = (
    (0.7, "very close"),
    (0.4, "similar"),
    (0.15, "partly overlapping"),
    (-0.01, "quite different"),
)


def agreement_words(agreement: float) -> str:
    """0.42 -> "fair agreement"."""
    return next(words for low, words in _AGREEMENT_WORDS if agreement >= low)


def taste_words(similarity: float) -> str:
    """0.8 -> "very close"."""
    return next(words for low, words in _TASTE_WORDS if similarity >= low)


def verdict(agreement: float | None, confidence: Confidence, taste: float | None) -> str:
    """One line that leads with the better-supported measure."""
    taste_part = None if taste is None else f"your tastes are {taste_words(taste)}"
    if agreement is None or confidence == "none":
        if taste_part is None:
            return "Not enough films to compare yet: rate more on Letterboxd and upload again."
        return f"Too few films rated by both of you to judge agreement, but {taste_part}."
    rating = {
        "strong agreement": "You two rate films very much alike",
        "fair agreement": "You mostly agree on the films you share",
        "slight agreement": "You agree a little more often than not",
        "no clear agreement": "Your ratings barely line up",
        "disagreement": "You tend to disagree: what one loves, the other rates low",
    }[agreement_words(agreement)]
    hedge = " (early days: few shared films)" if confidence == "low" else ""
    return f"{rating}{hedge}" + ("" if taste_part is None else f", and {taste_part}") + "."

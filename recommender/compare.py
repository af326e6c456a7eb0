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

**Taste similarity** compares what the model predicts for each person, not their sparse fold-in
vectors: each person's scores ``w H`` over the ``TASTE_FILMS`` films with the most training
ratings are ranked, and the similarity is the rank correlation (Spearman) of the two rankings,
-1..1. It needs no shared film. The cosine of the fold-in vectors ``w`` it replaces was not
stable on a 128-component model: two random halves of one person's films scored anywhere from
0.1 to 0.9. The word thresholds come from measured baselines (one person's two halves against
random pairs of people; docs/architecture.md, "/compare"), and a confidence from the smaller
number of rated films the model knows of the two: ``TASTE_MEDIUM`` and ``TASTE_HIGH``.

Everything is vectorised over the two film lists and the compared films: milliseconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
TASTE_FILMS = 1000  # the best-known films (most training ratings) the taste is compared over
# Rated films the model knows (the smaller of the two people) for a medium or high confidence
# in the taste similarity; fewer than TASTE_MEDIUM is low.
TASTE_MEDIUM, TASTE_HIGH = 30, 100

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
    taste_similarity: float | None  # rank correlation of the predicted scores, -1..1
    taste_films: tuple[int, int]  # rated films the model knows, a's and b's
    taste_confidence: Confidence  # "none" exactly when taste_similarity is None
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

    @property
    def taste_confidence_label(self) -> str:
        """e.g. "medium: 45 and 310 rated films the model knows"."""
        a, b = self.taste_films
        films = "film" if a == b == 1 else "films"
        return f"{self.taste_confidence}: {a} and {b} rated {films} the model knows"


def compare(
    service: RecommenderService,
    a: UserFilms,
    b: UserFilms,
    hidden_a: Collection[int] = (),
    hidden_b: Collection[int] = (),
) -> Comparison:
    """How ``a`` and ``b`` compare; see the module docstring for the measures.

    ``hidden_a`` / ``hidden_b`` are the movieIds each person hid from their lists ("Seen it",
    "Not interested"): they are never offered to that person from the other's favourites.
    """
    pa, pb = person(service, a, strict=False), person(service, b, strict=False)
    ids_a, stars_a = _rated(a)
    ids_b, stars_b = _rated(b)
    shared, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    za, zb = pa.z(stars_a[ia]), pb.z(stars_b[ib])
    raw = _cosine(za, zb) if shared.size >= MIN_SHARED else None
    agreement = None if raw is None else raw * shared.size / (shared.size + SHRINK_FILMS)
    confidence = _confidence(shared.size)
    taste = taste_similarity(service, pa, pb)
    taste_films = (_known_rated(service, pa), _known_rated(service, pb))
    taste_conf = _taste_confidence(taste, min(taste_films))

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
        taste_films=taste_films,
        taste_confidence=taste_conf,
        shared_favourites=tuple(row(i) for i in favourites[:SHOW]),
        disagreements=tuple(row(i) for i in apart[:SHOW]),
        for_a=_loved_unseen(service, pb, pa, hidden_a),
        for_b=_loved_unseen(service, pa, pb, hidden_b),
        verdict=verdict(agreement, confidence, taste, taste_conf),
    )


def taste_similarity(service: RecommenderService, a: Person, b: Person) -> float | None:
    """Spearman rank correlation of ``a``'s and ``b``'s predicted scores ``w H`` over the
    ``TASTE_FILMS`` best-known films; None when either has no vector (or a constant one)."""
    if a.w is None or b.w is None:
        return None
    h = service.model.components[:, well_known(service)]
    return _cosine(_centred_ranks(a.w @ h), _centred_ranks(b.w @ h))


def well_known(service: RecommenderService, n: int = TASTE_FILMS) -> np.ndarray:
    """Model columns of the ``n`` films with the most training ratings (ties by column)."""
    counts = np.asarray(service.model.item_counts)
    return np.sort(np.lexsort((np.arange(counts.size), -counts))[:n])


def _centred_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` (ties share their average rank) minus their mean."""
    x = np.asarray(x, dtype=np.float64)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # Values sorted ascending: a group's ranks run from the ones before it, plus 1, to its end.
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    return ranks - ranks.mean()


def _known_rated(service: RecommenderService, who: Person) -> int:
    """Rated films of ``who`` the model knows: the evidence behind their predicted scores."""
    ids, _ = _rated(who.films)
    return int(np.count_nonzero(service.model.positions(ids) >= 0)) if ids.size else 0


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


def _taste_confidence(similarity: float | None, fewest_films: int) -> Confidence:
    """From the smaller of the two people's rated films the model knows."""
    if similarity is None:
        return "none"
    if fewest_films < TASTE_MEDIUM:
        return "low"
    return "medium" if fewest_films < TASTE_HIGH else "high"


def _loved_unseen(
    service: RecommenderService, lover: Person, viewer: Person, hidden: Collection[int] = ()
) -> tuple[LovedFilm, ...]:
    """Films ``lover`` rated at least LOVED_Z above their average that ``viewer`` has neither
    seen nor hidden, ordered by ``viewer``'s predicted stars (films the model lacks last), then
    by how much ``lover`` loved them."""
    ids, stars = _rated(lover.films)
    z = lover.z(stars)
    seen = seen_ids(viewer.films) | {int(m) for m in hidden}
    keep = (
        (z >= LOVED_Z)
        & (stars > LOW_STARS)
        & ~np.isin(ids, np.fromiter(seen, dtype=np.int64, count=len(seen)))
    )
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

# One scale, used word for word by the field and the verdict line.
_AGREEMENT_WORDS: Sequence[tuple[float, str]] = (
    (0.5, "strong agreement"),
    (0.25, "moderate agreement"),
    (0.1, "slight agreement"),
    (-0.1, "no clear agreement"),
    (-1.01, "disagreement"),
)
# Calibrated on the default model (k = 128; docs/architecture.md, "/compare"): 0.70 is the
# median of one person's two random halves, reached by 1-2% of random MovieLens pairs; every
# half-and-half self-split measured scored at least 0.35, about the median random pair.
_TASTE_WORDS: Sequence[tuple[float, str]] = (
    (0.7, "very close"),
    (0.55, "similar"),
    (0.35, "partly overlapping"),
    (-1.01, "quite different"),
)


def agreement_words(agreement: float) -> str:
    """0.42 -> "moderate agreement"."""
    return next(words for low, words in _AGREEMENT_WORDS if agreement >= low)


def taste_words(similarity: float) -> str:
    """0.8 -> "very close"."""
    return next(words for low, words in _TASTE_WORDS if similarity >= low)


def verdict(
    agreement: float | None,
    confidence: Confidence,
    taste: float | None,
    taste_confidence: Confidence = "high",
) -> str:
    """One line that leads with the better-supported measure."""
    taste_part = None
    if taste is not None:
        taste_part = f"your tastes are {taste_words(taste)}"
        if taste_confidence == "low":
            taste_part = f"your tastes look {taste_words(taste)} (a rough guess: few films)"
    if agreement is None or confidence == "none":
        if taste_part is None:
            return "Not enough films to compare yet: rate more on Letterboxd and upload again."
        return f"Too few films rated by both of you to judge agreement, but {taste_part}."
    # The same words as the agreement field, so the two never tell different stories.
    words = agreement_words(agreement)
    rating = f"{words[0].upper()}{words[1:]} on the films you both rated"
    hedge = " (early days: few shared films)" if confidence == "low" else ""
    return f"{rating}{hedge}" + ("" if taste_part is None else f", and {taste_part}") + "."

"""What a person can ask of a list: genres in or out, a decade range, known or less-known films
(a popularity tilt, and a band of how many ratings a film has).

The catalogue facts are laid out once per model as arrays over the model's columns (a genre
bit mask, the year, the training popularity), so a filter is a few vectorised comparisons over
every film, with no per-film Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from recommender.errors import BoxdrecError
from recommender.model_store import NMFModel
from recommender.movielens import Catalogue

NO_GENRE = "(no genres listed)"
# Obscurity 1.0 divides a film's score by its popularity to this power: strong enough that a
# cult film with a tenth of the ratings beats a blockbuster scored 1.7 times higher, weak
# enough that films nobody rated never flood the list (their score is near 0 anyway).
MAX_POPULARITY_EXPONENT = 0.6


@dataclass(frozen=True, slots=True)
class ListFilters:
    """A person's constraints on a list. Empty tuples and ``None`` mean "no constraint"."""

    genres: tuple[str, ...] = ()  # a film must have at least one of these
    exclude_genres: tuple[str, ...] = ()  # and none of these
    year_from: int | None = None
    year_to: int | None = None
    obscurity: float = 0.0  # 0: as the model ranks; 1: strongly favour less-known films
    # A band of training popularity (ratings in the model's data), both ends included: the
    # discover levels keep less-known and obscure films apart (bot/list_options.py).
    min_ratings: int | None = None
    max_ratings: int | None = None

    @property
    def active(self) -> bool:
        return bool(
            self.genres
            or self.exclude_genres
            or self.year_from is not None
            or self.year_to is not None
            or self.obscurity
            or self.min_ratings is not None
            or self.max_ratings is not None
        )

    def describe(self) -> str:
        """One line for the reply, e.g. "Horror or Thriller · not Comedy · 1970–1989"."""
        parts = []
        if self.genres:
            parts.append(" or ".join(self.genres))
        if self.exclude_genres:
            parts.append("not " + ", ".join(self.exclude_genres))
        if self.year_from is not None or self.year_to is not None:
            low = "" if self.year_from is None else str(self.year_from)
            high = "" if self.year_to is None else str(self.year_to)
            parts.append(
                f"{low}–{high}" if low and high else (f"{low} on" if low else f"to {high}")
            )
        if self.max_ratings is not None:
            ratings = "rating" if self.max_ratings == 1 else "ratings"
            parts.append(
                f"films hardly anyone has rated ({self.max_ratings} MovieLens {ratings} or fewer)"
            )
        elif self.obscurity >= 1.0:
            parts.append("films hardly anyone has rated first")
        elif self.obscurity or self.min_ratings is not None:
            parts.append(
                "less-known films first"
                if self.obscurity >= 0.5
                else "a little off the beaten track"
            )
        return " · ".join(parts)


class FilmFacts:
    """Genres, year and popularity of every model column, for filtering and ranking."""

    def __init__(self, catalogue: Catalogue, model: NMFModel) -> None:
        ids = model.item_ids
        movies = catalogue.movies.reindex(ids)
        genre_lists = [
            [g for g in str(text).split("|") if g and g != NO_GENRE]
            if isinstance(text, str)
            else []
            for text in movies["genres"].tolist()
        ]
        self.genres: tuple[str, ...] = tuple(sorted({g for gs in genre_lists for g in gs}))
        bit = {g: np.uint64(1) << np.uint64(i) for i, g in enumerate(self.genres)}
        self.genre_bits = np.array(
            [sum((int(bit[g]) for g in gs), 0) for gs in genre_lists], dtype=np.uint64
        )
        self.year = movies["year"].to_numpy(dtype="float64", na_value=np.nan)
        counts = np.asarray(model.item_counts, dtype=np.float64)
        self.popularity = counts
        # Percentile of each film's training popularity among the model's films (0..100).
        order = counts.argsort(kind="stable")
        pct = np.empty(counts.size)
        pct[order] = np.linspace(0.0, 100.0, counts.size) if counts.size > 1 else 100.0
        self.popularity_percentile = pct

    def ratings_at(self, quantile: float) -> int:
        """The training ratings of the film at ``quantile`` of popularity (0..1), rounded down."""
        if self.popularity.size == 0:
            return 0
        return int(np.quantile(self.popularity, quantile))

    def genre_mask(self, names: Iterable[str]) -> np.uint64:
        mask = 0
        lookup = {g.casefold(): i for i, g in enumerate(self.genres)}
        for name in names:
            i = lookup.get(name.strip().casefold())
            if i is None:
                raise BoxdrecError(
                    f"{name!r} is not a genre the catalogue knows. Choose from: "
                    + ", ".join(self.genres)
                    + "."
                )
            mask |= 1 << i
        return np.uint64(mask)

    def allowed(self, filters: ListFilters) -> np.ndarray:
        """Boolean mask over model columns of the films the filters let through."""
        keep = np.ones(self.genre_bits.size, dtype=bool)
        if filters.genres:
            keep &= (self.genre_bits & self.genre_mask(filters.genres)) != 0
        if filters.exclude_genres:
            keep &= (self.genre_bits & self.genre_mask(filters.exclude_genres)) == 0
        if filters.year_from is not None:
            keep &= self.year >= filters.year_from
        if filters.year_to is not None:
            keep &= self.year <= filters.year_to
        if filters.min_ratings is not None:
            keep &= self.popularity >= filters.min_ratings
        if filters.max_ratings is not None:
            keep &= self.popularity <= filters.max_ratings
        return keep

    def adjust(self, scores: np.ndarray, obscurity: float) -> np.ndarray:
        """Scores tilted toward less-known films by ``obscurity`` (0..1); 0 leaves them as is."""
        if obscurity <= 0:
            return scores
        exponent = MAX_POPULARITY_EXPONENT * min(obscurity, 1.0)
        tilt = np.power(self.popularity + 1.0, exponent)
        # A blended score (ranking.user_scores) can be negative: dividing it would lift
        # popular films instead, so those are multiplied (less-known films still rise).
        return np.where(scores > 0, scores / tilt, scores * tilt)


def decade_range(decade_from: int | None, decade_to: int | None) -> tuple[int | None, int | None]:
    """Decades as years: (1970, 1980) -> (1970, 1989). Raises when they are the wrong way round."""
    if decade_from is not None and decade_to is not None and decade_from > decade_to:
        raise BoxdrecError(
            f"The decade range starts after it ends ({decade_from}s to {decade_to}s): swap them."
        )
    low = None if decade_from is None else decade_from - decade_from % 10
    high = None if decade_to is None else decade_to - decade_to % 10 + 9
    return low, high

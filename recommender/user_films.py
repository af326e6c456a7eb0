"""A person's films as the recommender needs them, detached from the export they came from.

This is what the bot stores for a user who agreed to it: MovieLens ids, stars and flags, the
user's own names for their films (reasons quote them), every rating they gave (their rating
style) and the names of films no MovieLens film fits (so a near-namesake is never recommended
back). Never an email address or anything else from the export's profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recommender.export import LetterboxdExport
from recommender.matching import MatchReport, MatchStatus

SCHEMA_VERSION = 1

_USED = (MatchStatus.MATCHED, MatchStatus.AMBIGUOUS)


@dataclass(frozen=True, slots=True)
class UserFilm:
    """One film of the user's that matched a MovieLens film."""

    movie_id: int
    name: str  # the user's own (Letterboxd) name for it
    year: int | None
    stars: float | None  # None: logged without a rating, or only on the watchlist
    watched: bool
    watchlist: bool
    liked: bool = False


@dataclass(frozen=True)
class UserFilms:
    """Everything later commands need about one person's films.

    ``films`` holds one entry per matched or ambiguous export row (unique movieIds);
    ``seen_ids`` every movieId the export shows as watched, duplicate rows included, so nothing
    watched is ever recommended; ``ratings`` every rating in the export, matched or not.
    """

    films: tuple[UserFilm, ...]
    seen_ids: frozenset[int]
    ratings: tuple[float, ...]
    unmatched: tuple[tuple[str, int | None], ...] = ()
    summary: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rated(self) -> tuple[UserFilm, ...]:
        return tuple(f for f in self.films if f.stars is not None)

    @property
    def watchlist_ids(self) -> frozenset[int]:
        return frozenset(f.movie_id for f in self.films if f.watchlist)

    @property
    def n_watched(self) -> int:
        """Films the export shows as watched (matched or not)."""
        return self.counts.get("watched", len(self.seen_ids))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; :func:`user_films_from_dict` reads it back."""
        return {
            "schema": SCHEMA_VERSION,
            "films": [
                [f.movie_id, f.name, f.year, f.stars, f.watched, f.watchlist, f.liked]
                for f in self.films
            ],
            "seen_ids": sorted(self.seen_ids),
            "ratings": list(self.ratings),
            "unmatched": [[name, year] for name, year in self.unmatched],
            "summary": self.summary,
            "counts": dict(self.counts),
        }


def user_films_from_dict(data: dict[str, Any]) -> UserFilms:
    """Inverse of :meth:`UserFilms.to_dict` (raises ``ValueError`` on another schema)."""
    if data.get("schema") != SCHEMA_VERSION:
        raise ValueError(f"unknown stored-films schema {data.get('schema')!r}")
    films = tuple(
        UserFilm(
            movie_id=int(m),
            name=str(name),
            year=None if year is None else int(year),
            stars=None if stars is None else float(stars),
            watched=bool(watched),
            watchlist=bool(watchlist),
            liked=bool(liked),
        )
        for m, name, year, stars, watched, watchlist, liked in data["films"]
    )
    return UserFilms(
        films=films,
        seen_ids=frozenset(int(i) for i in data["seen_ids"]),
        ratings=tuple(float(r) for r in data["ratings"]),
        unmatched=tuple((str(n), None if y is None else int(y)) for n, y in data["unmatched"]),
        summary=str(data.get("summary", "")),
        counts={str(k): int(v) for k, v in data.get("counts", {}).items()},
    )


def user_films_from_match(export: LetterboxdExport, report: MatchReport) -> UserFilms:
    """The stored form of one matched export."""
    films: list[UserFilm] = []
    taken: set[int] = set()
    for row in report.films:
        if row.movie_id is None or row.status not in _USED or row.movie_id in taken:
            continue
        taken.add(row.movie_id)
        f = row.film
        films.append(
            UserFilm(
                movie_id=row.movie_id,
                name=f.name,
                year=f.year,
                stars=f.rating,
                watched=f.watched,
                watchlist=f.in_watchlist,
                liked=f.liked,
            )
        )
    counts = dict(report.counts)
    counts["watched"] = sum(1 for f in export.films if f.watched)
    counts["rated"] = len(export.rated)
    return UserFilms(
        films=tuple(films),
        seen_ids=frozenset(
            r.movie_id for r in report.films if r.movie_id is not None and r.film.watched
        ),
        ratings=tuple(float(f.rating) for f in export.rated if f.rating is not None),
        unmatched=tuple((r.film.name, r.film.year) for r in report.not_in_movielens),
        summary=report.summary_line(),
        counts=counts,
    )

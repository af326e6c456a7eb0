"""What a Letterboxd export says about one person: the films, never their profile."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExportFilm:
    """One film as the export names it, merged across ratings, watched, watchlist, diary, likes.

    ``rating`` is in stars (0.5 to 5) or ``None`` when the film was logged without a rating:
    an empty Rating means "watched, unrated", never 0.
    """

    name: str
    year: int | None
    uri: str = ""
    rating: float | None = None
    watched: bool = True
    in_watchlist: bool = False
    liked: bool = False


@dataclass(frozen=True, slots=True)
class LetterboxdExport:
    """The films of one export plus which of its files were read."""

    films: tuple[ExportFilm, ...]
    files_read: tuple[str, ...] = field(default=())

    @property
    def rated(self) -> tuple[ExportFilm, ...]:
        return tuple(f for f in self.films if f.rating is not None)

"""Merging the export's files into films: by URI, else by name and year; diary last."""

from __future__ import annotations

import logging

from recommender.export import ExportFilm, LetterboxdExport
from recommender.letterboxd.parsed import FileKind, _CsvFile, _Row
from recommender.letterboxd.values import _parse_date

# One logger, "recommender.letterboxd", for the whole importer (its name as a single module).
log = logging.getLogger(__package__)

# Diary last: it joins by name and year, so it must see every other film first.
_MERGE_ORDER = (
    FileKind.RATINGS,
    FileKind.WATCHED,
    FileKind.LIKES,
    FileKind.WATCHLIST,
    FileKind.DIARY,
)


def _uri_key(uri: str) -> str:
    """The film's identity in a URI: scheme, ``www.``, host case and trailing slash ignored."""
    if not uri:
        return ""
    if uri.startswith("https://boxd.it/") and not uri.endswith("/"):
        return uri[8:]
    scheme = uri.find("://")
    rest = uri[scheme + 3 :] if scheme >= 0 else uri
    slash = rest.find("/")
    host, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    host = host.casefold().removeprefix("www.")
    return host + path.rstrip("/")


_Date = tuple[int, int, int]
_NO_DATE: _Date = (0, 0, 0)


class _Film:
    """A film being merged. A plain class with class defaults: cheap to create by thousands."""

    rating: float | None = None  # from ratings.csv
    diary_rating: float | None = None
    diary_order: tuple[_Date, _Date, int] = (_NO_DATE, _NO_DATE, -1)
    watched: bool = False
    in_watchlist: bool = False
    liked: bool = False

    def __init__(self, name: str, year: int | None, uri: str, origin: str) -> None:
        self.name = name
        self.year = year
        self.uri = uri
        self.origin = origin  # label of the file whose row created it

    def export(self) -> ExportFilm:
        return ExportFilm(
            self.name,
            self.year,
            self.uri,
            self.rating if self.rating is not None else self.diary_rating,
            self.watched,
            self.in_watchlist,
            self.liked,
        )


class _Merger:
    """Collects films in order of first appearance, keyed by URI, else by name and year."""

    def __init__(self) -> None:
        self.films: list[_Film] = []
        self.by_uri: dict[str, _Film] = {}
        # Films by name and year, in order of creation: each file's films after the previous
        # file's. ``no_uri`` holds those without a URI (a dict as an ordered set).
        self.by_name: dict[tuple[str, int | None], list[_Film]] = {}
        self.no_uri: dict[tuple[str, int | None], dict[_Film, None]] = {}

    def _new(self, row: _Row, uri: str, key: str, origin: str) -> _Film:
        film = _Film(row.name, row.year, uri, origin)
        self.films.append(film)
        if key:
            self.by_uri[key] = film
        self.by_name.setdefault((row.key, row.year), []).append(film)
        if not uri:
            self.no_uri.setdefault((row.key, row.year), {})[film] = None
        return film

    def _find_by_name(self, row: _Row, key: str, label: str) -> _Film | bool | None:
        """The film a row without a known URI names: ``None`` for a new film, ``False`` when
        the row has no URI and its name and year fit several films.

        Rows of the same file are never merged by name: two "Cinderella" (1922) rows with
        different URIs are two films. A row with a URI joins only a film without one.
        """
        named = (self.no_uri if key else self.by_name).get((row.key, row.year), ())
        others: list[_Film] = []
        for f in named:  # at most three steps, however many films share the name
            if f.origin == label or len(others) == 2:  # this file's films come last
                break
            others.append(f)
        if len(others) == 1:
            film = others[0]
            if key and not film.uri:  # e.g. a diary-only film, now found in likes
                film.uri = row.uri
                self.by_uri[key] = film
                del self.no_uri[row.key, row.year][film]
            return film
        if others and not key:
            return False
        return None

    def add(self, file: _CsvFile) -> None:
        """Merge one file's rows: by URI, else by name and year (diary: by name and year)."""
        kind = file.kind
        if kind is FileKind.DIARY:
            self._add_diary(file)
            return
        watched = kind is not FileKind.WATCHLIST
        by_uri, by_name, label = self.by_uri, self.by_name, file.label
        for row in file.rows:
            key = _uri_key(row.uri)
            found: _Film | bool | None = by_uri.get(key) if key else None
            if found is None and (row.key, row.year) in by_name:
                found = self._find_by_name(row, key, label)
                if found is False:
                    log.debug("%s row %d fits several films; skipped", label, row.number)
                    continue
            film = found if isinstance(found, _Film) else self._new(row, row.uri, key, label)
            if film.year is None:
                film.year = row.year
            if watched:
                film.watched = True
            if kind is FileKind.RATINGS:
                if film.rating is None:
                    film.rating = row.rating
            elif kind is FileKind.WATCHLIST:
                film.in_watchlist = True
            elif kind is FileKind.LIKES:
                film.liked = True

    def _add_diary(self, file: _CsvFile) -> None:
        """Diary URIs name the log entry, not the film: join by name and year, when unique."""
        for row in file.rows:
            matches = self.by_name.get((row.key, row.year), [])
            if len(matches) > 1:
                log.debug(
                    "%s row %d names %d films with the same name and year; skipped",
                    file.label,
                    row.number,
                    len(matches),
                )
                continue
            film = matches[0] if matches else self._new(row, "", "", file.label)
            film.watched = True
            if row.rating is not None:
                order = (
                    _parse_date(row.watched_date) or _NO_DATE,
                    _parse_date(row.date) or _NO_DATE,
                    row.number,
                )
                if order > film.diary_order:
                    film.diary_order = order
                    film.diary_rating = row.rating

    def result(self) -> tuple[ExportFilm, ...]:
        return tuple(f.export() for f in self.films)


def _merge(files: list[_CsvFile]) -> LetterboxdExport:
    order = {kind: i for i, kind in enumerate(_MERGE_ORDER)}
    ordered = sorted(files, key=lambda f: order[f.kind])
    merger = _Merger()
    for file in ordered:
        merger.add(file)
    return LetterboxdExport(films=merger.result(), files_read=tuple(f.label for f in ordered))

"""Map each film of a Letterboxd export to a MovieLens movieId, and say why.

:class:`TitleMatcher` indexes every MovieLens title once into three maps from title key
(:mod:`recommender.titles`) to films:

* *exact*: every alias of a title (the whole title, the main title, each bracketed alternate
  without "a.k.a."), each as written and with its article moved back to the front ("Matrix,
  The" -> "The Matrix"), through :func:`~recommender.titles.title_key`;
* *loose*: the same names through :func:`~recommender.titles.loose_key` (numbers as digits,
  "Vol."/"Part One" dropped, no spaces), also without a leading article;
* *partial*: the pieces of titles with a subtitle ("Star Wars", "The Empire Strikes Back").

Matching one film is then a handful of dictionary look-ups, rule by rule, for each name variant
(the whole name, then without its trailing bracket, then the bracket's contents):

1. Exact title, same year. Several such films: the one with the most evidence (ratings, being
   in the model, having genres, ...: see :data:`EVIDENCE`), flagged ``AMBIGUOUS`` with the
   alternatives named. When a *unique* exact-title film one year off far outweighs every
   same-year one (those are bare entries, no genres, and it has >= FAR_RATIO times their
   ratings and at least FAR_MIN_RATINGS), it wins, flagged: MovieLens dates the feature
   "Whiplash" 2014 and also holds a bare 2013 short of that name.
2. Loose title, same year, when only one film fits.
3. Exact title, year off by one, when only one film fits. Never further off: a remake is never
   matched to another year's film.
4. Exact title, a MovieLens film without a year, when only one fits, no yeared film of the
   title is within a year, and its IMDb id is plausible for the export's year.
5. Only after every variant failed 1-4: part of the title (subtitle dropped on either side),
   same year, only one film: used, flagged ``AMBIGUOUS``.

An export row without a year matches only an exact title that is unique in the catalogue
(flagged ``AMBIGUOUS``). :meth:`TitleMatcher.match` then compares rows: rows of different films
(by URI) landing on one movieId are all ``DUPLICATE`` and none is used, except that a row
placed by the "Whiplash" rule steps back to its same-year film when another row claims the
off-by-one one.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from recommender.export import ExportFilm
from recommender.movielens import Catalogue
from recommender.titles import (
    export_name_variants,
    loose_key,
    movielens_aliases,
    significant_words,
    split_parts,
    strip_leading_article,
    title_key,
    title_parts,
    words_overlap,
)

log = logging.getLogger(__name__)

# An off-by-one film beats every exact-year film of the same title when it has at least this
# many ratings and at least FAR_RATIO times as many as the best exact-year film.
FAR_MIN_RATINGS = 10
FAR_RATIO = 5
# A year-less MovieLens film is judged by the years of the 2 * IMDB_WINDOW dated films with the
# nearest IMDb ids; the export's year must fall within their 1st-99th percentile +- the slack.
IMDB_WINDOW = 200
IMDB_YEAR_SLACK = 2
# Among several films that match only part of a name, the best must share this much more of
# its words with the name than the next.
PARTIAL_MARGIN = 0.15
# A film that shares only the series name with the export's name ("Star Wars: The Force
# Awakens" and "Star Wars: Threads of Destiny") must share this much of its words with it.
SERIES_MIN_OVERLAP = 0.6
_MAX_CACHE = 100_000
_EXACT_NOTE = "exact title and year"


class MatchStatus(StrEnum):
    """How one export row relates to MovieLens."""

    MATCHED = "matched"
    """One film fits: used."""
    AMBIGUOUS = "ambiguous"
    """A movieId was chosen by evidence among several candidates (or without a year to confirm
    it): used, but flagged so a person can check it."""
    DUPLICATE = "duplicate"
    """Two or more export rows land on this movieId and we cannot tell which is right: the
    movieId is reported but none of these rows is used."""
    NOT_FOUND = "not_in_movielens"
    """No MovieLens film fits."""


_USED = frozenset({MatchStatus.MATCHED, MatchStatus.AMBIGUOUS})


@dataclass(frozen=True, slots=True)
class MatchedFilm:
    """One export film with its movieId (or ``None``), status and the reason for it.

    ``in_model`` is true when the row is used (matched or ambiguous) and its movieId is one the
    model knows; with no model given every used row counts as in the model.
    """

    film: ExportFilm
    movie_id: int | None
    status: MatchStatus
    in_model: bool
    note: str

    @property
    def used(self) -> bool:
        """True when this row feeds the recommender (matched or ambiguous, in the model)."""
        return self.status in _USED and self.in_model


@dataclass(frozen=True)
class MatchReport:
    """The outcome for every film of an export, in export order."""

    films: tuple[MatchedFilm, ...]

    def _with(self, status: MatchStatus) -> tuple[MatchedFilm, ...]:
        return tuple(f for f in self.films if f.status is status)

    @property
    def matched(self) -> tuple[MatchedFilm, ...]:
        """Rows with one clear movieId."""
        return self._with(MatchStatus.MATCHED)

    @property
    def ambiguous(self) -> tuple[MatchedFilm, ...]:
        """Rows whose movieId was chosen by evidence: used, but flagged."""
        return self._with(MatchStatus.AMBIGUOUS)

    @property
    def duplicate(self) -> tuple[MatchedFilm, ...]:
        """Rows that share a movieId with another export row: not used."""
        return self._with(MatchStatus.DUPLICATE)

    @property
    def not_in_movielens(self) -> tuple[MatchedFilm, ...]:
        """Rows no MovieLens film fits."""
        return self._with(MatchStatus.NOT_FOUND)

    @property
    def not_in_model(self) -> tuple[MatchedFilm, ...]:
        """Matched or ambiguous rows whose movieId the model does not know."""
        return tuple(f for f in self.films if f.status in _USED and not f.in_model)

    @property
    def used(self) -> tuple[MatchedFilm, ...]:
        """Rows that feed the recommender."""
        return tuple(f for f in self.films if f.used)

    @property
    def counts(self) -> dict[str, int]:
        """Row counts: total, matched, ambiguous, duplicate, not_in_movielens, not_in_model."""
        return dict(self._counts)

    @cached_property
    def _counts(self) -> dict[str, int]:
        # One pass, once: every request reads these several times (summaries, logs, storage).
        by_status = Counter(f.status for f in self.films)
        return {
            "total": len(self.films),
            "matched": by_status[MatchStatus.MATCHED],
            "ambiguous": by_status[MatchStatus.AMBIGUOUS],
            "duplicate": by_status[MatchStatus.DUPLICATE],
            "not_in_movielens": by_status[MatchStatus.NOT_FOUND],
            "not_in_model": sum(1 for f in self.films if f.status in _USED and not f.in_model),
        }

    def summary_line(self) -> str:
        """One line for a person, e.g. "matched 812 of 845; 21 not in MovieLens; 12 not in ..."."""
        c = self.counts
        found = c["matched"] + c["ambiguous"]
        head = f"matched {found} of {c['total']}"
        if c["ambiguous"]:
            head += f" ({c['ambiguous']} ambiguous, check them)"
        parts = [head]
        if c["duplicate"]:
            noun = "duplicate" if c["duplicate"] == 1 else "duplicates"
            parts.append(f"{c['duplicate']} {noun} not used")
        parts.append(f"{c['not_in_movielens']} not in MovieLens")
        parts.append(f"{c['not_in_model']} not in the model")
        return "; ".join(parts)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per row."""
        return [
            {
                "name": f.film.name,
                "year": f.film.year,
                "letterboxd_uri": f.film.uri,
                "movie_id": f.movie_id,
                "status": f.status.value,
                "in_model": f.in_model,
                "note": f.note,
            }
            for f in self.films
        ]


class _Outcome(NamedTuple):
    """What matching one (name, year) found, before rows are compared with each other."""

    movie_id: int | None
    status: MatchStatus
    note: str
    partial: bool = False  # placed by part of the name only (subtitle or bracket dropped)
    fallback: _Outcome | None = None  # the exact-year film passed over by the "Whiplash" rule

    def with_note(self, note: str, status: MatchStatus | None = None) -> _Outcome:
        return self._replace(note=note, status=status or self.status)


# What decides between films of the same title and year, strongest first: the number of
# ratings, being in the model, having genres, having IMDb/TMDb links, the number of genres, the
# older IMDb id; the lower movieId only when all of these tie (in practice: never).
EVIDENCE = (
    "ratings",
    "being in the model",
    "having genres",
    "having IMDb/TMDb links",
    "more genres",
    "the older IMDb id",
    "the lower movieId",
)


class TitleMatcher:
    """Matches Letterboxd (name, year) pairs to MovieLens movieIds through an in-memory index.

    Build it once per catalogue (one to two seconds for the 87,585 films of ml-32m); each
    :meth:`match` is then dictionary look-ups only.
    """

    def __init__(self, catalogue: Catalogue, model_ids: Collection[int] | None = None) -> None:
        movies = catalogue.movies
        self._model: frozenset[int] | None = (
            None if model_ids is None else frozenset(int(i) for i in model_ids)
        )
        ids = movies.index.to_numpy(dtype=np.int64)
        self._ids: list[int] = ids.tolist()
        year_arr = movies["year"].to_numpy(dtype="float64", na_value=np.nan)
        self._years: list[int | None] = [None if math.isnan(y) else int(y) for y in year_arr]
        self._pop: list[int] = _column(movies, "popularity", 0).to_numpy(dtype=np.int64).tolist()
        genres = _column(movies, "genres", "(no genres listed)").astype(str).tolist()
        self._has_genres: list[bool] = [g != "(no genres listed)" for g in genres]
        self._n_genres: list[int] = [
            g.count("|") + 1 if has else 0 for g, has in zip(genres, self._has_genres, strict=True)
        ]
        imdb = _column(movies, "imdbId", None).to_numpy(dtype="float64", na_value=np.nan)
        tmdb = _column(movies, "tmdbId", None).to_numpy(dtype="float64", na_value=np.nan)
        self._imdb: list[int | None] = [None if math.isnan(x) else int(x) for x in imdb]
        self._has_link: list[bool] = (~(np.isnan(imdb) & np.isnan(tmdb))).tolist()
        self._titles: list[str] = movies["title"].astype(str).tolist()
        self._pos_of: dict[int, int] = {mid: pos for pos, mid in enumerate(self._ids)}
        self._in_model: list[bool] = (
            [True] * len(ids) if self._model is None else [i in self._model for i in self._ids]
        )
        dated = ~np.isnan(year_arr) & ~np.isnan(imdb)
        order = np.argsort(imdb[dated], kind="stable")
        self._dated_imdb = imdb[dated][order]
        self._dated_years = year_arr[dated][order]
        self._exact = self._loose = self._partial = _KeyIndex([], [])
        self._build_index()
        self._cache: dict[tuple[str, int | None], _Outcome] = {}
        log.info(
            "title index: %d films, %d exact keys, %d loose keys",
            len(self._ids), len(self._exact), len(self._loose),
        )  # fmt: skip

    # ------------------------------------------------------------------ index

    def _build_index(self) -> None:
        """Fill the exact, loose and partial key indexes.

        The (key, film) pairs are collected in flat lists and grouped into one sorted array of
        film positions per index plus a dict from key to slice (see :class:`_KeyIndex`), so the
        index holds no per-key Python lists: quick to build, no garbage-collector churn.
        """
        exact_keys: list[str] = []
        exact_pos: list[int] = []
        loose_keys: list[str] = []
        loose_pos: list[int] = []
        part_keys: list[str] = []
        part_pos: list[int] = []
        add_exact, add_exact_pos = exact_keys.append, exact_pos.append
        add_loose, add_loose_pos = loose_keys.append, loose_pos.append
        for pos, title in enumerate(self._titles):
            for alias in movielens_aliases(title):
                k = title_key(alias)
                add_exact(k)
                add_exact_pos(pos)
                add_loose(loose_key(k))
                add_loose_pos(pos)
                bare = strip_leading_article(alias)
                if bare != alias:
                    add_loose(loose_key(title_key(bare)))
                    add_loose_pos(pos)
                if ":" in alias or "-" in alias or "–" in alias or "—" in alias:
                    for part in title_parts(alias):
                        part_keys.extend(_loose_forms(part, title_key(part)))
                        part_pos.extend((pos, pos))
        self._exact = _KeyIndex(exact_keys, exact_pos)
        self._loose = _KeyIndex(loose_keys, loose_pos)
        self._partial = _KeyIndex(part_keys, part_pos)

    def _lookup_loose(self, name: str, key: str, exact: list[int]) -> list[int]:
        """Loose-title candidate positions for one name variant, minus the exact ones."""
        seen = set(exact)
        loose: list[int] = []
        for form in dict.fromkeys(_loose_forms(name, key)):
            for pos in self._loose.get(form):
                if pos not in seen:
                    seen.add(pos)
                    loose.append(pos)
        return loose

    def _lookup_partial(self, name: str, key: str) -> dict[int, bool]:
        """Films sharing part of the name, each with whether the only link is a series name.

        The name may be a piece of their title ("Star Wars" in "Star Wars: Episode IV - A New
        Hope"), their title a piece of the name ("Zathura" in "Zathura: A Space Adventure"), or
        both may share a piece. A film found only because a prefix of the name ("Star Wars" in
        "Star Wars: The Force Awakens") is a piece of its title is marked ``True``: the weakest
        link of all.
        """
        found: dict[int, bool] = {}

        def add(positions: list[int], weak: bool) -> None:
            for pos in positions:
                found[pos] = found.get(pos, True) and weak

        for form in _loose_forms(name, key):
            add(self._partial.get(form), False)  # the name is a piece of their title
        prefixes, others = split_parts(name)
        for part, series in [(p, True) for p in prefixes] + [(p, False) for p in others]:
            key = title_key(part)
            add(self._exact.get(key), False)  # their title is a piece of the name
            for form in _loose_forms(part, key):
                add(self._loose.get(form), False)
                add(self._partial.get(form), series)  # both share a piece
        return found

    # --------------------------------------------------------------- evidence

    def _evidence(self, pos: int) -> tuple[float, ...]:
        imdb = self._imdb[pos]
        return (
            self._pop[pos],
            self._in_model[pos],
            self._has_genres[pos],
            self._has_link[pos],
            self._n_genres[pos],
            -imdb if imdb is not None else -math.inf,
            -self._ids[pos],
        )

    def _describe(self, pos: int, *, with_year: bool = False) -> str:
        year = self._years[pos]
        when = f" {'?' if year is None else year}" if with_year else ""
        return f"{self._ids[pos]}{when} ({self._pop[pos]} ratings)"

    def _choose(self, positions: list[int], year: int) -> _Outcome:
        """One film among exact-title, same-year candidates, by evidence."""
        if len(positions) == 1:
            return _Outcome(self._ids[positions[0]], MatchStatus.MATCHED, _EXACT_NOTE)
        ranked = sorted(positions, key=self._evidence, reverse=True)
        best, runner = ranked[0], ranked[1]
        e_best, e_run = self._evidence(best), self._evidence(runner)
        decided = next(i for i, (a, b) in enumerate(zip(e_best, e_run, strict=True)) if a != b)
        others = ", ".join(self._describe(p) for p in ranked[1:])
        note = (
            f"{len(ranked)} MovieLens films named '{self._titles[best]}' ({year}); "
            f"chose {self._describe(best)} over {others}"
        )
        if decided > 0:
            note += f"; tied on ratings, decided by {EVIDENCE[decided]}"
        return _Outcome(self._ids[best], MatchStatus.AMBIGUOUS, note)

    def _outweighs(self, pos: int, same_year: list[int]) -> bool:
        """Has the off-by-one film at ``pos`` far more evidence than every same-year film?

        Far more means: at least FAR_MIN_RATINGS ratings, FAR_RATIO times the best same-year
        film's, and every same-year film is a bare entry (no genres listed).
        """
        if any(self._has_genres[p] for p in same_year):
            return False
        best_other = max(self._pop[p] for p in same_year)
        return self._pop[pos] >= max(FAR_MIN_RATINGS, FAR_RATIO * best_other)

    def _plausible_without_year(self, pos: int, year: int) -> bool:
        """Could this year-less MovieLens film come from ``year``, judging by its IMDb id?

        IMDb ids are handed out in time order, so the films with the nearest ids are mostly
        from the same few years: ``year`` must lie within the 1st to 99th percentile of their
        years, widened by IMDB_YEAR_SLACK. Without an IMDb id there is no evidence either way.
        """
        imdb = self._imdb[pos]
        if imdb is None or self._dated_imdb.size == 0:
            return True
        at = int(np.searchsorted(self._dated_imdb, imdb))
        window = self._dated_years[max(0, at - IMDB_WINDOW) : at + IMDB_WINDOW]
        low, high = np.percentile(window, [1, 99])
        return bool(low - IMDB_YEAR_SLACK <= year <= high + IMDB_YEAR_SLACK)

    # --------------------------------------------------------------- matching

    def _decide(self, name: str, key: str, exact: list[int], year: int | None) -> _Outcome | None:
        """Apply the rules to one name variant; ``None`` when nothing fits.

        ``exact`` holds the exact-title candidates; loose ones are looked up only when needed.
        """
        years = self._years
        if year is None:
            if len(exact) != 1:
                return None
            pos = exact[0]
            return _Outcome(
                self._ids[pos],
                MatchStatus.AMBIGUOUS,
                f"the export gives no year; the only MovieLens film with this title is "
                f"{self._describe(pos, with_year=True)}",
            )

        if len(exact) == 1 and years[exact[0]] == year:  # the common case, made quick
            return _Outcome(self._ids[exact[0]], MatchStatus.MATCHED, _EXACT_NOTE)
        same = [p for p in exact if years[p] == year]
        near = [p for p in exact if (y := years[p]) is not None and abs(y - year) == 1]
        if same:
            chosen = self._choose(same, year)
            if len(near) == 1 and self._outweighs(near[0], same):
                pos = near[0]
                alts = ", ".join(self._describe(p) for p in same)
                return _Outcome(
                    self._ids[pos],
                    MatchStatus.AMBIGUOUS,
                    f"MovieLens dates '{self._titles[pos]}' {years[pos]}; chose "
                    f"{self._describe(pos)} over the {year} entry {alts}, which has far fewer "
                    f"ratings and no genres",
                    fallback=chosen,
                )
            return chosen
        loose = self._lookup_loose(name, key, exact)
        same_loose = [p for p in loose if years[p] == year]
        if len(same_loose) == 1:
            return _Outcome(
                self._ids[same_loose[0]],
                MatchStatus.MATCHED,
                "same year; title equal once articles, numbers or spacing are ignored",
            )
        if len(near) == 1:
            pos = near[0]
            return _Outcome(
                self._ids[pos],
                MatchStatus.MATCHED,
                f"exact title; MovieLens dates it {years[pos]}, the export {year}",
            )
        if near or same_loose:
            return None
        undated = [p for p in exact if years[p] is None and self._plausible_without_year(p, year)]
        if len(undated) == 1:
            pos = undated[0]
            return _Outcome(
                self._ids[pos],
                MatchStatus.MATCHED,
                f"exact title; MovieLens gives no year for {self._ids[pos]} and no other "
                f"film of this title is within a year of {year}",
            )
        return None

    def _miss_note(self, year: int | None, seen: list[int]) -> str:
        if not seen:
            return "no MovieLens title matches"
        shown = sorted(set(seen), key=self._evidence, reverse=True)
        listed = ", ".join(
            f"{self._ids[p]} '{self._titles[p]}' ({self._years[p] or '?'})" for p in shown[:4]
        )
        more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
        if year is None:
            return (
                f"the export gives no year, so only an exact title that no other MovieLens film "
                f"has would do; MovieLens has {listed}{more}"
            )
        return (
            f"no MovieLens film of this title from {year} (±1), nor only one with a looser "
            f"title; MovieLens has {listed}{more}"
        )

    def _decide_partial(self, name: str, candidates: dict[int, bool], year: int) -> _Outcome | None:
        """The weakest rule: part of the name matches part of a MovieLens title, same year.

        One such film: used, flagged. Several: the one sharing the largest share of its words
        with the name, if it leads the next by PARTIAL_MARGIN; else none. A film linked only by
        the series name must share at least SERIES_MIN_OVERLAP of its words with the name.
        """
        dated = [p for p in candidates if self._years[p] == year]
        if not dated:
            return None
        words = significant_words(name)  # once: a name may have hundreds of candidates
        overlap = {
            p: max(
                words_overlap(words, significant_words(alias))
                for alias in movielens_aliases(self._titles[p])
            )
            for p in dated
        }
        same = [p for p in overlap if not candidates[p] or overlap[p] >= SERIES_MIN_OVERLAP]
        if not same:
            return None
        if len(same) == 1:
            pos = same[0]
            return _Outcome(
                self._ids[pos],
                MatchStatus.AMBIGUOUS,
                f"only part of the title matches: MovieLens '{self._titles[pos]}' ({year}), the "
                f"only such film that year",
                partial=True,
            )
        ranked = sorted(same, key=lambda p: (overlap[p], self._evidence(p)), reverse=True)
        best, runner = ranked[0], ranked[1]
        if overlap[best] - overlap[runner] < PARTIAL_MARGIN:
            return None
        return _Outcome(
            self._ids[best],
            MatchStatus.AMBIGUOUS,
            f"only part of the title matches: MovieLens '{self._titles[best]}' ({year}) shares "
            f"{overlap[best]:.0%} of its words, '{self._titles[runner]}' "
            f"({self._ids[runner]}) only {overlap[runner]:.0%}",
            partial=True,
        )

    def _outcome(self, name: str, year: int | None) -> _Outcome:
        cache_key = (name, year)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        whole = (name or "").strip()
        variants = [v for v in export_name_variants(whole) if v] if whole else []
        seen: list[int] = []
        outcome: _Outcome | None = None
        used = whole
        keys: dict[str, str] = {}
        for variant in variants:
            key = keys[variant] = title_key(variant)
            exact = self._exact.get(key)
            outcome = self._decide(variant, key, exact, year)
            if outcome is not None:
                used = variant
                break
            seen.extend(exact or (self._lookup_loose(variant, key, exact) if year is None else []))
        if outcome is None and year is not None:
            for variant in variants:
                candidates = self._lookup_partial(variant, keys[variant])
                outcome = self._decide_partial(variant, candidates, year)
                if outcome is not None:
                    used = variant
                    break
        if outcome is None:
            outcome = _Outcome(None, MatchStatus.NOT_FOUND, self._miss_note(year, seen))
        elif used != whole:
            outcome = outcome._replace(note=f"{outcome.note} (as '{used}')", partial=True)
        if len(self._cache) >= _MAX_CACHE:
            self._cache.clear()
        self._cache[cache_key] = outcome
        return outcome

    def match_one(self, name: str, year: int | None) -> tuple[int | None, MatchStatus, str]:
        """The movieId, status and note for one (name, year) on its own.

        Never ``DUPLICATE``: that needs the other rows of the export (see :meth:`match`).
        """
        outcome = self._outcome(name, year)
        return outcome.movie_id, outcome.status, outcome.note

    def match(self, films: Sequence[ExportFilm]) -> MatchReport:
        """Match every film, then settle rows of different films that land on one movieId.

        A row matched to an off-by-one film over an exact-year one (the "Whiplash" rule) steps
        back to the exact-year film when another row claims the off-by-one film. Rows that still
        share a movieId are ``DUPLICATE`` and not used: we cannot tell which is right. Only when
        exactly one of them matched by its whole name, and the others by part of theirs (a
        subtitle or bracket dropped, "Ma Rainey's Black Bottom: A Legacy Brought to Screen"),
        does that one keep the film; the others are still ``DUPLICATE``.
        """
        outcomes = [self._outcome(f.name, f.year) for f in films]
        for i, alternative in self._step_back(films, outcomes).items():
            outcomes[i] = alternative
        duplicate_note: dict[int, str] = {}
        for movie_id, rows in _collisions(films, outcomes).items():
            named = _some_rows(films, rows)
            head = f"{len(rows)} export rows land on {movie_id} '{self._title_of(movie_id)}'"
            whole_names = {_identity(films[i]) for i in rows if not outcomes[i].partial}
            if len(whole_names) == 1:
                winners = {i for i in rows if _identity(films[i]) in whole_names}
                winner = min(winners)
                for i in rows:
                    if i in winners:
                        outcomes[i] = outcomes[i].with_note(
                            f"{outcomes[i].note}; {head} ({named}): only this one by its whole name"
                        )
                    else:
                        duplicate_note[i] = (
                            f"{head} ({named}): '{films[winner].name}' names it in full, this "
                            f"row is not used; {outcomes[i].note}"
                        )
                continue
            for i in rows:
                duplicate_note[i] = f"{head} ({named}): none used; {outcomes[i].note}"
        out: list[MatchedFilm] = []
        for i, (film, outcome) in enumerate(zip(films, outcomes, strict=True)):
            status, note = outcome.status, outcome.note
            if i in duplicate_note:
                status, note = MatchStatus.DUPLICATE, duplicate_note[i]
            in_model = (
                status in _USED
                and outcome.movie_id is not None
                and (self._model is None or outcome.movie_id in self._model)
            )
            out.append(MatchedFilm(film, outcome.movie_id, status, in_model, note))
        report = MatchReport(tuple(out))
        log.info("matching: %s", report.summary_line())
        return report

    def _step_back(
        self, films: Sequence[ExportFilm], outcomes: list[_Outcome]
    ) -> dict[int, _Outcome]:
        """Rows that should take their exact-year alternative because of a collision."""
        changes: dict[int, _Outcome] = {}
        # Built once, not per collision: thousands of duplicate rows made that quadratic.
        claimed = {o.movie_id for o in outcomes}
        for movie_id, rows in _collisions(films, outcomes).items():
            for i in rows:
                alternative = outcomes[i].fallback
                if alternative is None or alternative.movie_id in claimed:
                    continue
                other = films[rows[1] if rows[0] == i else rows[0]]
                changes[i] = alternative.with_note(
                    f"{alternative.note}; kept over {movie_id} '{self._title_of(movie_id)}', "
                    f"which '{other.name}' ({other.year or '?'}) also names",
                    status=MatchStatus.AMBIGUOUS,
                )
                claimed.add(alternative.movie_id)
        return changes

    def _title_of(self, movie_id: int) -> str:
        return self._titles[self._pos_of[movie_id]]


# Rows quoted in a duplicate's note: an export may repeat one film thousands of times.
_NAMED_ROWS = 3


def _some_rows(films: Sequence[ExportFilm], rows: Sequence[int]) -> str:
    """The first few of ``rows`` as "'Name' (year)", and how many more: a note per row that
    listed every row of its group grew with the square of the group."""
    shown = "; ".join(f"'{films[i].name}' ({films[i].year or '?'})" for i in rows[:_NAMED_ROWS])
    more = len(rows) - _NAMED_ROWS
    return f"{shown}; and {more:,} more" if more > 0 else shown


class _KeyIndex:
    """A read-only multimap from title key to film positions, stored as one sorted array."""

    def __init__(self, keys: list[str], positions: list[int]) -> None:
        codes, uniques = pd.factorize(np.asarray(keys, dtype=object))
        pos = np.asarray(positions, dtype=np.int64)
        span = int(pos.max()) + 1 if pos.size else 1
        # One int64 per (key, film) pair: sorting and de-duplicating them groups by key.
        pairs = np.unique(codes.astype(np.int64) * span + pos)
        self._positions: list[int] = (pairs % span).tolist()
        self._bounds: list[int] = np.searchsorted(
            pairs // span, np.arange(len(uniques) + 1)
        ).tolist()
        self._slot: dict[str, int] = dict(zip(uniques.tolist(), range(len(uniques)), strict=True))
        self._slot.pop("", None)

    def __len__(self) -> int:
        return len(self._slot)

    def get(self, key: str) -> list[int]:
        """Film positions under ``key`` (empty when none), in catalogue order."""
        slot = self._slot.get(key)
        if slot is None:
            return []
        return self._positions[self._bounds[slot] : self._bounds[slot + 1]]


def _column(movies: pd.DataFrame, name: str, default: object) -> pd.Series:
    """A catalogue column, or ``default`` everywhere when the frame lacks it."""
    if name in movies.columns:
        return movies[name].fillna(default) if default is not None else movies[name]
    dtype = "Int64" if default is None else None
    return pd.Series([default] * len(movies), index=movies.index, dtype=dtype)


@functools.lru_cache(maxsize=256)  # a variant's forms are needed by two rules in a row
def _loose_forms(name: str, key: str) -> tuple[str, str]:
    """Loose keys of a name: as written and without its leading article (may be equal)."""
    bare = strip_leading_article(name)
    loose = loose_key(key)
    return (loose, loose if bare == name else loose_key(title_key(bare)))


def _collisions(films: Sequence[ExportFilm], outcomes: list[_Outcome]) -> dict[int, list[int]]:
    """movieIds that used rows of two or more different films land on, with those rows."""
    rows_by_id: dict[int, list[int]] = {}
    for i, outcome in enumerate(outcomes):
        if outcome.movie_id is not None and outcome.status in _USED:
            rows_by_id.setdefault(outcome.movie_id, []).append(i)
    return {
        movie_id: rows
        for movie_id, rows in rows_by_id.items()
        if len(rows) > 1 and len({_identity(films[i]) for i in rows}) > 1
    }


def _identity(film: ExportFilm) -> tuple[str, ...]:
    """Which Letterboxd film a row is: its URI, or its name and year when the URI is empty."""
    uri = film.uri.strip().rstrip("/").casefold()
    if uri:
        return ("uri", uri)
    return ("name", title_key(film.name), str(film.year))

"""The one recommender API the CLI, the bot and the evaluation call.

Load once (catalogue, model, title index, fold-in Gram matrix), then each request is pure
in-memory work: parse the export, match titles, fold in, rank, explain.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from recommender import item_item
from recommender.config import ImportLimits
from recommender.errors import BoxdrecError
from recommender.evidence import LOW_STARS, user_values
from recommender.export import LetterboxdExport
from recommender.film_bias import film_bias, stored_bias
from recommender.filters import FilmFacts, ListFilters
from recommender.foldin import FoldIn
from recommender.item_item import ItemItem, stored_item_item
from recommender.letterboxd import read_export, read_export_file
from recommender.matching import MatchReport, TitleMatcher
from recommender.model_store import NMFModel
from recommender.movielens import Catalogue, read_ratings
from recommender.ranking import Ranked, UserVector, candidates, explain
from recommender.scaling import fit_user_scale
from recommender.taste_data import TasteData
from recommender.titles import article_to_front, split_brackets, title_key
from recommender.user_films import UserFilm, UserFilms, user_films_from_match

log = logging.getLogger(__name__)

# Below this many rated films the model knows, watched-but-unrated films are folded in too, at
# the user's neutral value, so a person who mostly logs without rating still gets picks.
COLD_START_RATED = 10
# Films ranked by the model before ordering by predicted stars and dropping probable misses.
# A fixed pool keeps the top of the list the same whatever n is asked for (up to POOL_SIZE / 2).
POOL_SIZE = 300
POOL_FACTOR = 2
# The list keeps the model's order in blocks of this many films, each block shown by predicted
# stars: sorting the whole pool by stars cost two thirds of the hits (recall@20 0.32 -> 0.13,
# docs/evaluation.md), sorting within blocks of ten costs none at k = 20.
SHOWN_BLOCK = 10
# An unmatched export film hides a same-year candidate when most of the shorter title's words
# are in the other ("Life of Brian" / "Monty Python's Life of Brian"); one-word titles never do.
GUARD_OVERLAP = 0.8
MIN_GUARD_WORDS = 2


# A main title ending in one of these words continues inside its bracket ("Birdman: Or (The
# Unexpected Virtue of Ignorance)"): the bracket is part of the title, not an alternate name.
_CONTINUES = frozenset({"or", "and", "of", "the", "a", "an", ":", "-", "–"})


def display_title(movielens_title: str) -> str:
    """MovieLens "City of Lost Children, The (Cité des…)" -> "The City of Lost Children"."""
    main, alternates = split_brackets(movielens_title)
    main = article_to_front(main)
    words = main.split()
    last = words[-1].casefold() if words else ""
    if alternates and (last in _CONTINUES or last.endswith(":")):
        return article_to_front(movielens_title.strip())
    return main


def stars_text(stars: float) -> str:
    """4.5 -> "★★★★½" (Letterboxd's own notation)."""
    halves = round(stars * 2)
    return "★" * (halves // 2) + ("½" if halves % 2 else "")


def letterboxd_url(tmdb_id: int | None, imdb_id: int | None) -> str | None:
    """The film's Letterboxd page, found by its TMDB id (or IMDb id)."""
    if tmdb_id is not None:
        return f"https://letterboxd.com/tmdb/{tmdb_id}/"
    if imdb_id is not None:
        return f"https://letterboxd.com/imdb/tt{imdb_id:07d}/"
    return None


@dataclass(frozen=True, slots=True)
class Driver:
    """One of the user's own films that pushes a recommendation up."""

    movie_id: int
    title: str
    year: int | None
    stars: float | None  # None: watched, not rated


@dataclass(frozen=True, slots=True)
class Recommendation:
    rank: int
    movie_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    predicted_stars: float | None
    score: float
    reason: str
    drivers: tuple[Driver, ...]
    tmdb_id: int | None
    imdb_id: int | None
    on_watchlist: bool

    @property
    def letterboxd_url(self) -> str | None:
        return letterboxd_url(self.tmdb_id, self.imdb_id)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["letterboxd_url"] = self.letterboxd_url
        return out


@dataclass(frozen=True)
class RecommendationResult:
    """What one request returns: the picks, the match report and how the user was read."""

    items: tuple[Recommendation, ...]
    report: MatchReport | None  # None when the films came from storage, not an export
    summary: str  # the match summary line of the export the films came from
    n_rated_used: int
    n_watched_used: int
    user_mean: float | None
    model_name: str
    seconds: float
    filters: ListFilters = field(default_factory=ListFilters)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "summary": self.summary,
            "counts": self.report.counts if self.report else None,
            "rated_films_used": self.n_rated_used,
            "unrated_films_used": self.n_watched_used,
            "user_mean_stars": self.user_mean,
            "recommendations": [r.to_dict() for r in self.items],
        }


class RecommenderService:
    """Holds the loaded catalogue and model; thread-safe for concurrent requests (read-only)."""

    def __init__(
        self,
        catalogue: Catalogue,
        model: NMFModel,
        limits: ImportLimits | None = None,
        *,
        data_root: Path | None = None,
    ) -> None:
        start = time.perf_counter()
        self.catalogue = catalogue
        self.model = model
        self.limits = limits or ImportLimits.from_env()
        # Crowd statistics and dimension names for taste profiles: loaded on first use.
        self.taste_data = TasteData(model, catalogue, data_root)
        self.matcher = TitleMatcher(catalogue, model_ids=model.item_ids.tolist())
        self.foldin = FoldIn(model.components, _film_bias(model, data_root), _item_item(model))
        self.facts = FilmFacts(catalogue, model)
        movies = catalogue.movies
        self._titles = {
            int(i): display_title(t) for i, t in zip(movies.index, movies["title"], strict=True)
        }
        log.info(
            "service ready in %.2f s: %d catalogue films, model %s (%d films, k=%d)",
            time.perf_counter() - start,
            len(catalogue),
            model.name,
            len(model.item_ids),
            model.n_components,
        )

    # -- the steps, public so the bot and the evaluation can call them one by one ------------

    def read_export(self, data: bytes, filename: str) -> LetterboxdExport:
        return read_export(data, filename, self.limits)

    def read_export_file(self, path: str | Path) -> LetterboxdExport:
        return read_export_file(path, self.limits)

    def match(self, export: LetterboxdExport) -> MatchReport:
        return self.matcher.match(export.films)

    def title(self, movie_id: int) -> str:
        return self._titles.get(movie_id, str(movie_id))

    def user_films(self, export: LetterboxdExport) -> tuple[UserFilms, MatchReport]:
        """Match an export and keep what later requests need (what the bot stores)."""
        report = self.match(export)
        return user_films_from_match(export, report), report

    def recommend(
        self,
        export: LetterboxdExport,
        n: int = 20,
        exclude_watchlist: bool = False,
        filters: ListFilters | None = None,
        hidden: Collection[int] = (),
    ) -> RecommendationResult:
        """The top ``n`` films the user has not watched, with stars and reasons."""
        start = time.perf_counter()
        films, report = self.user_films(export)
        result = self.recommend_films(films, n, exclude_watchlist, filters, hidden)
        return replace(result, report=report, seconds=time.perf_counter() - start)

    def recommend_films(
        self,
        films: UserFilms,
        n: int = 20,
        exclude_watchlist: bool = False,
        filters: ListFilters | None = None,
        hidden: Collection[int] = (),
    ) -> RecommendationResult:
        """:meth:`recommend` for stored films; ``hidden`` films ("seen it", "not interested")
        are left out as if watched."""
        start = time.perf_counter()
        filters = filters or ListFilters()
        user, used_films = self.user_vector(films)
        exclude = self._exclusions(films, exclude_watchlist, hidden)
        allowed = self.facts.allowed(filters)
        if not allowed.any():
            raise BoxdrecError(
                f"No film in the catalogue fits those filters ({filters.describe()}): widen them."
            )
        exclude |= ~allowed
        # The model ranks a pool by relevance; the user sees it ordered by predicted stars.
        adjust = partial(self.facts.adjust, obscurity=filters.obscurity)
        found = candidates(
            self.foldin, user, exclude, max(POOL_SIZE, POOL_FACTOR * n), adjust=adjust
        )
        # The first n films shown come from the first blocks of the pool, each block ordered on
        # its own: only those films need the seen-guard, stars and reasons (each is computed
        # per film, so the list is the one explaining the whole pool would give, 10x cheaper).
        shown_rows = self._shown_rows(found.positions, UnmatchedTitles(films), n)
        ranked = shown_order(explain(self.foldin, user, found, shown_rows))[:n]
        watchlist = films.watchlist_ids
        items = tuple(
            self._dress(i + 1, r, user, used_films, watchlist) for i, r in enumerate(ranked)
        )
        rated = int(np.isfinite(user.stars).sum())
        return RecommendationResult(
            items=items,
            report=None,
            summary=films.summary,
            n_rated_used=rated,
            n_watched_used=int(user.positions.size - rated),
            user_mean=user.scale.mean if films.ratings else None,
            model_name=self.model.name,
            seconds=time.perf_counter() - start,
            filters=filters,
        )

    def user_vector(self, films: UserFilms) -> tuple[UserVector, list[UserFilm]]:
        """The user's films in model columns and the fold-in values; raises when there is
        nothing to learn from (with a message that says what to do)."""
        if not films.films:
            total, duplicate = films.counts.get("total", 0), films.counts.get("duplicate", 0)
            if duplicate:
                raise BoxdrecError(
                    f"None of the {total:,} films in your export could be used: {duplicate:,} "
                    "rows land on a MovieLens film another row also names, so there is no "
                    "telling which is meant. Upload your export as Letterboxd made it (each "
                    "film once)."
                )
            raise BoxdrecError(
                f"None of the {total:,} films in your export matched a MovieLens film, so "
                "there is nothing to learn your taste from. Check that you uploaded your own "
                "ratings.csv (or the whole export zip)."
            )
        if not films.seen_ids and not any(f.watched for f in films.films):
            raise BoxdrecError(
                "Your export lists no film you have watched or rated (it looks like a "
                "watchlist), so there is nothing to learn your taste from. Upload ratings.csv "
                "or the whole export zip (Settings → Data → Export your data)."
            )
        user, used = self._user_vector(films)
        if user.positions.size == 0:
            raise BoxdrecError(
                "None of your films is one the model knows (it learned from "
                f"{len(self.model.item_ids):,} MovieLens films); rate a few better-known "
                "films on Letterboxd, export again and retry."
            )
        if not np.any(user.values > 0):
            raise BoxdrecError(
                "Nothing in your export says what you like yet: none of the films the model "
                f"knows is one you rated above {LOW_STARS:g} stars and above your average. Rate "
                "a few films you enjoyed on Letterboxd, export again and retry."
            )
        return user, used

    def seen_guard(self, films: UserFilms) -> Callable[[int], bool]:
        """For a model column: does it look like one of ``films``' unmatched films (so probably
        one they have seen)? The same guard /recommend applies, for other callers."""
        unmatched = UnmatchedTitles(films)
        return lambda position: self._probably_seen(position, unmatched)

    # -- internals ---------------------------------------------------------------------------

    def _shown_rows(self, positions: np.ndarray, unmatched: UnmatchedTitles, n: int) -> np.ndarray:
        """Indices into the pool ``positions`` of the films that fill the blocks the first
        ``n`` shown films come from, skipping those the seen-guard flags."""
        need = -(-n // SHOWN_BLOCK) * SHOWN_BLOCK if n > 0 else 0
        rows: list[int] = []
        for row, position in enumerate(positions.tolist()):
            if len(rows) == need:
                break
            if not self._probably_seen(position, unmatched):
                rows.append(row)
        return np.array(rows, dtype=np.intp)

    def _probably_seen(self, position: int, unmatched: UnmatchedTitles) -> bool:
        """True when an export film that matched nothing looks like this film.

        A miss in matching ("Life of Brian" vs MovieLens "Monty Python's Life of Brian") must
        not come back as a recommendation: same year and one title contained in the other.
        """
        if not unmatched:
            return False
        year = self.facts.year[position]  # an array lookup: this runs for every pooled film
        names = unmatched.get(int(year)) if year == year else None
        if not names:
            return False
        words = set(title_key(self.title(int(self.model.item_ids[position]))).split())
        return any(
            len(words & n) >= GUARD_OVERLAP * min(len(words), len(n)) for n in names if words
        )

    def _user_vector(self, films: UserFilms) -> tuple[UserVector, list[UserFilm]]:
        # The user's scale comes from every rating in the export: it is how they rate, whether
        # or not MovieLens knows the film.
        scale = fit_user_scale(np.array(films.ratings, dtype=np.float64))
        known = self.model.positions(np.array([f.movie_id for f in films.films], dtype=np.int64))
        in_model = [f for f, p in zip(films.films, known.tolist(), strict=True) if p >= 0]
        rated = [f for f in in_model if f.stars is not None]
        chosen = rated
        if len(rated) < COLD_START_RATED:
            chosen = rated + [f for f in in_model if f.stars is None and f.watched]
        positions = self.model.positions(np.array([f.movie_id for f in chosen], dtype=np.int64))
        stars = np.array([np.nan if f.stars is None else f.stars for f in chosen], dtype=np.float64)
        values = user_values(stars, scale)
        return UserVector(positions=positions, stars=stars, values=values, scale=scale), chosen

    def _exclusions(
        self, films: UserFilms, exclude_watchlist: bool, hidden: Collection[int]
    ) -> np.ndarray:
        # Every film the export shows as seen is excluded, whatever its match status: a
        # duplicate or ambiguous row is still a film the user has watched.
        seen = set(films.seen_ids) | set(hidden)
        if exclude_watchlist:
            seen |= films.watchlist_ids
        mask = np.zeros(len(self.model.item_ids), dtype=bool)
        if seen:
            pos = self.model.positions(np.array(sorted(seen), dtype=np.int64))
            mask[pos[pos >= 0]] = True
        return mask

    def _dress(
        self,
        rank_no: int,
        r: Ranked,
        user: UserVector,
        used_films: list[UserFilm],
        watchlist: frozenset[int],
    ) -> Recommendation:
        movie_id = int(self.model.item_ids[r.position])
        movies = self.catalogue.movies
        # Single cells (.at), not .loc's row: building a mixed-type row costs ten times more.
        row = (
            {c: movies.at[movie_id, c] for c in ("genres", "tmdbId", "imdbId")}
            if movie_id in movies.index
            else None
        )
        drivers = tuple(
            # The user's own name for the film, as Letterboxd shows it to them.
            Driver(
                movie_id=used_films[j].movie_id,
                title=used_films[j].name,
                year=used_films[j].year,
                stars=None if not np.isfinite(user.stars[j]) else float(user.stars[j]),
            )
            for j, _ in r.drivers
        )
        return Recommendation(
            rank=rank_no,
            movie_id=movie_id,
            title=self.title(movie_id),
            year=self._year(movie_id),
            genres=tuple(g for g in str(row["genres"]).split("|") if g != "(no genres listed)")
            if row is not None
            else (),
            predicted_stars=None if r.stars is None else round(r.stars, 1),
            score=r.score,
            reason=_reason(drivers, movie_id in watchlist),
            drivers=drivers,
            tmdb_id=_int_or_none(row["tmdbId"]) if row is not None else None,
            imdb_id=_int_or_none(row["imdbId"]) if row is not None else None,
            on_watchlist=movie_id in watchlist,
        )

    def _year(self, movie_id: int) -> int | None:
        movies = self.catalogue.movies
        return _int_or_none(movies.at[movie_id, "year"]) if movie_id in movies.index else None


def shown_order(pool: Sequence[Ranked]) -> list[Ranked]:
    """``pool`` (best first by the model's, or the tilted, score) in the order the list shows
    it: each block of :data:`SHOWN_BLOCK` films by predicted stars as shown (one decimal),
    equal-looking stars in model order. Fixed blocks keep the top independent of n."""
    out: list[Ranked] = []
    for start in range(0, len(pool), SHOWN_BLOCK):
        block = pool[start : start + SHOWN_BLOCK]
        out.extend(sorted(block, key=lambda r: -round(r.stars or 0.0, 1)))  # stable: model order
    return out


def _item_item(model: NMFModel) -> ItemItem | None:
    """The model's item-item half; a model trained before it existed ranks with NMF alone."""
    pairs = stored_item_item(model.extras, model.metadata, len(model.item_ids))
    if pairs is None and item_item.META not in model.metadata:
        log.warning(
            "model %s has no item-item half (trained before it existed): ranking with NMF "
            "alone, which finds fewer of the films people go on to love; retrain it with "
            "'boxdrec train' (docs/evaluation.md)",
            model.name,
        )
    return pairs


def _film_bias(model: NMFModel, data_root: Path | None) -> np.ndarray | None:
    """The model's stored film bias; for a model trained before it was stored, computed once
    from the dataset's ratings.csv when the data folder has it (else stars start at the
    user's mean)."""
    stored = stored_bias(dict(model.extras), len(model.item_ids))
    if stored is not None:
        return stored
    dataset = model.metadata.get("dataset")
    # The name comes from the model's own metadata; still, never leave the data folder.
    if data_root is None or not isinstance(dataset, str) or Path(dataset).name != dataset:
        ratings_csv = None
    else:
        ratings_csv = data_root / dataset / "ratings.csv"
    if ratings_csv is None or not ratings_csv.is_file():
        log.warning(
            "model %s has no film bias and no ratings.csv to compute it from: predicted stars "
            "start at each user's mean; train the model again to store it",
            model.name,
        )
        return None
    log.warning(
        "model %s has no film bias (trained before it was stored): computing it from %s; "
        "train the model again to store it",
        model.name,
        ratings_csv,
    )
    return film_bias(read_ratings(ratings_csv.parent), model.item_ids)


class UnmatchedTitles:
    """The title words of an export's unmatched films that have a year, by year.

    Worked out for a year the first time it is asked about: a request asks about the years of
    the few films it shows, not about every year of the export's misses.
    """

    def __init__(self, films: UserFilms) -> None:
        self._names: dict[int, list[str]] = {}
        for name, year in films.unmatched:
            if year is not None:
                self._names.setdefault(year, []).append(name)
        self._words: dict[int, list[frozenset[str]]] = {}

    def __bool__(self) -> bool:
        return bool(self._names)

    def get(self, year: int) -> list[frozenset[str]]:
        """The word sets of that year's unmatched titles of at least MIN_GUARD_WORDS words."""
        words = self._words.get(year)
        if words is None:
            split = (frozenset(title_key(name).split()) for name in self._names.get(year, ()))
            words = self._words[year] = [w for w in split if len(w) >= MIN_GUARD_WORDS]
        return words


def _int_or_none(value: object) -> int | None:
    try:
        return None if value is None or value is np.nan or value != value else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _reason(drivers: tuple[Driver, ...], on_watchlist: bool) -> str:
    rated = [f"{d.title} {stars_text(d.stars)}" for d in drivers if d.stars is not None]
    watched = [d.title for d in drivers if d.stars is None]
    if rated and watched:
        text = f"Because you rated {_join(rated)}, and watched {_join(watched)}"
    elif rated:
        text = f"Because you rated {_join(rated)}"
    elif watched:
        text = f"Because you watched {_join(watched)}"
    else:
        text = "Popular with people whose taste overlaps yours"
    return ("On your watchlist. " + text) if on_watchlist else text


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

"""One film at a time: find it by title, its nearest films, and one user's predicted stars.

:class:`TitleSearch` answers Discord autocomplete on every keystroke, so it is built once and
each call is a binary search over precomputed sorted keys plus a little numpy on the matching
slice: no pass over the catalogue per keystroke. Keys are :func:`title_key` forms (accents,
case and punctuation folded) of every name MovieLens gives a film, with and without a leading
article, so "amelie", "the matrix" and "matrix" all find what a person means.
"""

from __future__ import annotations

import logging
import re
import weakref
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

from recommender.dimensions import name_parts
from recommender.errors import BoxdrecError
from recommender.person import FilmCard, film_card
from recommender.ranking import predict_one
from recommender.service import Driver, RecommenderService, stars_text
from recommender.titles import movielens_aliases, strip_leading_article, title_key
from recommender.user_films import UserFilms

log = logging.getLogger(__name__)

T = TypeVar("T")

LABEL_LIMIT = 100  # Discord's limit on an autocomplete choice name
MAX_CHOICES = 25  # Discord's limit on autocomplete choices
# Tiers of a title hit, best first: the whole title typed, the title's start, a later word's
# start, every typed word somewhere in the title (any order, year included).
EXACT, PREFIX, WORD, ALL_WORDS = range(4)
_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})\)\s*$")
_CACHE_SIZE = 4096

# A film rated by few MovieLens users has a column made of few ratings: its cosine with
# anything is mostly noise (a 2-rating film can sit at 0.93 next to The Godfather). Cosines are
# multiplied by n / (n + SIMILAR_SHRINK), n = the film's ratings in training: that halves a
# 2-rating film and costs a 100-rating one 2%. A larger value (10 was tried) starts to rank
# blockbusters above closer films (Pulp Fiction above The Godfather: Part II).
SIMILAR_SHRINK = 2.0
PREDICT_DRIVERS = 5
# Below this many training ratings a film's own column is too thin for its neighbours to be
# trusted, and /similar says so. Measured on the 128-component ml-latest-small model (150
# films per band): the share of the 10 nearest films sharing a genre with the film, against
# 0.40-0.51 for random films, is 0.56 (1-2 ratings), 0.62 (3-5), 0.70 (6-10), 0.75 (11-20),
# then flat at 0.80-0.81 from 21 ratings on.
FEW_RATINGS = 20
# /predict shows this many of the films whose stars vote; when together they hold less than
# FOCUSED_SHARE of the vote, no film of theirs stands out and the reply says so.
SHOWN_NEIGHBOURS = 5
FOCUSED_SHARE = 0.5
# A "shared taste" dimension is named only when both films load on it at least this share of
# their own strongest (scaled) loading, and the dimension's name fits both films' genres.
STRONG_LOADING = 0.5


# -- title search ---------------------------------------------------------------------------


class TitleSearch:
    """Autocomplete over the model's films: ``search("godf")`` -> [(858, "The Godfather (1972)")…].

    Hits are ordered by tier (exact title, title prefix, word prefix, all words), then by how
    many MovieLens ratings the film has (its training count), then by movieId.
    """

    def __init__(self, service: RecommenderService) -> None:
        model = service.model
        ids = np.asarray(model.item_ids, dtype=np.int64)
        counts = np.asarray(model.item_counts, dtype=np.int64)
        self.movie_ids = ids
        # Popularity rank of each model column: 0 is the most rated film.
        order = np.lexsort((ids, -counts))
        self._pop_rank = np.empty(ids.size, dtype=np.int64)
        self._pop_rank[order] = np.arange(ids.size)
        self._by_popularity = order
        self._column = {int(m): i for i, m in enumerate(ids.tolist())}
        movies = service.catalogue.movies
        raw = movies["title"].reindex(ids).fillna("").astype(str).tolist()
        years = [None if y != y else int(y) for y in service.facts.year.tolist()]
        self.labels: list[str] = []
        self._words: list[str] = []  # " key1 key2 … year " per film, for the all-words tier
        self._keysets: list[frozenset[str]] = []
        entries: list[tuple[str, int, bool]] = []  # (key, column, starts the title)
        for col, (title, year) in enumerate(zip(raw, years, strict=True)):
            self.labels.append(_label(service.title(int(ids[col])), year))
            keys = _keys(title)
            self._keysets.append(frozenset(keys))
            self._words.append(" " + " ".join(keys) + (f" {year} " if year else " "))
            for key in keys:
                entries.append((key, col, True))
                for i, ch in enumerate(key):
                    if ch == " ":
                        entries.append((key[i + 1 :], col, False))
        entries.sort()
        self._keys = [e[0] for e in entries]
        self._cols = np.array([e[1] for e in entries], dtype=np.int64)
        self._starts = np.array([e[2] for e in entries], dtype=bool)
        self._search = lru_cache(maxsize=_CACHE_SIZE)(self._uncached)
        log.info("title search: %d films, %d keys", ids.size, len(self._keys))

    def __len__(self) -> int:
        return int(self.movie_ids.size)

    def label(self, movie_id: int) -> str | None:
        col = self._column.get(movie_id)
        return None if col is None else self.labels[col]

    def __contains__(self, movie_id: object) -> bool:
        return movie_id in self._column

    def search(self, text: str, limit: int = MAX_CHOICES) -> list[tuple[int, str]]:
        """Up to ``limit`` (movieId, "Title (Year)") pairs for what was typed so far."""
        limit = max(0, min(limit, MAX_CHOICES))
        cols = self._search(" ".join(text.split())[:200], limit)
        return [(int(self.movie_ids[c]), self.labels[c]) for c in cols]

    def best(self, text: str) -> tuple[int, bool] | None:
        """The movieId a person most probably means by ``text`` and whether ``text`` is one of
        its titles exactly (accents, case, articles and a "(year)" aside), else ``None``."""
        cols = self._search(" ".join(text.split())[:200], 1)
        if not cols:
            return None
        year = _YEAR_SUFFIX.search(text)
        key = title_key(text[: year.start()] if year else text)
        return int(self.movie_ids[cols[0]]), key in self._keysets[cols[0]]

    # -- internals -------------------------------------------------------------------------

    def _uncached(self, text: str, limit: int) -> tuple[int, ...]:
        year = None
        if m := _YEAR_SUFFIX.search(text):  # a label typed out in full: "Heat (1995)"
            year, text = int(m[1]), text[: m.start()]
        key = title_key(text) if text.strip() else ""
        if not key:
            return tuple(int(c) for c in self._by_popularity[:limit]) if year is None else ()
        # Lower is better: tier first, then popularity rank; one score per film (its best).
        n = self.movie_ids.size
        lo, hi = self._span(key)
        cols = self._cols[lo:hi]
        tiers = np.where(self._starts[lo:hi], PREFIX, WORD)
        exact = np.fromiter((k == key for k in self._keys[lo : min(hi, lo + 64)]), bool)
        tiers[: exact.size][exact & self._starts[lo : lo + exact.size]] = EXACT
        scores = tiers * n + self._pop_rank[cols]
        if year is not None:
            keep = np.fromiter((f" {year} " in self._words[c] for c in cols), bool, cols.size)
            cols, scores = cols[keep], scores[keep]
        best = _best_per_film(cols, scores, limit)
        if len(best) < limit and " " in key:
            best = self._all_words(key, year, best, limit)
        return tuple(best)

    def _all_words(self, key: str, year: int | None, found: list[int], limit: int) -> list[int]:
        """Films holding every typed word as the start of one of their words, in any order."""
        words = key.split() + ([str(year)] if year is not None else [])
        # Candidates come from the word with the fewest key entries; the others filter them.
        spans = [self._span(w) for w in words]
        if any(lo == hi and not _is_year(w) for w, (lo, hi) in zip(words, spans, strict=True)):
            return found  # a word no title has: nothing can hold them all
        spans = [span for span in spans if span[0] < span[1]] or [(0, 0)]
        lo, hi = min(spans, key=lambda span: span[1] - span[0])
        cols = np.unique(self._cols[lo:hi])
        cols = cols[np.argsort(self._pop_rank[cols], kind="stable")]
        needles = [" " + w for w in words]
        taken = set(found)
        out = list(found)
        for c in cols.tolist():
            if len(out) >= limit:
                break
            if c not in taken and all(w in self._words[c] for w in needles):
                out.append(c)
        return out

    def _span(self, prefix: str) -> tuple[int, int]:
        """The slice of the sorted keys that start with ``prefix``."""
        lo = bisect_left(self._keys, prefix)
        return lo, bisect_left(self._keys, prefix + "\U0010ffff", lo)


def _is_year(word: str) -> bool:
    return len(word) == 4 and word.isdigit()


def _keys(movielens_title: str) -> list[str]:
    """Every search key of one MovieLens title: each alias, also without its leading article."""
    out: list[str] = []
    for alias in movielens_aliases(movielens_title):
        for form in (alias, strip_leading_article(alias)):
            key = title_key(form)
            if key and key not in out:
                out.append(key)
    return out


def _label(title: str, year: int | None) -> str:
    """ "Title (Year)" within Discord's 100 characters; a long title gives way, not the year."""
    suffix = f" ({year})" if year is not None else ""
    room = LABEL_LIMIT - len(suffix)
    if len(title) > room:
        title = title[: room - 1].rstrip() + "…"
    return title + suffix


def _best_per_film(cols: np.ndarray, scores: np.ndarray, limit: int) -> list[int]:
    """The ``limit`` films with the lowest score, each once (at its best score)."""
    if cols.size == 0 or limit <= 0:
        return []
    # A film has a handful of keys at most, so the best 16 × limit entries hold the best films;
    # argpartition keeps a 1-letter query (thousands of entries) linear.
    take = min(cols.size, 16 * limit)
    if take < cols.size:
        part = np.argpartition(scores, take - 1)[:take]
        cols, scores = cols[part], scores[part]
    order = np.lexsort((cols, scores))
    _, first = np.unique(cols[order], return_index=True)
    best = order[np.sort(first)]  # each film once, at its best score, still in score order
    return [int(c) for c in cols[best[:limit]]]


# -- similar films --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimilarFilm:
    film: FilmCard
    similarity: float  # cosine in the model's latent space, after the popularity shrink
    reason: str


class FilmVectors:
    """Column norms of ``H`` and the popularity shrink, for cosine look-ups; built once.

    The norms are computed in chunks, never a float64 copy of the whole matrix.
    """

    def __init__(self, service: RecommenderService) -> None:
        h = service.model.components
        norms = np.zeros(h.shape[1])
        step = 65536
        for start in range(0, h.shape[1], step):
            block = np.asarray(h[:, start : start + step], dtype=np.float64)
            norms[start : start + step] = np.sqrt((block * block).sum(axis=0))
        self.norms = norms
        counts = np.asarray(service.model.item_counts, dtype=np.float64)
        self.shrink = counts / (counts + SIMILAR_SHRINK)

    def similarities(self, h: np.ndarray, col: int) -> np.ndarray:
        """Shrunk cosine of column ``col`` with every film (0 for empty columns)."""
        norm = self.norms[col]
        if norm == 0:
            return np.zeros(h.shape[1])
        dots = (h[:, col] @ h).astype(np.float64)  # one pass over H, float32 as stored
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = np.where(self.norms > 0, dots / (self.norms * norm), 0.0)
        return cos * self.shrink


def similar_films(service: RecommenderService, movie_id: int, n: int = 10) -> list[SimilarFilm]:
    """The ``n`` films nearest ``movie_id`` in the model (cosine of H's columns, shrunk by
    popularity), never the film itself.

    Each reason gives how alike the two are and the genres they share. A taste dimension is
    named too ("shared taste: Crime dramas: mafia") only when it is believable: both films load
    strongly on it (:data:`STRONG_LOADING`), its name's genres and era fit both films, and it
    is not the film's own main one, which the reply names already (:func:`main_dimension`).
    """
    col = model_column(service, movie_id)
    h = service.model.components
    vectors = film_vectors(service)
    sims = vectors.similarities(h, col)
    sims[col] = -np.inf
    n = max(0, min(n, sims.size - 1))
    if n == 0:
        return []
    top = np.argpartition(-sims, n - 1)[:n]
    top = top[np.lexsort((top, -sims[top]))]
    own = film_card(service, movie_id)
    taste = service.taste_data.get()
    anchor = _relative(_loadings(h, col, taste.scale))
    main = int(np.argmax(anchor))
    out = []
    for c in top.tolist():
        card = film_card(service, int(service.model.item_ids[c]))
        shared = [g for g in card.genres if g in own.genres]
        parts = [f"{float(sims[c]):.0%} alike"]
        if shared:
            parts.append(f"also {', '.join(shared)}")
        elif card.genres:
            parts.append(f"different genres: {', '.join(card.genres[:3])}")
        both = np.minimum(anchor, _relative(_loadings(h, c, taste.scale)))
        dim = int(np.argmax(both))
        name = taste.dimensions.names[dim]
        claims = name_parts(name)
        if (
            dim != main
            and both[dim] >= STRONG_LOADING
            and claims.fits(own.genres, own.year)
            and claims.fits(card.genres, card.year)
        ):
            parts.append(f"shared taste: {name}")
        out.append(SimilarFilm(card, float(sims[c]), " · ".join(parts)))
    return out


def main_dimension(service: RecommenderService, movie_id: int) -> tuple[str, list[int]]:
    """The name of the taste dimension ``movie_id`` loads on most (relative to the dimension's
    size, as /profile weighs them) and its example films other than ``movie_id``."""
    taste = service.taste_data.get()
    dim = int(
        np.argmax(_loadings(service.model.components, model_column(service, movie_id), taste.scale))
    )
    examples = [int(m) for m in taste.dimensions.examples[dim] if m >= 0 and m != movie_id]
    return taste.dimensions.names[dim], examples


def dimension_fits(service: RecommenderService, movie_id: int, name: str) -> bool:
    """Whether a dimension's name (its genres and era) describes the film ``movie_id``."""
    card = film_card(service, movie_id)
    return name_parts(name).fits(card.genres, card.year)


def training_ratings(service: RecommenderService, movie_id: int) -> int:
    """How many ratings the model learned ``movie_id`` from (0 when it does not know it)."""
    return int(service.model.item_counts[model_column(service, movie_id)])


def _relative(loadings: np.ndarray) -> np.ndarray:
    """Loadings over the film's largest one: 1 on its strongest dimension."""
    top = float(loadings.max()) if loadings.size else 0.0
    return loadings / top if top > 0 else np.zeros_like(loadings)


def _loadings(h: np.ndarray, col: int, scale: np.ndarray) -> np.ndarray:
    """A film's loadings, each over its component's norm: comparable across components."""
    return np.asarray(h[:, col], dtype=np.float64) / np.maximum(scale, 1e-300)


# -- one film for one user ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prediction:
    """One film for one user: predicted stars on their scale, and the films of theirs behind it."""

    film: FilmCard
    stars: float | None  # rounded to 0.1 as /recommend shows it; None: they rated nothing
    drivers: tuple[Driver, ...]  # their films that push it up most (as /recommend's reason)
    neighbours: tuple[tuple[Driver, float], ...]  # rated films whose stars vote, with shares
    seen: bool  # they have watched it (the prediction then leaves their own rating out)
    user_stars: float | None  # their rating of it, if any
    on_watchlist: bool
    user_mean: float | None  # their average rating: what the stars are relative to
    # The film's general reception on their scale (their average moved by how far MovieLens
    # raters rate it above or below their own averages), before their films vote; to 0.1.
    base_stars: float | None = None

    @property
    def top_share(self) -> float:
        """The share of the vote held by the :data:`SHOWN_NEIGHBOURS` largest voters."""
        return float(sum(share for _, share in self.neighbours[:SHOWN_NEIGHBOURS]))

    @property
    def spread_thin(self) -> bool:
        """No handful of films carries the vote: it is spread over many of their films."""
        return len(self.neighbours) > SHOWN_NEIGHBOURS and self.top_share < FOCUSED_SHARE

    def summary(self) -> str:
        """One line: "You rated it ★★★★ (4); from your other films the model predicts ★3.6"."""
        stars = "no prediction" if self.stars is None else f"★{self.stars:.1f}"
        if self.user_stars is not None:
            return (
                f"You rated it {stars_text(self.user_stars)} ({self.user_stars:g}); from your "
                f"other films the model would have predicted {stars}."
            )
        if self.seen:
            return f"You have seen it (not rated); from your other films: {stars}."
        if self.stars is None:
            return "You have rated none of the films the model knows, so it cannot give stars."
        watchlist = " (on your watchlist)" if self.on_watchlist else ""
        return f"Predicted for you: {stars}{watchlist}."


def predict_film(service: RecommenderService, films: UserFilms, movie_id: int) -> Prediction:
    """The user's predicted stars for ``movie_id`` on their own scale, and why.

    The stars are the ones /recommend shows for the film (same kernel). A film the user has
    rated or logged is left out of their vector first, so the number is what the model would
    say without knowing their verdict (otherwise it would mostly echo it back).
    """
    col = model_column(service, movie_id)
    user, used = service.user_vector(films)
    keep = user.positions != col
    if not keep.all():
        user = replace(
            user, positions=user.positions[keep], stars=user.stars[keep], values=user.values[keep]
        )
        used = [f for f, k in zip(used, keep, strict=True) if k]
        if not np.any(user.values > 0):
            raise BoxdrecError(
                f"{service.title(movie_id)} is the only film you liked that the model knows, "
                "so there is nothing else to predict it from."
            )
    ranked, voters = predict_one(service.foldin, user, col, PREDICT_DRIVERS)

    def driver(j: int) -> Driver:
        f, stars = used[j], user.stars[j]
        return Driver(f.movie_id, f.name, f.year, float(stars) if np.isfinite(stars) else None)

    own = next((f for f in films.films if f.movie_id == movie_id), None)
    base = None
    if ranked.stars is not None:
        # _predict_stars_rows' formula with no vote: mean + std · the film's bias, clipped.
        bias = float(service.foldin.film_bias[col])
        base = round(float(np.clip(user.scale.mean + user.scale.std * bias, 0.5, 5.0)), 1)
    return Prediction(
        film=film_card(service, movie_id),
        stars=None if ranked.stars is None else round(ranked.stars, 1),
        drivers=tuple(driver(j) for j, _ in ranked.drivers),
        neighbours=tuple((driver(j), share) for j, share in voters),
        seen=movie_id in films.seen_ids or (own is not None and own.watched),
        user_stars=None if own is None else own.stars,
        on_watchlist=own is not None and own.watchlist,
        user_mean=user.scale.mean if films.ratings else None,
        base_stars=base,
    )


# -- shared look-ups ------------------------------------------------------------------------


def model_column(service: RecommenderService, movie_id: int) -> int:
    """The model column of ``movie_id``; a clear error when the model cannot place the film."""
    pos = service.model.positions(np.array([movie_id], dtype=np.int64))
    if pos.size and pos[0] >= 0:
        return int(pos[0])
    if movie_id in service.catalogue.movies.index:
        year = film_card(service, movie_id).year
        name = service.title(movie_id) + (f" ({year})" if year else "")
        raise BoxdrecError(
            f"MovieLens has too few ratings of {name} for the model to place it: try another film."
        )
    raise BoxdrecError(f"There is no MovieLens film with id {movie_id}: pick one from the list.")


def resolve_film(service: RecommenderService, text: str) -> int:
    """What a person typed or picked in a ``film:`` option -> a movieId the model knows.

    A picked choice arrives as ``id:<movieId>``; free text goes through :class:`TitleSearch`,
    and failing that through the catalogue matcher, so that a real film the model cannot
    place gets that message rather than "no film called …".
    """
    text = text.strip()
    if text.startswith(CHOICE_PREFIX) and text[len(CHOICE_PREFIX) :].isdigit():
        movie_id = int(text[len(CHOICE_PREFIX) :])
        model_column(service, movie_id)
        return movie_id
    hit = title_search(service).best(text)
    if hit is not None and hit[1]:
        return hit[0]
    # Not a title of a model film as typed: a catalogue film of that exact title the model
    # cannot place deserves saying so, rather than a near miss ("Parasite" is not "Parasites").
    year, name = None, text
    if m := _YEAR_SUFFIX.search(text):
        year, name = int(m[1]), text[: m.start()]
    movie_id, _, _ = service.matcher.match_one(name, year)
    if movie_id is not None:
        model_column(service, movie_id)  # raises "too few ratings" when the model lacks it
        return movie_id
    if hit is not None:
        return hit[0]
    shown = text if len(text) <= 80 else text[:79] + "…"
    raise BoxdrecError(f"No film called “{shown}”; pick one from the list as you type.")


# The value of an autocomplete choice: a prefix keeps a picked film apart from a typed title
# made of digits ("300", "1917"), which would otherwise read as a movieId.
CHOICE_PREFIX = "id:"


def choice_value(movie_id: int) -> str:
    return f"{CHOICE_PREFIX}{movie_id}"


# Built once per service, on first use (the bot builds them at start: see warm) and dropped
# with the service.
_indexes: weakref.WeakKeyDictionary[RecommenderService, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def _cached(service: RecommenderService, name: str, build: Callable[[RecommenderService], T]) -> T:
    store = _indexes.setdefault(service, {})
    if name not in store:
        store[name] = build(service)
    return store[name]


def title_search(service: RecommenderService) -> TitleSearch:
    return _cached(service, "titles", TitleSearch)


def film_vectors(service: RecommenderService) -> FilmVectors:
    return _cached(service, "vectors", FilmVectors)


def warm(service: RecommenderService) -> None:
    """Build every index now (the bot calls it at start, so no user waits for it)."""
    title_search(service)
    film_vectors(service)
    service.taste_data.get()

"""Names for the model's taste dimensions (NMF components), generated from MovieLens data.

A component is described by its :data:`TOP_FILMS` most *specific* loaders among reasonably
well-known films: the largest ``h² / Σ_k h_k`` (a film that loads on every component describes
none of them), each weighted by its loading ``h``. Its name says only what a real share of those
films visibly share, so that the three example films under it fit it:

* **genres**: a genre is named when it is on at least :data:`MIN_GENRE_SHARE` of the weighted
  top films and over-represented against all known films (:data:`MIN_GENRE_LIFT`), or on a
  majority of them ("Dramas"); the largest ``share × log(lift)`` wins. A second genre joins it
  ("Crime thrillers") when at least :data:`MIN_PAIR_SHARE` of the top films carry *both*.
  "IMAX" (a screen format) and "(no genres listed)" are never named;
* **era** (when release years are given): a decade ("1990s crime thrillers") or "Classic"
  (before :data:`CLASSIC_BEFORE`) when most top films, and enough with the genres, are from it;
* **tags** (``tags.csv``, present in ml-latest-small and ml-32m): normalised (case, plurals,
  typing slips such as "tolkein", a few aliases), without bookkeeping, opinion and
  genre-repeating tags, on at least :data:`MIN_TAG_FILMS` loading top films of which
  :data:`MIN_TAG_FITTING` carry the named genres, scored by TF-IDF (vague mood words count
  less): "Fantasy adventures: wizards".

When no genre or era fits, the name is modest ("Eclectic picks") rather than wrong. Two
components that would share a name are told apart by an extra tag, a weaker era or a second
genre that still fits :data:`MIN_COVER` of their top films, else by a film they are "like"
(their purest well-known example: "Dramas like The Hustler", when titles are given); a number
("(2)") is the last resort. The examples are the most-rated top films carrying every named
genre and the era (one with a named tag when any does), so people recognise them and see the
name in them; weaker matches only fill in.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.titles import article_to_front, split_brackets

log = logging.getLogger(__name__)

TOP_FILMS = 40  # top loaders that describe a component
EXAMPLE_POOL = 20  # examples come from the most specific films first, then from all TOP_FILMS
N_EXAMPLES = 3
KNOWN_QUANTILE = 0.75  # "known" films: at least this quantile of training ratings …
MIN_KNOWN_RATINGS = 5  # … and never fewer ratings than this
MIN_GENRE_SHARE = 0.35  # a named genre (pair) is on at least this weighted share of the top films
MIN_GENRE_LIFT = 1.25  # … and this many times as common there as among all known films,
MAJORITY = 0.5  # … unless it is on a majority of them (a common genre: "Dramas")
MIN_PAIR_SHARE = 0.25  # a pair: at least this share of the top films carries both genres …
SECOND_GENRE_SHARE = 0.3  # … the second on its own at least this share …
MIN_PAIR_LIFT = 1.1  # … and over-represented among the first genre's films too
MIN_COVER = 0.25  # a qualified name: at least this share of the top films fits all it says
ERA_SHARE = 0.5  # an era is named when at least this share of the top films is from it …
ERA_LIFT = 1.5  # … and it is this many times as common as among all known films
WEAK_ERA_LIFT = 1.1  # … or, only to tell two names apart, common and a little over-represented
CLASSIC_BEFORE = 1970  # "Classic": released before this year
MIN_TAG_FILMS = 3  # a tag must be on at least this many of the top films …
MIN_TAG_FITTING = 2  # … this many of them carrying the named genres (and era) …
MIN_TAG_WEIGHT = 0.2  # … each loading at least this share of an average top film
SECOND_TAG = 0.5  # a second tag must score at least this share of the first
MAX_TAGS = 2
VAGUE_TAG_WEIGHT = 0.6  # mood words ("dark", "quirky") describe less than "heist" or "mafia"
NO_GENRE = "(no genres listed)"
NOT_GENRES = frozenset({NO_GENRE, "IMAX"})  # IMAX is a screen format, not a kind of film
FALLBACK = "Eclectic picks"
MAX_LIKE_CHARS = 30  # a title that tells two names apart ("Dramas like Smoke") is short
MAX_NAME_CHARS = 60  # names head Discord embed fields (256 at most): tags go first

EXAMPLES_ARRAY = "dimension_examples"
META_KEY = "dimensions"
# Stored names from older rules (or named without release years and titles) are named again
# when a model is loaded: see Dimensions.current and taste_data.TasteData.
NAMING_VERSION = 2

# (adjective, plural noun) for naming, and the order in which a genre is preferred as the
# noun of a two-genre name: "crime thrillers", "romantic comedies", "fantasy adventures".
GENRE_WORDS: dict[str, tuple[str, str]] = {
    "Thriller": ("thriller", "thrillers"),
    "Comedy": ("comic", "comedies"),
    "Drama": ("dramatic", "dramas"),
    "Western": ("western", "westerns"),
    "Musical": ("musical", "musicals"),
    "Romance": ("romantic", "romances"),
    "Mystery": ("mystery", "mysteries"),
    "Adventure": ("adventure", "adventures"),
    "Fantasy": ("fantasy", "fantasies"),
    "Documentary": ("documentary", "documentaries"),
    "Horror": ("horror", "horror films"),
    "Action": ("action", "action films"),
    "War": ("war", "war films"),
    "Sci-Fi": ("sci-fi", "sci-fi films"),
    "Crime": ("crime", "crime films"),
    "Children": ("family", "family films"),
    "Animation": ("animated", "animated films"),
    "Film-Noir": ("noir", "films noirs"),
}
_NOUN_ORDER = {g: i for i, g in enumerate(GENRE_WORDS)}
# Pairs with a name of their own (nearly every film noir is a crime film).
_PAIR_PHRASES = {
    frozenset({"Comedy", "Drama"}): "comedy-dramas",
    frozenset({"Crime", "Film-Noir"}): "films noirs",
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Tags people use to file films or to judge them, not to describe them.
_STOP_TAGS = re.compile(
    r"netflix|queue|dvd|blu-?ray|bd-?r|tivo|\bowned?\b|\bseen\b|watched|to see|to watch|"
    r"imdb|\btop \d+|ratings?\b|\bmy\b|library|\bclv\b|\bwant\b|^\d+s?$|^r$|^pg|"
    r"\b(bad|good|great|best|worst|boring|stupid|overrated|underrated|predictab\w*|predictib\w*|"
    r"awful|terrible|awesome|masterpiece|interesting|excellent|amazing|brilliant|fantastic|"
    r"horrible|waste|disappointing|oscar|academy awards?|nominated|plot holes?|weak|poor|lame|"
    r"cheesy|sort of|kind of|must see|favou?rites?|really|overlong|too long|unique|"
    r"visually (appealing|stunning)|cinematography|soundtrack|dialogue|quotable|beautiful|"
    r"made me cry|classic|race|fun|download)\b|^(movies?|films?)$|[!?]|\.\.\."
)
# Tags that only repeat a genre (compared without spaces or punctuation, singular).
_GENRE_TAGS = _words(
    "scifi sciencefiction noir filmnoir animated cartoon family kid children funny humor"
    " humour hilarious comedic romantic lovestory scary suspense suspenseful dramatic"
)
# Spelling variants and synonyms a plural or one-letter rule does not catch.
TAG_ALIASES = {
    "tolkein": "tolkien",
    "hit men": "hitman",
    "hitmen": "hitman",
    "hit man": "hitman",
    "black comedy": "dark comedy",
    "dark humor": "dark comedy",
    "dark humour": "dark comedy",
    "mindfuck": "mind-bending",
    "mind fuck": "mind-bending",
    "based on a true story": "true story",
    "post apocalyptic": "post-apocalyptic",
    "world war 2": "world war ii",
    "wwii": "world war ii",
    "ww2": "world war ii",
}
_VAGUE_TAGS = _words(
    "dark emotional quirky atmospheric touching moving intense weird sad sweet silly clever"
    " intelligent smart witty stylized stylish artistic epic thought-provoking cerebral"
    " poignant heartwarming feel-good inspirational inspiring tense creepy disturbing violent"
    " violence gritty surreal humorous whimsical bittersweet depressing enigmatic"
    " heartbreaking entertaining original unusual"
)
MAX_TAG_WORDS = 3
MAX_TAG_CHARS = 30
MIN_MISSPELT = 7  # shorter tags one letter apart are too often different words


@dataclass(frozen=True)
class Dimensions:
    """One generated name and the example films (movieIds, best known first) per component."""

    names: tuple[str, ...]
    examples: np.ndarray  # components × N_EXAMPLES int64 movieIds, -1 where too few
    source: str  # "genres and tags" or "genres"
    naming: int = NAMING_VERSION  # the rules that named them (1: before eras and fit checks)
    complete: bool = True  # named with release years and titles, not from genres alone

    @property
    def current(self) -> bool:
        """Named by today's rules with everything they use: no reason to name them again."""
        return self.naming == NAMING_VERSION and self.complete

    def meta(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "source": self.source,
            "naming": self.naming,
            "complete": self.complete,
        }

    @classmethod
    def from_stored(
        cls, extras: dict[str, np.ndarray], meta: dict[str, Any], k: int
    ) -> Dimensions | None:
        info = meta.get(META_KEY)
        examples = extras.get(EXAMPLES_ARRAY)
        if not isinstance(info, dict) or examples is None:
            return None
        names = info.get("names")
        if not isinstance(names, list) or len(names) != k or examples.shape[0] != k:
            log.warning("the model's dimension names do not fit its %d components: ignoring", k)
            return None
        naming = info.get("naming", 1)
        return cls(
            tuple(str(n) for n in names),
            np.asarray(examples),
            str(info.get("source")),
            naming=naming if isinstance(naming, int) else 1,
            complete=info.get("complete") is True,
        )


@dataclass(frozen=True)
class Label:
    """What a name says: genres, an era ("1990s", "Classic"), tags, and a film it is "like"."""

    genres: tuple[str, ...] = ()
    era: str | None = None
    tags: tuple[str, ...] = ()
    like: str | None = None  # a title, only to tell two otherwise equal names apart

    def name(self) -> str:
        if self.genres:
            head = genre_phrase(list(self.genres))
            if self.era:
                head = f"{self.era} {head[0].lower()}{head[1:]}"
        else:
            head = f"{self.era} films" if self.era else FALLBACK
        if self.like:
            head += f" like {self.like}"
        return f"{head}: {', '.join(self.tags)}" if self.tags else head


def genre_phrase(genres: list[str]) -> str:
    """["Crime", "Thriller"] -> "Crime thrillers"; ["Horror"] -> "Horror films"."""
    if not genres:
        return "Films"
    pair = _PAIR_PHRASES.get(frozenset(genres[:2])) if len(genres) > 1 else None
    if pair:
        phrase = pair
    else:
        ordered = sorted(genres[:2], key=lambda g: _NOUN_ORDER.get(g, len(_NOUN_ORDER)))
        nouns = [GENRE_WORDS.get(g, (g.lower(), f"{g.lower()} films")) for g in ordered]
        phrase = nouns[0][1] if len(nouns) == 1 else f"{nouns[1][0]} {nouns[0][1]}"
    return phrase[0].upper() + phrase[1:]


@dataclass(frozen=True)
class NamedParts:
    """What a generated name claims about its films: genres (all of them) and an era."""

    genres: tuple[str, ...]
    era: str | None  # "1990s" or "Classic"

    def fits(self, genres: Iterable[str], year: int | None) -> bool:
        """Whether a film with ``genres`` from ``year`` is what the name says: every named
        genre, and the era when one is named. A name that claims nothing fits nothing."""
        if not self.genres and self.era is None:
            return False
        if not set(self.genres) <= set(genres):
            return False
        if self.era is None:
            return True
        if year is None:
            return False
        if self.era == "Classic":
            return year < CLASSIC_BEFORE
        return year - year % 10 == int(self.era[:-1])


_ERA_PREFIX = re.compile(r"^(\d{4}s|Classic) (.+)$")
_NUMBER_SUFFIX = re.compile(r" \(\d+\)$")


def _phrases() -> dict[str, tuple[str, ...]]:
    """Every genre phrase :func:`genre_phrase` writes, lower-cased -> its genres."""
    out: dict[str, tuple[str, ...]] = {}
    for g in GENRE_WORDS:
        out.setdefault(genre_phrase([g]).lower(), (g,))
    for a in GENRE_WORDS:
        for b in GENRE_WORDS:
            if a != b:
                out.setdefault(genre_phrase([a, b]).lower(), (a, b))
    return out


def name_parts(name: str) -> NamedParts:
    """Read back the genres and era a :meth:`Label.name` says ("1990s war dramas: holocaust"
    -> War, Drama, 1990s). Names come from stored models too, so they are parsed rather than
    stored twice; anything unrecognised claims nothing."""
    head = _NUMBER_SUFFIX.sub("", name.split(":", 1)[0]).split(" like ", 1)[0].strip()
    era = None
    if m := _ERA_PREFIX.match(head):
        era, head = m[1], m[2]
        if head == "films":
            return NamedParts((), era)
    return NamedParts(_PHRASES.get(head.lower(), ()), era)


def short_title(title: str) -> str:
    """MovieLens "Conversation, The (Conversación, La)" -> "The Conversation"."""
    main, _ = split_brackets(title)
    return article_to_front(main).strip()


def read_tags(folder: Path) -> pd.DataFrame | None:
    """Distinct (movieId, tag) pairs from ``tags.csv``, tags lower-cased; None without one."""
    path = folder / "tags.csv"
    if not path.is_file():
        return None
    tags = pd.read_csv(
        path, usecols=["movieId", "tag"], dtype={"movieId": "int64", "tag": str}, encoding="utf-8"
    )
    tags["tag"] = tags["tag"].fillna("").str.strip().str.lower()
    tags = tags[tags["tag"] != ""]
    return tags.drop_duplicates().reset_index(drop=True)


def tag_key(tag: str) -> str:
    """What two spellings of one tag share: letters and digits only, singular."""
    key = re.sub(r"[^a-z0-9]", "", tag.lower())
    if len(key) > 4 and key.endswith("s") and not key.endswith(("ss", "us", "is")):
        key = key[:-1]
    # "comedy" and "comedies", "zombie" and "zombies" end alike.
    return key[:-2] + "y" if len(key) > 4 and key.endswith("ie") else key


def usable_tag(tag: str) -> bool:
    """Whether a (normalised) tag may describe a dimension: not bookkeeping or an opinion."""
    return (
        bool(tag)
        and len(tag) <= MAX_TAG_CHARS
        and len(tag.split()) <= MAX_TAG_WORDS
        and not _STOP_TAGS.search(tag)
    )


def merge_tags(tags: pd.DataFrame) -> pd.DataFrame:
    """(movieId, tag) pairs with variants of one tag merged under one display form.

    Tags are tidied (spaces, quotes), aliased (:data:`TAG_ALIASES`) and keyed by
    :func:`tag_key` (case, punctuation, plurals); two keys of :data:`MIN_MISSPELT` letters or
    more that are one slip apart (:func:`misspelt`: "tolkein", "philosopical") and share a film
    merge too. Each merged tag shows its most common spelling, an alias target first."""
    # Tidy each distinct spelling once: ml-32m has two million tags but few distinct ones.
    codes, spellings = pd.factorize(tags["tag"].astype(str), sort=False)
    tidy = (
        pd.Series(spellings)
        .str.lower()
        .str.strip(" \t\"'.,;:")
        .str.replace(r"\s+", " ", regex=True)
        .map(lambda t: TAG_ALIASES.get(t, t))
    )
    frame = pd.DataFrame({"movieId": tags["movieId"].to_numpy(), "tag": tidy.to_numpy()[codes]})
    frame = frame[frame["tag"] != ""].drop_duplicates()
    codes, spellings = pd.factorize(frame["tag"], sort=False)
    keys = np.array([tag_key(t) for t in spellings], dtype=object)[codes]
    frame = frame.assign(key=keys)
    long = frame[frame["key"].str.len() >= MIN_MISSPELT]
    films = long.groupby("key")["movieId"].agg(frozenset)
    canon = _merge_misspelt(films.to_dict())
    if canon:
        frame["key"] = frame["key"].map(lambda k: canon.get(k, k))
    alias_targets = set(TAG_ALIASES.values())
    spell = frame.groupby(["key", "tag"])["movieId"].nunique().reset_index()
    spell["alias"] = spell["tag"].isin(alias_targets)
    spell = spell.sort_values(
        ["key", "alias", "movieId", "tag"], ascending=[True, False, False, True]
    )
    display = spell.drop_duplicates("key").set_index("key")["tag"]
    frame["tag"] = frame["key"].map(display)
    return frame[["movieId", "tag"]].drop_duplicates().reset_index(drop=True)


def misspelt(a: str, b: str) -> bool:
    """Whether two keys are one typing slip apart: two neighbouring letters swapped
    ("tolkein"), or a letter left out or added inside the word ("philosopical", "colourful").
    Not a letter changed (mobster, monster) nor one at either end (evolution, revolution;
    "world war i", "world war ii")."""
    if len(a) > len(b):
        a, b = b, a
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if len(b) != len(a) + 1:
        return False
    i = next((j for j in range(len(a)) if a[j] != b[j]), len(a))
    return 0 < i < len(a) and a[i:] == b[i + 1 :]


def _merge_misspelt(films: dict[str, frozenset[int]]) -> dict[str, str]:
    """Key -> the key it merges into (the one on more films), for misspelt keys sharing a film.

    Candidates come from one-letter deletions (two keys one slip apart share one), so this is
    linear in the number of keys, not quadratic."""
    buckets: dict[str, list[str]] = defaultdict(list)
    for key in films:
        buckets[key].append(key)
        for i in range(1, len(key) - 1):
            buckets[key[:i] + key[i + 1 :]].append(key)
    parent = {k: k for k in films}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for group in buckets.values():
        for x, a in enumerate(group):
            for b in group[x + 1 :]:
                if a == b or not films[a] & films[b] or not misspelt(a, b):
                    continue
                ra, rb = root(a), root(b)
                if ra != rb:
                    keep, drop = sorted((ra, rb), key=lambda k: (-len(films[k]), k))
                    parent[drop] = keep
    return {k: root(k) for k in films if root(k) != k}


@dataclass
class _Known:
    """Everything naming needs about the known films, as arrays over them."""

    ids: np.ndarray
    counts: np.ndarray
    raw_titles: list[str]  # MovieLens titles without the year, "" when unknown
    genre_names: list[str]
    genres: np.ndarray  # films × genres, 0/1
    genre_base: np.ndarray  # each genre's share of the known films
    pair_base: np.ndarray  # genres × genres: share of known films carrying both
    eras: list[str]
    era_of: np.ndarray  # films × eras, 0/1 (a 1950s film is in "1950s" and "Classic")
    era_base: np.ndarray
    tags: sp.csr_matrix | None  # films × tags, 0/1
    tag_names: list[str]
    tag_idf: np.ndarray
    tag_vague: np.ndarray  # bool per tag

    def genre_mask(self, rows: np.ndarray, genres: tuple[str, ...]) -> np.ndarray:
        mask = np.ones(rows.size, dtype=bool)
        for g in genres:
            mask &= self.genres[rows, self.genre_names.index(g)] > 0
        return mask

    def era_mask(self, rows: np.ndarray, era: str | None) -> np.ndarray:
        if era is None:
            return np.ones(rows.size, dtype=bool)
        return self.era_of[rows, self.eras.index(era)] > 0

    def tag_mask(self, rows: np.ndarray, tags: tuple[str, ...]) -> np.ndarray:
        if not tags or self.tags is None:
            return np.zeros(rows.size, dtype=bool)
        cols = [self.tag_names.index(t) for t in tags]
        return np.asarray(self.tags[rows][:, cols].sum(axis=1)).ravel() > 0

    def title(self, row: int) -> str:
        return short_title(self.raw_titles[row])


@dataclass
class _Component:
    top: np.ndarray  # rows of the known films, most specific first
    weight: np.ndarray  # their loadings, summing to 1
    label: Label
    alternatives: list[Label]  # qualified labels, best first, for a name another one shares


def name_components(
    components: np.ndarray,
    item_ids: np.ndarray,
    item_counts: np.ndarray,
    genres: pd.Series,
    tags: pd.DataFrame | None,
    movies: pd.DataFrame | None = None,
) -> Dimensions:
    """Name every component (see the module docstring). ``genres`` maps movieId -> "A|B";
    ``movies`` (optional, indexed by movieId, columns ``year`` and ``title`` as
    :func:`recommender.movielens.read_movies` gives them) adds eras and, to tell two equal
    names apart, a title."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    counts = np.asarray(item_counts, dtype=np.float64)
    k = components.shape[0]
    threshold = max(MIN_KNOWN_RATINGS, float(np.quantile(counts, KNOWN_QUANTILE)))
    known = np.flatnonzero(counts >= threshold)
    if known.size < TOP_FILMS:  # a tiny model: every film is "known"
        known = np.arange(item_ids.size)
    cat = _known(item_ids[known], counts[known], genres, tags, movies)

    # A film's total loading over all components: a film that loads on everything (Forrest
    # Gump) describes no component in particular.
    known_h = np.asarray(components[:, known], dtype=np.float64)
    total = np.maximum(known_h.sum(axis=0), 1e-12)
    described: list[_Component | None] = []
    for c in range(k):
        loads = known_h[c]
        top = np.argsort(-(loads * loads / total), kind="stable")[:TOP_FILMS]
        weight = loads[top]
        if weight.sum() <= 0:
            described.append(None)
            continue
        described.append(_describe(cat, top, weight / weight.sum()))
    _tell_apart(cat, described)
    names = _numbered([d.label.name() if d else "Barely used" for d in described])
    examples = np.full((k, N_EXAMPLES), -1, dtype=np.int64)
    for c, d in enumerate(described):
        if d is not None:
            best = _examples(cat, d.top, d.label)
            examples[c, : len(best)] = cat.ids[best]
    source = "genres and tags" if cat.tags is not None else "genres"
    complete = bool(cat.eras) and any(cat.raw_titles)
    log.info("named %d taste dimensions from %s", k, source + (", years" if cat.eras else ""))
    return Dimensions(tuple(names), examples, source, complete=complete)


def _known(
    ids: np.ndarray,
    counts: np.ndarray,
    genres: pd.Series,
    tags: pd.DataFrame | None,
    movies: pd.DataFrame | None,
) -> _Known:
    genre_lists = [str(s).split("|") for s in genres.reindex(ids).fillna("").tolist()]
    names = sorted({g for gs in genre_lists for g in gs if g and g not in NOT_GENRES})
    col = {g: i for i, g in enumerate(names)}
    matrix = np.zeros((ids.size, len(names)), dtype=np.float64)
    for row, gs in enumerate(genre_lists):
        for g in gs:
            if g in col:
                matrix[row, col[g]] = 1.0
    n = max(ids.size, 1)
    years = movies["year"] if movies is not None and "year" in movies else None
    eras, era_of = _eras(ids, years)
    titles = [""] * ids.size
    if movies is not None and "title" in movies:
        titles = [t if isinstance(t, str) else "" for t in movies["title"].reindex(ids)]
    tag_matrix, tag_names, idf = _tag_matrix(tags, ids, names)
    return _Known(
        ids=ids,
        counts=counts,
        raw_titles=titles,
        genre_names=names,
        genres=matrix,
        genre_base=matrix.sum(axis=0) / n,
        pair_base=(matrix.T @ matrix) / n,
        eras=eras,
        era_of=era_of,
        era_base=era_of.sum(axis=0) / n,
        tags=tag_matrix,
        tag_names=tag_names,
        tag_idf=idf,
        tag_vague=np.array([t in _VAGUE_TAGS for t in tag_names], dtype=bool),
    )


def _eras(ids: np.ndarray, years: pd.Series | None) -> tuple[list[str], np.ndarray]:
    """Each known film's decade ("1990s") and whether it is "Classic" (before 1970)."""
    if years is None:
        return [], np.zeros((ids.size, 0))
    year = pd.to_numeric(years.reindex(ids), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    has = ~np.isnan(year)
    decade = np.where(has, np.floor(np.where(has, year, 0) / 10) * 10, -1).astype(np.int64)
    decades = sorted({int(d) for d in decade[has]})
    names = [f"{d}s" for d in decades] + ["Classic"]
    matrix = np.zeros((ids.size, len(names)))
    for i, d in enumerate(decades):
        matrix[decade == d, i] = 1.0
    matrix[:, -1] = has & (np.where(has, year, np.inf) < CLASSIC_BEFORE)
    return names, matrix


def _describe(cat: _Known, top: np.ndarray, weight: np.ndarray) -> _Component:
    """The component's label and, best first, qualified variants to tell it from another."""
    chosen, second = _pick_genres(cat, top, weight)
    era, other_eras = _pick_era(cat, top, weight, chosen)
    fitting = cat.genre_mask(top, chosen) & cat.era_mask(top, era)
    tags = _rank_tags(cat, top, weight, fitting)
    label = Label(chosen, era, tuple(tags[:MAX_TAGS]))
    while len(label.name()) > MAX_NAME_CHARS and label.tags:
        label = replace(label, tags=label.tags[:-1])
    alternatives = [replace(label, tags=(*label.tags[:1], t)) for t in tags[MAX_TAGS:]]
    if not label.tags:
        alternatives = [replace(label, tags=(t,)) for t in tags]
    if era is None:
        alternatives += [replace(label, era=e) for e in other_eras]
    if second is not None:
        alternatives.append(replace(label, genres=(*chosen, second)))
    alternatives = [
        a
        for a in alternatives
        if len(a.name()) <= MAX_NAME_CHARS and _cover(cat, top, weight, a) >= MIN_COVER
    ]
    return _Component(top, weight, label, alternatives)


def _cover(cat: _Known, top: np.ndarray, weight: np.ndarray, label: Label) -> float:
    """The weighted share of the top films that carry every genre and the era a label names."""
    return float(weight @ (cat.genre_mask(top, label.genres) & cat.era_mask(top, label.era)))


def _pick_genres(
    cat: _Known, top: np.ndarray, weight: np.ndarray
) -> tuple[tuple[str, ...], str | None]:
    """Up to two genres the top films visibly share, and a weaker second one for ties."""
    if not cat.genre_names:
        return (), None
    g_top = cat.genres[top]
    share = weight @ g_top
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(cat.genre_base > 0, share / cat.genre_base, 0.0)
    strong = (share >= MIN_GENRE_SHARE) & (
        (lift >= MIN_GENRE_LIFT) | ((share >= MAJORITY) & (lift >= 1.0))
    )
    if not strong.any():
        return (), None
    score = np.where(strong, share * np.log(np.maximum(lift, 1.0 + 1e-9)), -np.inf)
    first = int(np.argmax(score))
    both = weight @ (g_top * g_top[:, [first]])  # share of the top films with the first too
    best, best_score, weak, weak_score = None, 0.0, None, 0.0
    for j, base in enumerate(cat.pair_base[first]):
        if j == first or base <= 0 or both[j] <= 0:
            continue
        # The second genre must be rarer elsewhere, or over-represented among the first
        # genre's films: not just the first's usual companion ("Drama").
        within = (both[j] / share[first]) / (base / cat.genre_base[first])
        if within < MIN_PAIR_LIFT and lift[j] < MIN_GENRE_LIFT:
            continue
        s = both[j] * math.log(both[j] / base)
        if both[j] >= MIN_PAIR_SHARE and _strong_enough(share[j], lift[j]) and s > best_score:
            best, best_score = j, s
        elif both[j] >= MIN_PAIR_SHARE * 0.7 and s > weak_score:
            weak, weak_score = j, s
    names = cat.genre_names
    if best is not None:
        return (names[first], names[best]), None
    return (names[first],), names[weak] if weak is not None else None


def _strong_enough(share: float, lift: float) -> bool:
    """Whether a second genre is common and distinctive enough among the top films."""
    return share >= SECOND_GENRE_SHARE and (lift >= MIN_GENRE_LIFT or share >= MAJORITY)


def _pick_era(
    cat: _Known, top: np.ndarray, weight: np.ndarray, genres: tuple[str, ...]
) -> tuple[str | None, list[str]]:
    """An era most top films (and enough with the genres) are from; weaker ones for ties."""
    if not cat.eras:
        return None, []
    e_top = cat.era_of[top]
    share = weight @ e_top
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(cat.era_base > 0, share / cat.era_base, 0.0)
    joint = (weight * cat.genre_mask(top, genres)) @ e_top  # with the genres and the era
    strong = (share >= ERA_SHARE) & (lift >= ERA_LIFT) & (joint >= MIN_PAIR_SHARE)
    weak = (share >= MIN_GENRE_SHARE) & (lift >= WEAK_ERA_LIFT) & (joint >= MIN_COVER)
    order = np.argsort(-(share * np.log(np.maximum(lift, 1.0))), kind="stable")
    era = next((cat.eras[i] for i in order if strong[i]), None)
    return era, [cat.eras[i] for i in order if weak[i] and cat.eras[i] != era]


def _tag_matrix(
    tags: pd.DataFrame | None, known_ids: np.ndarray, genre_names: list[str]
) -> tuple[sp.csr_matrix | None, list[str], np.ndarray]:
    """Known films × descriptive tags (sparse 0/1) and each tag's IDF over the known films."""
    if tags is None or tags.empty:
        return None, [], np.zeros(0)
    tags = tags[tags["movieId"].isin(known_ids)]
    if tags.empty:
        return None, [], np.zeros(0)
    tags = merge_tags(tags)
    genre_keys = {tag_key(g) for g in genre_names} | _GENRE_TAGS
    tags = tags.assign(row=pd.Index(known_ids).get_indexer(tags["movieId"].to_numpy()))
    # Only tags on enough known films can ever be picked: the rest would only cost memory.
    df = tags.groupby("tag")["row"].nunique()
    useful = [
        t for t in df.index[df >= MIN_TAG_FILMS] if usable_tag(t) and tag_key(t) not in genre_keys
    ]
    if not useful:
        return None, [], np.zeros(0)
    tags = tags[tags["tag"].isin(useful)]
    tag_names = sorted(useful)
    cols = pd.Index(tag_names).get_indexer(tags["tag"].to_numpy())
    matrix = sp.csr_matrix(
        (np.ones(cols.size, dtype=np.float32), (tags["row"].to_numpy(), cols)),
        shape=(known_ids.size, len(tag_names)),
    )
    matrix.data[:] = 1.0  # a pair listed twice is still one tag on one film
    idf = np.log(known_ids.size / df.reindex(tag_names).to_numpy(dtype=np.float64))
    return matrix, tag_names, idf


def _rank_tags(cat: _Known, top: np.ndarray, weight: np.ndarray, fitting: np.ndarray) -> list[str]:
    """The component's tags, best first: each on :data:`MIN_TAG_FILMS` top films, on
    :data:`MIN_TAG_FITTING` that carry the named genres, and adding films of its own; a
    second tag only if it scores at least :data:`SECOND_TAG` of the first."""
    if cat.tags is None:
        return []
    rows = cat.tags[top].tocsc()
    # Support counts only films that really load on the component, not the tail of the top.
    loaded = weight >= MIN_TAG_WEIGHT / top.size
    films_with = np.asarray(rows[np.flatnonzero(loaded)].sum(axis=0)).ravel()
    fitting_with = np.asarray(rows[np.flatnonzero(loaded & fitting)].sum(axis=0)).ravel()
    # A heavily tagged film (Star Wars) spreads its weight over its tags instead of lending
    # the whole of it to each, so one famous franchise does not name every component.
    per_film = np.asarray(rows.sum(axis=1)).ravel()
    tf_weight = weight / np.sqrt(np.maximum(per_film, 1.0))
    score = np.asarray(rows.T @ tf_weight).ravel() * cat.tag_idf
    score[cat.tag_vague] *= VAGUE_TAG_WEIGHT
    score[(films_with < MIN_TAG_FILMS) | (fitting_with < MIN_TAG_FITTING)] = 0.0
    picked: list[int] = []
    covered: set[int] = set()
    for i in np.argsort(-score, kind="stable"):
        if len(picked) == MAX_TAGS + 2 or score[i] <= 0:
            break
        if len(picked) == 1 and score[i] < SECOND_TAG * score[picked[0]]:
            break
        films = set(rows.indices[rows.indptr[i] : rows.indptr[i + 1]].tolist())
        if films <= covered:  # says nothing the tags already picked do not
            continue
        words = set(cat.tag_names[i].split())
        if any(words <= set(cat.tag_names[j].split()) for j in picked):
            continue  # "space" after "space opera"
        picked.append(int(i))
        covered |= films
    return [cat.tag_names[i] for i in picked]


def _examples(cat: _Known, top: np.ndarray, label: Label) -> list[int]:
    """Rows of the best-known top films that carry the label (every genre, the era, the "like"
    film), one with a named tag when any does; weaker matches only to fill in."""
    in_era = cat.era_mask(top, label.era)
    fits = cat.genre_mask(top, label.genres) & in_era
    some = in_era.copy()
    if label.genres:
        some &= cat.genres[top][:, [cat.genre_names.index(g) for g in label.genres]].any(axis=1)
    tagged = cat.tag_mask(top, label.tags)
    counts = cat.counts[top]
    rank = np.arange(top.size)
    chosen: list[int] = []
    if label.like:
        chosen += [i for i in rank if cat.title(top[i]) == label.like][:1]

    def take(mask: np.ndarray, n: int) -> None:
        # The most specific films first; beyond the pool only when they do not suffice.
        for within in (rank < EXAMPLE_POOL, rank >= EXAMPLE_POOL):
            free = mask & within & ~np.isin(rank, chosen)
            for i in np.flatnonzero(free)[np.argsort(-counts[free], kind="stable")]:
                if len(chosen) >= n:
                    return
                chosen.append(int(i))

    take(fits & tagged, 1)
    for mask in (fits, some, np.ones(top.size, dtype=bool)):
        take(mask, N_EXAMPLES)
    chosen.sort(key=lambda i: (-counts[i], i))  # best known first
    return [int(top[i]) for i in chosen]


def _tell_apart(cat: _Known, described: list[_Component | None]) -> None:
    """Give components that would share a name a qualifier of their own: an extra tag, an
    era or a second genre, else a film they are "like" (their best-known fitting example)."""
    for rule in ("qualifier", "like"):
        groups: dict[str, list[_Component]] = defaultdict(list)
        for d in described:
            if d is not None:
                groups[d.label.name()].append(d)
        taken = set(groups)
        for group in (g for g in groups.values() if len(g) > 1):
            for d in group:
                options = d.alternatives if rule == "qualifier" else _likes(cat, d)
                name = next((a for a in options if a.name() not in taken), None)
                if name is not None:
                    taken.add(name.name())
                    d.label = name


def _likes(cat: _Known, d: _Component) -> list[Label]:
    """The label "like" each of its examples, the purest example of the genres first (The
    Hustler, not Dawn of the Dead, for dramas); without the tags, then with them."""
    examples = _examples(cat, d.top, d.label)
    named = [cat.genre_names.index(g) for g in d.label.genres]
    extra = cat.genres[examples].sum(axis=1) - cat.genres[examples][:, named].sum(axis=1)
    order = sorted(range(len(examples)), key=lambda i: (extra[i], -cat.counts[examples[i]]))
    titles = [cat.title(examples[i]) for i in order]
    titles = [t for t in titles if t and len(t) <= MAX_LIKE_CHARS]
    likes = [replace(d.label, like=t, tags=()) for t in titles]
    if d.label.tags:
        likes += [replace(d.label, like=t) for t in titles]
    return [a for a in likes if len(a.name()) <= MAX_NAME_CHARS]


def _numbered(names: list[str]) -> list[str]:
    """Number names still repeated ("Dramas", "Dramas (2)"): the last resort."""
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def component_scale(components: np.ndarray) -> np.ndarray:
    """Each component's L2 norm, so ``w_k × scale_k`` compares across components.

    Row by row: the components may be a large float32 memory map, never copied whole."""
    return np.array([float(np.linalg.norm(row)) for row in components], dtype=np.float64)


_PHRASES = _phrases()

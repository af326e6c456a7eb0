"""Names for the model's taste dimensions (NMF components), generated from MovieLens data.

A component is described by its most *specific* loaders among reasonably well-known films:
the :data:`TOP_FILMS` films with the largest ``h² / Σ_k h_k`` (a film that loads on every
component describes none of them), each weighted by its loading ``h``:

* **genres**: each genre's weighted share among the top films against its share among all
  known films; a genre is chosen by ``share × log(share / base share)`` (its contribution to
  the KL divergence), so a genre is named when it is both common in the component and rarer
  elsewhere: "Horror" for a horror component, not "Drama" for every component;
* **tags** (``tags.csv``, present in ml-latest-small and ml-32m): the same share, times the
  tag's inverse document frequency over the known films (TF-IDF), among tags carried by at
  least two of the top films; bookkeeping tags ("in netflix queue") and tags that only repeat
  a genre are skipped. Without tags the name is genres only.

The name reads "Crime thrillers: twist ending, heist". Three example films per component are
the most-rated among its :data:`EXAMPLE_POOL` most specific loaders, so people recognise them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

log = logging.getLogger(__name__)

TOP_FILMS = 40  # top loaders that describe a component
EXAMPLE_POOL = 15  # examples are the best-known among this many top loaders
N_EXAMPLES = 3
KNOWN_QUANTILE = 0.75  # "known" films: at least this quantile of training ratings …
MIN_KNOWN_RATINGS = 5  # … and never fewer ratings than this
MIN_TAG_FILMS = 2  # a tag must be on at least this many of the top films
SECOND_GENRE = 0.35  # the second genre must score at least this share of the first
NO_GENRE = "(no genres listed)"

EXAMPLES_ARRAY = "dimension_examples"
META_KEY = "dimensions"

# (adjective, plural noun) for naming, and the order in which a genre is preferred as the
# noun of a two-genre name: "crime thrillers", "romantic comedies", "crime dramas".
GENRE_WORDS: dict[str, tuple[str, str]] = {
    "Thriller": ("thriller", "thrillers"),
    "Comedy": ("comic", "comedies"),
    "Drama": ("dramatic", "dramas"),
    "Western": ("western", "westerns"),
    "Musical": ("musical", "musicals"),
    "Romance": ("romantic", "romances"),
    "Mystery": ("mystery", "mysteries"),
    "Fantasy": ("fantasy", "fantasies"),
    "Adventure": ("adventure", "adventures"),
    "Documentary": ("documentary", "documentaries"),
    "Horror": ("horror", "horror films"),
    "Action": ("action", "action films"),
    "War": ("war", "war films"),
    "Sci-Fi": ("sci-fi", "sci-fi films"),
    "Crime": ("crime", "crime films"),
    "Animation": ("animated", "animated films"),
    "Children": ("children's", "children's films"),
    "Film-Noir": ("noir", "films noirs"),
    "IMAX": ("IMAX", "IMAX films"),
}
_NOUN_ORDER = {g: i for i, g in enumerate(GENRE_WORDS)}

# Tags people use to file films, not to describe them.
_STOP_TAGS = re.compile(
    r"netflix|queue|dvd|blu-?ray|bd-?r|tivo|\bowned?\b|\bseen\b|watched|to see|to watch|"
    r"imdb|\btop \d+|ratings?\b|\bmy\b|library|\bclv\b|\bwant\b|^\d+$|^r$|^pg"
)


@dataclass(frozen=True)
class Dimensions:
    """One generated name and the example films (movieIds, best known first) per component."""

    names: tuple[str, ...]
    examples: np.ndarray  # components × N_EXAMPLES int64 movieIds, -1 where too few
    source: str  # "genres and tags" or "genres"

    def meta(self) -> dict[str, Any]:
        return {"names": list(self.names), "source": self.source}

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
        return cls(tuple(str(n) for n in names), np.asarray(examples), str(info.get("source")))


def genre_phrase(genres: list[str]) -> str:
    """["Crime", "Thriller"] -> "Crime thrillers"; ["Horror"] -> "Horror films"."""
    if not genres:
        return "Films"
    ordered = sorted(genres[:2], key=lambda g: _NOUN_ORDER.get(g, len(_NOUN_ORDER)))
    nouns = [GENRE_WORDS.get(g, (g.lower(), f"{g.lower()} films")) for g in ordered]
    phrase = nouns[0][1] if len(nouns) == 1 else f"{nouns[1][0]} {nouns[0][1]}"
    return phrase[0].upper() + phrase[1:]


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


def _genre_key(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def name_components(
    components: np.ndarray,
    item_ids: np.ndarray,
    item_counts: np.ndarray,
    genres: pd.Series,
    tags: pd.DataFrame | None,
) -> Dimensions:
    """Name every component (see the module docstring). ``genres`` maps movieId -> "A|B"."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    counts = np.asarray(item_counts, dtype=np.float64)
    k = components.shape[0]
    threshold = max(MIN_KNOWN_RATINGS, float(np.quantile(counts, KNOWN_QUANTILE)))
    known = np.flatnonzero(counts >= threshold)
    if known.size < TOP_FILMS:  # a tiny model: every film is "known"
        known = np.arange(item_ids.size)
    known_ids = item_ids[known]

    genre_lists = genres.reindex(known_ids).fillna("").tolist()
    names_g = sorted({g for s in genre_lists for g in str(s).split("|") if g and g != NO_GENRE})
    genre_matrix = np.array(
        [[g in str(s).split("|") for g in names_g] for s in genre_lists], dtype=np.float64
    ).reshape(known.size, len(names_g))
    genre_base = genre_matrix.mean(axis=0)

    tag_matrix, tag_names, tag_idf = _tag_matrix(tags, known_ids, names_g)

    # A film's total loading over all components: a film that loads on everything (Forrest
    # Gump) describes no component in particular.
    known_h = np.asarray(components[:, known], dtype=np.float64)
    total = np.maximum(known_h.sum(axis=0), 1e-12)
    names: list[str] = []
    examples = np.full((k, N_EXAMPLES), -1, dtype=np.int64)
    for c in range(k):
        loads = known_h[c]
        top = np.argsort(-(loads * loads / total), kind="stable")[:TOP_FILMS]
        weight = loads[top]
        if weight.sum() <= 0:
            names.append("Barely used")
            continue
        weight = weight / weight.sum()
        chosen = _pick_genres(weight @ genre_matrix[top], genre_base, names_g)
        label = genre_phrase(chosen)
        if tag_matrix is not None:
            picked = _pick_tags(tag_matrix[top], weight, tag_names, tag_idf)
            if picked:
                label += ": " + ", ".join(picked)
        names.append(label)
        pool = top[:EXAMPLE_POOL]
        best = pool[np.argsort(-counts[known[pool]], kind="stable")[:N_EXAMPLES]]
        examples[c, : best.size] = known_ids[best]
    names = _distinct(names)
    source = "genres and tags" if tag_matrix is not None else "genres"
    log.info("named %d taste dimensions from %s", k, source)
    return Dimensions(tuple(names), examples, source)


def _pick_genres(share: np.ndarray, base: np.ndarray, names: list[str]) -> list[str]:
    if share.size == 0:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where((share > 0) & (base > 0), share / base, 0.0)
        score = np.where(lift > 1, share * np.log(lift), 0.0)
    if not np.any(score > 0):
        return [names[int(np.argmax(share))]]
    order = np.argsort(-score, kind="stable")
    picked = [names[order[0]]]
    if order.size > 1 and score[order[1]] >= SECOND_GENRE * score[order[0]]:
        picked.append(names[order[1]])
    return picked


def _tag_matrix(
    tags: pd.DataFrame | None, known_ids: np.ndarray, genre_names: list[str]
) -> tuple[sp.csr_matrix | None, list[str], np.ndarray]:
    """Known films × descriptive tags (sparse 0/1) and each tag's IDF over the known films."""
    if tags is None or tags.empty:
        return None, [], np.zeros(0)
    genre_keys = {_genre_key(g) for g in genre_names} | {"scifi", "noir"}
    rows = pd.Index(known_ids).get_indexer(tags["movieId"].to_numpy())
    tags = tags[rows >= 0].assign(row=rows[rows >= 0])
    # Only tags on at least two known films can ever be picked: the rest would only cost memory.
    df = tags.groupby("tag")["row"].nunique()
    useful = [
        t
        for t in df.index[df >= MIN_TAG_FILMS]
        if not _STOP_TAGS.search(t) and _genre_key(t) not in genre_keys
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


def _pick_tags(
    rows: sp.csr_matrix, weight: np.ndarray, names: list[str], idf: np.ndarray, n: int = 2
) -> list[str]:
    rows = rows.tocsc()
    films_with = np.diff(rows.indptr)
    # A heavily tagged film (Star Wars) spreads its weight over its tags instead of lending
    # the whole of it to each, so one famous franchise does not name every component.
    per_film = np.asarray(rows.sum(axis=1)).ravel()
    tf_weight = weight / np.sqrt(np.maximum(per_film, 1.0))
    score = np.asarray(rows.T @ tf_weight).ravel() * idf
    score[films_with < MIN_TAG_FILMS] = 0.0
    picked: list[int] = []
    covered: set[int] = set()
    for i in np.argsort(-score, kind="stable"):
        if len(picked) == n or score[i] <= 0:
            break
        films = set(rows.indices[rows.indptr[i] : rows.indptr[i + 1]].tolist())
        if films <= covered:  # says nothing the tags already picked do not ("tolkein")
            continue
        picked.append(int(i))
        covered |= films
    return [names[i] for i in picked]


def _distinct(names: list[str]) -> list[str]:
    """Number repeated names ("Dramas", "Dramas (2)") so each dimension can be told apart."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def component_scale(components: np.ndarray) -> np.ndarray:
    """Each component's L2 norm, so ``w_k × scale_k`` compares across components.

    Row by row: the components may be a large float32 memory map, never copied whole."""
    return np.array([float(np.linalg.norm(row)) for row in components], dtype=np.float64)

"""Read MovieLens folders: the film catalogue (titles, years, genres, links) and the ratings.

A data folder holds one sub-folder per dataset (``ml-latest-small/``, ``ml-32m/``, ``ml-latest/``).
A dataset may hold only ``movies.csv`` (and ``links.csv``); matching uses the largest catalogue
present, while training needs a dataset with ``ratings.csv``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_DATASET = "ml-latest-small"
KNOWN_DATASETS = ("ml-latest-small", "ml-32m", "ml-latest")

# "Title (1999)" and the rare "Title (2007-2008)"; the year is the last bracket of the title.
_YEAR_SUFFIX = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def split_title_year(raw: str) -> tuple[str, int | None]:
    """Split a MovieLens title into the title proper and its year (``None`` when it has none)."""
    m = _YEAR_SUFFIX.search(raw)
    if not m:
        return raw.strip(), None
    return raw[: m.start()].strip(), int(m.group(1))


def dataset_dirs(root: Path) -> list[Path]:
    """Dataset folders under ``root`` that hold a ``movies.csv``, known names first."""
    if not root.is_dir():
        return []
    found = [p for p in sorted(root.iterdir()) if (p / "movies.csv").is_file()]
    order = {name: i for i, name in enumerate(KNOWN_DATASETS)}
    return sorted(found, key=lambda p: (order.get(p.name, len(order)), p.name))


def _read_csv(path: Path, **kwargs: object) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8", **kwargs)  # type: ignore[call-overload]
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(
            f"Could not read {path}: {exc}. Download the dataset again with "
            f"'boxdrec data download {path.parent.name}'."
        ) from exc


def read_movies(folder: Path) -> pd.DataFrame:
    """``movies.csv`` as a frame indexed by movieId with columns title, year, genres, raw_title."""
    df = _read_csv(folder / "movies.csv", dtype={"movieId": "int64", "title": str, "genres": str})
    missing = {"movieId", "title", "genres"} - set(df.columns)
    if missing:
        raise DataError(f"{folder / 'movies.csv'} lacks the columns {sorted(missing)}.")
    parts = [split_title_year(t) for t in df["title"].fillna("")]
    out = pd.DataFrame(
        {
            "title": [p[0] for p in parts],
            "year": pd.array([p[1] for p in parts], dtype="Int64"),
            "genres": df["genres"].fillna("(no genres listed)").to_numpy(),
            "raw_title": df["title"].fillna("").to_numpy(),
        },
        index=pd.Index(df["movieId"].to_numpy(), name="movieId"),
    )
    return out[~out.index.duplicated(keep="first")]


def read_links(folder: Path) -> pd.DataFrame | None:
    """``links.csv`` (imdbId, tmdbId as nullable ints) or ``None`` when the dataset has none."""
    path = folder / "links.csv"
    if not path.is_file():
        return None
    df = _read_csv(path, dtype={"movieId": "int64", "imdbId": "Int64", "tmdbId": "Int64"})
    return df.set_index("movieId")[["imdbId", "tmdbId"]]


def read_ratings(folder: Path) -> pd.DataFrame:
    """``ratings.csv`` as userId (int32), movieId (int32), rating (float32); timestamp dropped."""
    path = folder / "ratings.csv"
    if not folder.is_dir():
        raise DataError(
            f"There is no dataset {folder.name!r} in {folder.parent}. Download one with "
            f"'boxdrec data download NAME' (NAME: {', '.join(KNOWN_DATASETS)})."
        )
    if not path.is_file():
        raise DataError(
            f"{folder} has no ratings.csv, so no model can be trained on it. Download the full "
            f"dataset with 'boxdrec data download {folder.name}'."
        )
    return _read_csv(
        path,
        usecols=["userId", "movieId", "rating"],
        dtype={"userId": "int32", "movieId": "int32", "rating": "float32"},
    )


@dataclass(frozen=True)
class Catalogue:
    """Every film matching may return, with what the reply shows about it.

    ``movies`` is indexed by movieId with columns title, year (Int64), genres, raw_title,
    imdbId, tmdbId (Int64, may be missing) and popularity (number of ratings in the largest
    ratings.csv present; 0 when unknown): the evidence used to choose between two films that
    share a title and year.
    """

    movies: pd.DataFrame
    source: str

    def __len__(self) -> int:
        return len(self.movies)

    def title_of(self, movie_id: int) -> str:
        return str(self.movies.at[movie_id, "title"])


def load_catalogue(root: Path) -> Catalogue:
    """Every film under ``root`` (the largest catalogue wins ties), with links and popularity."""
    dirs = dataset_dirs(root)
    if not dirs:
        raise DataError(
            f"No MovieLens data in {root}. Run 'boxdrec data download ml-latest-small', or set "
            "BOXDREC_DATA_DIR to a folder that holds ml-latest-small/ (or ml-32m/)."
        )
    catalogues = {d: read_movies(d) for d in dirs}
    by_size = sorted(dirs, key=lambda d: (-len(catalogues[d]), dirs.index(d)))
    biggest = by_size[0]
    # The largest catalogue leads; films only the smaller ones hold (GroupLens drops a few
    # hundred between releases, some of them in the model) are added so they match and display.
    movies = pd.concat([catalogues[d] for d in by_size])
    movies = movies[~movies.index.duplicated(keep="first")].sort_index()
    links = [lk for d in dirs if (lk := read_links(d)) is not None]
    if links:
        merged = pd.concat(links)
        merged = merged[~merged.index.duplicated(keep="first")]
        movies = movies.join(merged, how="left")
    else:
        movies["imdbId"] = pd.array([pd.NA] * len(movies), dtype="Int64")
        movies["tmdbId"] = pd.array([pd.NA] * len(movies), dtype="Int64")
    movies["popularity"] = _popularity(dirs, movies.index)
    log.info(
        "catalogue: %d films from %s (%d with links, %d with rating counts)",
        len(movies),
        biggest.name,
        int(movies["tmdbId"].notna().sum()),
        int((movies["popularity"] > 0).sum()),
    )
    return Catalogue(movies=movies, source=biggest.name)


def _popularity(dirs: list[Path], index: pd.Index) -> np.ndarray:
    """Rating counts from the largest ratings.csv present (zeros when there is none)."""
    with_ratings = [d for d in dirs if (d / "ratings.csv").is_file()]
    if not with_ratings:
        return np.zeros(len(index), dtype=np.int64)
    biggest = max(with_ratings, key=lambda d: (d / "ratings.csv").stat().st_size)
    ids = _read_csv(biggest / "ratings.csv", usecols=["movieId"], dtype={"movieId": "int64"})
    counts = ids["movieId"].value_counts()
    return counts.reindex(index, fill_value=0).to_numpy(dtype=np.int64)

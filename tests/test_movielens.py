"""Reading MovieLens folders: layouts, line endings, quoted titles, the largest catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.errors import DataError
from recommender.movielens import dataset_dirs, load_catalogue, read_movies, split_title_year


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("Toy Story (1995)", "Toy Story", 1995),
        ("Matrix, The (1999)", "Matrix, The", 1999),
        ("Monsters, Inc. (2001)", "Monsters, Inc.", 2001),
        (
            "High Tension (Haute tension) (Switchblade Romance) (2003)",
            "High Tension (Haute tension) (Switchblade Romance)",
            2003,
        ),
        ("Moonlight", "Moonlight", None),
        ("Fawlty Towers (1975-1979)", "Fawlty Towers", 1975),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009),
        ("  Padded (2000)  ", "Padded", 2000),
    ],
)
def test_split_title_year(raw: str, title: str, year: int | None) -> None:
    assert split_title_year(raw) == (title, year)


def _write(folder: Path, name: str, text: str, newline: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.replace("\n", newline).encode("utf-8"))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_read_movies_handles_line_endings_and_quoted_titles(tmp_path: Path, newline: str) -> None:
    _write(
        tmp_path / "tiny",
        "movies.csv",
        'movieId,title,genres\n1,"Monsters, Inc. (2001)",Animation|Comedy\n'
        '2,"Quote ""Test"" (1990)",Drama\n162414,Moonlight,Drama\n',
        newline,
    )
    movies = read_movies(tmp_path / "tiny")
    assert movies.loc[1, "title"] == "Monsters, Inc."
    assert movies.loc[1, "year"] == 2001
    assert movies.loc[2, "title"] == 'Quote "Test"'
    assert movies.loc[162414, "title"] == "Moonlight"
    assert movies.loc[162414, "year"] is pd_na()
    assert movies.loc[1, "genres"] == "Animation|Comedy"


def movies_in(catalogue, ids: list[int]) -> list[str]:
    return catalogue.movies.loc[ids, "title"].tolist()


def pd_na():
    import pandas as pd

    return pd.NA


def test_catalogue_is_the_largest_with_links_and_rating_counts(catalogue) -> None:
    # ml-32m (87,585 films, movies.csv only) is larger than ml-latest (86,537) and
    # ml-latest-small (9,742); its links come from ml-latest/links.csv.
    assert catalogue.source == "ml-32m"
    # ml-32m's 87,585 films, plus 858 that only ml-latest or ml-latest-small still hold
    # (Mary and Max, 71899, is one the model knows).
    assert len(catalogue) == 88_443
    assert movies_in(catalogue, [71899]) == ["Mary and Max"]
    movies = catalogue.movies
    assert movies.loc[6, "title"] == "Heat" and movies.loc[6, "year"] == 1995
    assert movies.loc[6, "tmdbId"] == 949
    assert movies.loc[4886, "title"] == "Monsters, Inc."
    # Rating counts come from ml-latest-small/ratings.csv, the only ratings present.
    assert movies.loc[34048, "popularity"] == 50
    assert movies.loc[64997, "popularity"] == 2
    assert movies.loc[205873, "popularity"] == 0  # Cinderella (1922), not in the small set


def test_ml_latest_layout_reads(movielens_dir: Path) -> None:
    movies = read_movies(movielens_dir / "ml-latest")
    assert len(movies) == 86_537
    assert movies.loc[1, "title"] == "Toy Story"


def test_dataset_dirs_lists_known_names_first(movielens_dir: Path) -> None:
    names = [d.name for d in dataset_dirs(movielens_dir)]
    assert names == ["ml-latest-small", "ml-32m", "ml-latest"]


def test_empty_data_folder_says_how_to_get_data(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"No MovieLens data in .*boxdrec data download"):
        load_catalogue(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("movieId,name\n1,y\n", r"movies.csv lacks the columns \['genres', 'title'\]"),
        ("movieId,title,genres\nx,y,z\n", r"Could not read .*movies.csv.*boxdrec data download"),
    ],
)
def test_damaged_movies_csv_is_a_data_error(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path / "ml-latest-small", "movies.csv", text, "\n")
    with pytest.raises(DataError, match=message):
        load_catalogue(tmp_path)

"""Names of the taste dimensions: the naming rules on small hand-made inputs (exact names), and
a quality floor on the real ml-latest-small data for the test suite's k=16 model and a k=128
model like the default one.

The quality check, per dimension: the genres and era its name states (parsed back from the
name) must be carried by its example films (at least two of three; in practice all three), and
by a real share of the films that describe the dimension (its 40 most specific loaders,
weighted by loading); names are distinct without "(2)", short enough for a Discord field, and
never "IMAX" or a bookkeeping tag.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender import dimensions as dims_mod
from recommender.dimensions import (
    Dimensions,
    genre_phrase,
    merge_tags,
    misspelt,
    name_components,
    read_tags,
    short_title,
    tag_key,
    usable_tag,
)

# -- hand-made catalogues ------------------------------------------------------------------


def catalogue(rows: list[tuple[str, int, str]]) -> pd.DataFrame:
    """movieId 1.. -> (title, year, genres), as read_movies gives them."""
    frame = pd.DataFrame(rows, columns=["title", "year", "genres"])
    frame.index = pd.RangeIndex(1, len(rows) + 1, name="movieId")
    frame["year"] = frame["year"].astype("Int64")
    return frame


def filler(n: int, start_year: int = 1990) -> list[tuple[str, int, str]]:
    """Films that set the catalogue's base rates: mostly comedies and dramas across decades."""
    kinds = ["Comedy", "Drama", "Comedy|Romance", "Drama|Romance", "Action|Adventure", "Drama"]
    return [(f"Filler {i}", start_year + (i * 7) % 30, kinds[i % len(kinds)]) for i in range(n)]


def components_for(n_films: int, groups: list[list[int]]) -> np.ndarray:
    """One component per group of (1-based) movieIds loading 1.0 on them, 0.01 elsewhere;
    an empty group is a component no film loads on."""
    h = np.full((len(groups), n_films), 0.01)
    for c, ids in enumerate(groups):
        if ids:
            h[c, np.asarray(ids) - 1] = 1.0
        else:
            h[c] = 0.0
    return h


def name(movies: pd.DataFrame, groups: list[list[int]], tags=None, with_movies=True, counts=None):
    ids = np.asarray(movies.index, dtype=np.int64)
    counts = np.arange(ids.size, 0, -1) * 10 if counts is None else counts
    h = components_for(ids.size, groups)
    return name_components(
        h, ids, counts, movies["genres"], tags, movies=movies if with_movies else None
    )


def test_genre_phrases():
    assert genre_phrase(["Crime", "Thriller"]) == "Crime thrillers"
    assert genre_phrase(["Thriller", "Crime"]) == "Crime thrillers"
    assert genre_phrase(["Comedy", "Romance"]) == "Romantic comedies"
    assert genre_phrase(["Drama", "Comedy"]) == "Comedy-dramas"
    assert genre_phrase(["Fantasy", "Adventure"]) == "Fantasy adventures"
    assert genre_phrase(["Animation", "Children"]) == "Animated family films"
    assert genre_phrase(["Horror"]) == "Horror films"
    assert genre_phrase([]) == "Films"


def test_a_rare_genre_on_a_few_films_does_not_name_a_dimension():
    # 24 dramas of which 4 are war films: War is rare in the catalogue (high lift) but on a
    # sixth of the films, so the name says "Dramas" (the old KL rule said "War dramas").
    movies = catalogue(
        [(f"Drama {i}", 1995, "Drama|War" if i < 4 else "Drama") for i in range(24)]
        + [(f"Comedy {i}", 1995, "Comedy") for i in range(24)]
        + filler(60)
    )
    dims = name(movies, [list(range(1, 25)), list(range(25, 49))], with_movies=False)
    assert dims.names == ("Dramas", "Comedies")
    assert dims.source == "genres"


def test_a_pair_is_named_only_when_enough_films_carry_both():
    movies = catalogue(
        [(f"Crime thriller {i}", 1995, "Crime|Thriller") for i in range(14)]
        + [(f"Thriller {i}", 1995, "Thriller") for i in range(10)]
        + [(f"Horror {i}", 1995, "Horror|IMAX") for i in range(8)]
        + [(f"Thriller {i}", 1995, "Thriller|Romance") for i in range(3)]
        + filler(80)
    )
    dims = name(movies, [list(range(1, 25)), list(range(25, 36))], with_movies=False)
    # Horror on 8 of 11 films (IMAX on as many, but a format, never a name), Romance on 3.
    assert dims.names == ("Crime thrillers", "Horror films")


def test_examples_carry_the_named_genres_and_are_the_best_known():
    movies = catalogue(
        [(f"Horror {i}", 1995, "Horror") for i in range(20)]
        + [(f"Famous comedy {i}", 1995, "Comedy") for i in range(6)]
        + filler(60)
    )
    ids = np.asarray(movies.index)
    counts = np.full(ids.size, 10)
    counts[20:26] = 1000  # the comedies are the best known of the component's films…
    counts[[4, 9, 14]] = [300, 200, 100]  # … but these three horror films fit its name
    dims = name(movies, [list(range(1, 27))], counts=counts, with_movies=False)
    assert dims.names == ("Horror films",)
    assert dims.examples[0].tolist() == [5, 10, 15]


def test_a_strong_era_is_named_and_examples_come_from_it():
    movies = catalogue(
        [(f"Seventies {i}", 1970 + i % 10, "Crime|Thriller") for i in range(16)]
        + [(f"Nineties {i}", 1995, "Crime|Thriller") for i in range(4)]
        + [(f"Classic {i}", 1940 + i, "Film-Noir|Crime") for i in range(12)]
        + filler(90)
    )
    dims = name(movies, [list(range(1, 21)), list(range(21, 33))])
    assert dims.names == ("1970s crime thrillers", "Classic films noirs")
    years = movies["year"]
    assert all(1970 <= years[m] < 1980 for m in dims.examples[0])
    # Without release years the names are genres only.
    bare = name(movies, [list(range(1, 21)), list(range(21, 33))], with_movies=False)
    assert bare.names == ("Crime thrillers", "Films noirs")


def test_nothing_fitting_gives_a_modest_name():
    kinds = ["Comedy", "Drama", "Action", "Horror", "Western", "Musical", "Documentary"]
    mixed = [(f"Mixed {i}", 1960 + 8 * i, kinds[i % len(kinds)]) for i in range(14)]
    movies = catalogue(mixed + filler(80))
    dims = name(movies, [list(range(1, 15)), []])
    assert dims.names == ("Eclectic picks", "Barely used")
    assert (dims.examples[1] == -1).all()


def test_equal_names_are_told_apart_by_era_then_by_a_film_then_by_number():
    later = (1985, 2005, 2015)
    movies = catalogue(
        # Four crime-thriller components: 40% seventies, 40% nineties, and two spread out.
        [(f"A{i}", 1975 if i < 8 else later[i % 3], "Crime|Thriller") for i in range(20)]
        + [(f"B{i}", 1995 if i < 8 else later[i % 3], "Crime|Thriller") for i in range(20)]
        + [(f"C{i}, The", 1955 + 10 * (i % 7), "Crime|Thriller") for i in range(20)]
        + [(f"D{i}", 1955 + 10 * (i % 7), "Crime|Thriller") for i in range(20)]
        + filler(200, start_year=1975)
    )
    groups = [list(range(1 + 20 * g, 21 + 20 * g)) for g in range(4)]
    ids = np.asarray(movies.index)
    counts = np.full(ids.size, 10)
    counts[[41, 61]] = 500  # "The C1" and "D1" are the best known of their components
    dims = name(movies, groups, counts=counts)
    assert dims.names == (
        "1970s crime thrillers",
        "1990s crime thrillers",
        "Crime thrillers like The C1",
        "Crime thrillers like D1",
    )
    assert dims.examples[2][0] == 42 and dims.examples[3][0] == 62
    # Without years or titles nothing tells them apart but a number.
    bare = name(movies, groups, counts=counts, with_movies=False)
    assert bare.names == (
        "Crime thrillers",
        "Crime thrillers (2)",
        "Crime thrillers (3)",
        "Crime thrillers (4)",
    )


def test_tags_need_support_are_merged_and_skip_opinions():
    movies = catalogue(
        [(f"Fantasy {i}", 2002, "Adventure|Fantasy") for i in range(20)]
        + [(f"Comedy {i}", 2002, "Comedy") for i in range(20)]
        + filler(80)
    )
    tags = pd.DataFrame(
        [(m, "Tolkein") for m in (1, 2)]
        + [(m, "tolkien") for m in (2, 3, 4)]  # one misspelling, merged: on films 1-4
        + [(m, "plot holes") for m in range(1, 15)]  # an opinion, never a name
        + [(m, "in netflix queue") for m in range(1, 15)]  # bookkeeping
        + [(m, "fantasy") for m in range(1, 15)]  # repeats a genre
        + [(m, "dragons") for m in (5, 6)]  # on two films only
        + [(m, "Wizards") for m in (7, 8)]
        + [(m, "wizard") for m in (9,)]  # a plural: one tag on three films
        + [(m, "zombies") for m in (21, 22)]
        + [(m, "zombie") for m in (41, 42)],  # on films outside the comedy component
        columns=["movieId", "tag"],
    )
    dims = name(movies, [list(range(1, 21)), list(range(21, 41))], tags=tags)
    assert dims.source == "genres and tags"
    assert dims.names == ("2000s fantasy adventures: tolkien, wizards", "2000s comedies")
    # One example carries the first tag.
    assert set(dims.examples[0]) & {1, 2, 3, 4}


def test_long_names_drop_tags_first():
    movies = catalogue([(f"Film {i}", 1985, "Animation|Children") for i in range(20)] + filler(80))
    long_tag = "x" * 30
    tags = pd.DataFrame(
        [(m, long_tag) for m in range(1, 8)] + [(m, "y" * 29) for m in range(8, 12)],
        columns=["movieId", "tag"],
    )
    dims = name(movies, [list(range(1, 21))], tags=tags)
    assert dims.names == (f"1980s animated family films: {long_tag}",)
    assert all(len(n) <= dims_mod.MAX_NAME_CHARS for n in dims.names)


def test_tag_rules():
    assert tag_key("Zombies") == tag_key("zombie") == tag_key("ZOMBIE")
    assert tag_key("comedies") == tag_key("comedy")
    assert tag_key("post-apocalyptic") == tag_key("post apocalyptic")
    assert tag_key("boss") == "boss"
    assert misspelt("tolkein", "tolkien") and misspelt("philosopical", "philosophical")
    assert not misspelt("mobster", "monster")  # a letter changed: another word
    assert not misspelt("evolution", "revolution")  # at the start
    assert not misspelt("worldwari", "worldwarii")  # at the end
    for bad in ("plot holes", "seen more than once", "in netflix queue", "overrated", "boring"):
        assert not usable_tag(bad), bad
    assert not usable_tag("shakespeare sort of") and not usable_tag("race")
    assert not usable_tag("villain nonexistent or not needed for good story")
    for good in ("heist", "time travel", "stephen king", "mafia", "cult film", "movie business"):
        assert usable_tag(good), good


def test_merged_tags_keep_the_common_spelling():
    tags = pd.DataFrame(
        [
            (1, "Tolkein"),
            (1, "tolkien"),
            (2, "tolkien"),
            (3, "tolkien "),
            (4, "Hit Men"),
            (5, "mobster"),
            (5, "monster"),
            (6, "mindfuck"),
        ],
        columns=["movieId", "tag"],
    )
    merged = merge_tags(tags)
    pairs = set(map(tuple, merged.to_numpy().tolist()))
    assert {(1, "tolkien"), (2, "tolkien"), (3, "tolkien"), (4, "hitman")} <= pairs
    assert {(5, "mobster"), (5, "monster"), (6, "mind-bending")} <= pairs
    assert len(pairs) == 7


def test_stored_names_round_trip():
    dims = Dimensions(("A", "B"), np.array([[1, 2, 3], [4, -1, -1]]), "genres")
    extras = {dims_mod.EXAMPLES_ARRAY: dims.examples}
    back = Dimensions.from_stored(extras, {dims_mod.META_KEY: dims.meta()}, 2)
    assert back is not None and back.names == dims.names and back.current
    assert Dimensions.from_stored(extras, {dims_mod.META_KEY: dims.meta()}, 3) is None
    # Names stored by the first rules (no "naming" entry) are not current: named again.
    old = {dims_mod.META_KEY: {"names": ["A", "B"], "source": "genres"}}
    stale = Dimensions.from_stored(extras, old, 2)
    assert stale is not None and stale.naming == 1 and not stale.current


@pytest.mark.movielens
def test_a_model_with_old_names_is_named_again(
    service, movielens_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    import logging

    from recommender.model_store import load_model, save_model
    from recommender.taste_data import TasteData

    model = service.model
    meta = dict(model.metadata)
    meta[dims_mod.META_KEY] = {"names": ["Old name"] * model.n_components, "source": "genres"}
    old = load_model(
        save_model(
            tmp_path / "old",
            model.components,
            model.item_ids,
            model.item_counts,
            meta,
            dict(model.extras),
        )
    )
    with caplog.at_level(logging.WARNING, logger="recommender.taste_data"):
        ref = TasteData(old, service.catalogue, movielens_dir).get()
    assert "naming them again" in caplog.text
    assert "Old name" not in ref.dimensions.names and ref.dimensions.current
    movies = service.catalogue.movies
    fresh = name_components(
        model.components,
        model.item_ids,
        model.item_counts,
        movies["genres"],
        read_tags(movielens_dir / "ml-latest-small"),
        movies=movies,
    )
    assert ref.dimensions.names == fresh.names
    np.testing.assert_array_equal(ref.dimensions.examples, fresh.examples)


# -- the quality floor on real data --------------------------------------------------------

ERA = re.compile(r"^(?:(\d{4})s|Classic) ")


def phrases() -> dict[str, tuple[str, ...]]:
    """Every genre phrase a name can start with, lower case -> its genres."""
    genres = list(dims_mod.GENRE_WORDS)
    out = {genre_phrase([g]).lower(): (g,) for g in genres}
    for a in genres:
        for b in genres:
            if a != b:
                out[genre_phrase([a, b]).lower()] = (a, b)
    return out


def parse(name: str, example_titles: list[str]) -> tuple[tuple[str, ...], str | None, list[str]]:
    """(genres, era, tags) a name states: "1990s crime thrillers like Heat: heist"."""
    name = re.sub(r" \(\d+\)$", "", name)  # numbered: the last resort
    era = None
    m = ERA.match(name)
    if m:
        era = f"{m.group(1)}s" if m.group(1) else "Classic"
        name = name[m.end() :]
    head, like, rest = name.partition(" like ")
    if like:
        title = next(t for t in example_titles if rest.startswith(t))
        rest = rest[len(title) :].removeprefix(": ")
        tags = rest.split(", ") if rest else []
    else:
        head, _, rest = head.partition(": ")
        tags = rest.split(", ") if rest else []
    table = phrases()
    genres = table.get(head.lower(), ())
    assert genres or head.lower() in ("eclectic picks", "films", "barely used"), name
    return genres, era, tags


def in_era(era: str | None, year) -> bool:
    if era is None:
        return True
    if year is None or pd.isna(year):
        return False
    if era == "Classic":
        return int(year) < dims_mod.CLASSIC_BEFORE
    return int(year) // 10 * 10 == int(era[:4])


def quality(model_h, item_ids, item_counts, dims: Dimensions, movies, tags) -> dict:
    """Per-dimension fit of names to examples and to the dimension's top films."""
    counts = np.asarray(item_counts, dtype=np.float64)
    known = np.flatnonzero(counts >= max(5, np.quantile(counts, 0.75)))
    h = np.asarray(model_h[:, known], dtype=np.float64)
    total = np.maximum(h.sum(axis=0), 1e-12)
    known_ids = np.asarray(item_ids)[known]
    genre_sets = [set(str(g).split("|")) for g in movies["genres"].reindex(known_ids)]
    years = movies["year"].reindex(known_ids).tolist()
    tag_sets = merge_tags(tags).groupby("movieId")["tag"].agg(set).to_dict()
    fits, cover, tag_fit = [], [], []
    for c, n in enumerate(dims.names):
        ex = [int(m) for m in dims.examples[c] if m >= 0]
        titles = [short_title(str(movies.at[m, "title"])) for m in ex]
        genres, era, named_tags = parse(n, titles)
        if genres or era:
            fits.append(
                sum(
                    set(genres) <= set(str(movies.at[m, "genres"]).split("|"))
                    and in_era(era, movies.at[m, "year"])
                    for m in ex
                )
            )
            loads = h[c]
            top = np.argsort(-(loads * loads / total), kind="stable")[:40]
            w = loads[top] / loads[top].sum()
            cover.append(
                sum(
                    wi
                    for wi, i in zip(w, top, strict=True)
                    if set(genres) <= genre_sets[i] and in_era(era, years[i])
                )
            )
        if named_tags:
            tag_fit.append(any(set(named_tags) & tag_sets.get(m, set()) for m in ex))
    return {"fits": np.array(fits), "cover": np.array(cover), "tag_fit": tag_fit}


def assert_quality_floor(model_h, item_ids, item_counts, movies, tags, *, numbered_max=0):
    dims = name_components(model_h, item_ids, item_counts, movies["genres"], tags, movies=movies)
    q = quality(model_h, item_ids, item_counts, dims, movies, tags)
    k = len(dims.names)
    # Nearly every dimension names genres or an era; its examples carry them (≥ 2 of 3, in
    # practice 3 of 3) and so do a real share of the films behind it.
    assert q["fits"].size >= 0.85 * k
    assert (q["fits"] >= 2).all(), q["fits"]
    assert (q["fits"] == 3).mean() >= 0.95
    assert q["cover"].min() >= 0.25 - 1e-9 and np.median(q["cover"]) >= 0.35
    assert all(q["tag_fit"])
    numbered = [n for n in dims.names if re.search(r"\(\d+\)$", n)]
    assert len(numbered) <= numbered_max, numbered
    assert len(set(dims.names)) == k
    assert all(len(n) <= dims_mod.MAX_NAME_CHARS for n in dims.names)
    assert not any(re.search(r"imax|no genres|plot holes|netflix", n.lower()) for n in dims.names)
    return dims, q


@pytest.fixture(scope="module")
def small_movies(movielens_dir: Path):
    from recommender.movielens import read_movies

    return read_movies(movielens_dir / "ml-latest-small")


@pytest.fixture(scope="module")
def small_tags(movielens_dir: Path):
    return read_tags(movielens_dir / "ml-latest-small")


@pytest.fixture(scope="module")
def k128(movielens_dir: Path):
    """A k=128 model like the default one, with fewer iterations (a few seconds)."""
    from recommender.movielens import read_ratings
    from recommender.training import TrainConfig, train

    ratings = read_ratings(movielens_dir / "ml-latest-small")
    fit, matrix, _ = train(ratings, TrainConfig(n_components=128, max_iter=80))
    return fit.components, matrix.item_ids, matrix.item_counts


@pytest.mark.movielens
def test_quality_floor_of_the_test_model(service, small_movies, small_tags):
    model = service.model
    dims, _ = assert_quality_floor(
        model.components, model.item_ids, model.item_counts, small_movies, small_tags
    )
    assert len(dims.names) == 16


@pytest.mark.movielens
def test_quality_floor_of_a_default_sized_model(k128, small_movies, small_tags):
    dims, q = assert_quality_floor(*k128, small_movies, small_tags)
    assert len(dims.names) == 128
    # Tags name some dimensions, not most: only those enough top films carry.
    assert 5 <= len(q["tag_fit"]) <= 64


@pytest.mark.movielens
def test_without_years_or_titles_names_still_fit(k128, small_movies, small_tags):
    h, ids, counts = k128
    dims = name_components(h, ids, counts, small_movies["genres"], small_tags)
    q = quality(h, ids, counts, dims, small_movies, small_tags)
    assert (q["fits"] >= 2).all() and q["cover"].min() >= 0.25 - 1e-9
    assert len(set(dims.names)) == 128

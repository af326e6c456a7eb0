"""List controls: ListFilters and FilmFacts masks against the catalogue, decade ranges, the
obscurity tilt on a real export, and the bot's option parsing (bot.list_options)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.list_options import OBSCURE_QUANTILE, OBSCURITY, BadFilter, build_filters, genre_choices
from recommender.errors import BoxdrecError
from recommender.filters import ListFilters, decade_range

pytestmark = pytest.mark.movielens


@pytest.fixture(scope="module")
def genres_of(service) -> list[set[str]]:
    """Each model column's genres, read straight from the catalogue."""
    movies = service.catalogue.movies.reindex(service.model.item_ids)
    return [set(str(g).split("|")) for g in movies["genres"]]


@pytest.fixture(scope="module")
def years(service) -> np.ndarray:
    movies = service.catalogue.movies.reindex(service.model.item_ids)
    return movies["year"].to_numpy(dtype="float64", na_value=np.nan)


def real_films(service, letterboxd_dir: Path, name: str):
    return service.user_films(service.read_export_file(letterboxd_dir / "real" / name))[0]


# -- masks --------------------------------------------------------------------------------------


def test_genre_include_and_exclude_masks_match_the_catalogue(service, genres_of):
    facts = service.facts
    horror = facts.allowed(ListFilters(genres=("Horror",)))
    assert horror.tolist() == ["Horror" in g for g in genres_of]
    either = facts.allowed(ListFilters(genres=("horror", "THRILLER")))  # any case
    assert either.tolist() == [bool({"Horror", "Thriller"} & g) for g in genres_of]
    no_comedy = facts.allowed(ListFilters(exclude_genres=("Comedy",)))
    assert no_comedy.tolist() == ["Comedy" not in g for g in genres_of]
    both = facts.allowed(ListFilters(genres=("Horror",), exclude_genres=("Comedy",)))
    assert both.tolist() == (horror & no_comedy).tolist()
    assert 0 < both.sum() < horror.sum()


def test_an_unknown_genre_lists_the_real_ones(service):
    with pytest.raises(BoxdrecError) as error:
        service.facts.allowed(ListFilters(genres=("Horor",)))
    assert str(error.value).startswith("'Horor' is not a genre the catalogue knows. Choose from: ")
    assert "Horror" in str(error.value)


def test_decades_become_year_ranges():
    assert decade_range(1970, 1980) == (1970, 1989)
    assert decade_range(1975, None) == (1970, None)
    assert decade_range(None, 1990) == (None, 1999)
    assert decade_range(None, None) == (None, None)
    with pytest.raises(BoxdrecError, match=r"starts after it ends \(1990s to 1970s\)"):
        decade_range(1990, 1970)


def test_year_range_mask(service, years):
    low, high = decade_range(1970, 1980)
    mask = service.facts.allowed(ListFilters(year_from=low, year_to=high))
    assert mask.tolist() == ((years >= 1970) & (years <= 1989)).tolist()
    assert mask.sum() > 100


def test_describe_says_what_is_in_force():
    filters = ListFilters(("Horror", "Thriller"), ("Comedy",), 1970, 1989, 0.75)
    assert filters.describe() == (
        "Horror or Thriller · not Comedy · 1970–1989 · less-known films first"
    )
    assert not ListFilters().active and ListFilters().describe() == ""


# -- the lists the filters give -----------------------------------------------------------------


def test_a_filtered_list_holds_only_matching_films(service, letterboxd_dir: Path):
    films = real_films(service, letterboxd_dir, "ratings_2022_empty_year_crlf.csv")
    filters = ListFilters(
        genres=("Crime",), exclude_genres=("Comedy",), year_from=1970, year_to=1989
    )
    result = service.recommend_films(films, n=15, filters=filters)
    assert len(result.items) == 15
    for rec in result.items:
        assert "Crime" in rec.genres and "Comedy" not in rec.genres, rec.title
        assert 1970 <= rec.year <= 1989, rec.title
    assert result.filters == filters


@pytest.mark.parametrize(
    "export",
    ["ratings_small_crlf.csv", "ratings_2026_spanish.csv", "ratings_2022_empty_year_crlf.csv"],
)
def test_obscurity_lowers_the_popularity_of_the_list(service, letterboxd_dir: Path, export: str):
    films = real_films(service, letterboxd_dir, export)

    def mean_count(obscurity: float) -> float:
        result = service.recommend_films(films, n=20, filters=ListFilters(obscurity=obscurity))
        cols = service.model.positions(np.array([r.movie_id for r in result.items]))
        return float(service.model.item_counts[cols].mean())

    popular, obscure = mean_count(OBSCURITY["balanced"]), mean_count(OBSCURITY["obscure"])
    assert popular > obscure
    if export != "ratings_2022_empty_year_crlf.csv":  # its balanced list is already off-beat
        assert popular > mean_count(OBSCURITY["less-known"]) > obscure


def test_the_tilt_lowers_popular_films_whatever_the_sign_of_their_score(service):
    """A blended score can be negative (ranking.user_scores): the tilt must still push a
    popular film down, not divide its negative score toward 0 and lift it."""
    counts = np.asarray(service.model.item_counts)
    popular, rare = int(np.argmax(counts)), int(np.argmin(counts))
    scores = np.zeros(counts.size)
    for value in (1.0, -1.0):
        scores[[popular, rare]] = value
        tilted = service.facts.adjust(scores, 1.0)
        assert tilted[rare] > tilted[popular]
        assert np.sign(tilted[popular]) == np.sign(tilted[rare]) == value
    np.testing.assert_array_equal(service.facts.adjust(scores, 0.0), scores)


# -- the bot's options --------------------------------------------------------------------------


def test_build_filters_from_the_slash_options(service):
    assert build_filters(service) == ListFilters()
    cut = service.facts.ratings_at(OBSCURE_QUANTILE)
    assert cut == int(np.quantile(service.model.item_counts, 0.75)) == 9  # ml-latest-small
    filters = build_filters(service, "less-known", "horror, sci-fi", "comedy", 1970, 1980)
    assert filters == ListFilters(
        ("Horror", "Sci-Fi"), ("Comedy",), 1970, 1989, 0.75, min_ratings=10
    )
    assert build_filters(service, "obscure") == ListFilters(obscurity=1.0, max_ratings=9)


def test_discover_levels_describe_themselves_apart(service):
    """The footers of less-known and obscure lists read differently (both said "less-known
    films first")."""
    assert build_filters(service, "less-known").describe() == "less-known films first"
    assert build_filters(service, "obscure").describe() == (
        "films hardly anyone has rated (9 MovieLens ratings or fewer)"
    )
    assert ListFilters(max_ratings=1).describe() == (
        "films hardly anyone has rated (1 MovieLens rating or fewer)"
    )


def test_the_popularity_band_masks_by_training_ratings(service):
    counts = np.asarray(service.model.item_counts)
    low = service.facts.allowed(ListFilters(max_ratings=9))
    high = service.facts.allowed(ListFilters(min_ratings=10))
    assert low.tolist() == (counts <= 9).tolist()
    assert high.tolist() == (counts >= 10).tolist()
    assert not (low & high).any() and (low | high).all()


@pytest.mark.parametrize(
    "export",
    [
        "ratings_small_crlf.csv",
        "ratings_2026_spanish.csv",
        "ratings_2022_empty_year_crlf.csv",
        "ratings_2017_slug_uris_crlf.csv",
        "ratings_2026_cjk.csv",
    ],
)
def test_obscure_lists_are_clearly_less_known_than_less_known_lists(
    service, letterboxd_dir: Path, export: str
):
    """The reviewer's finding: the two levels gave nearly the same list. Now every film on an
    obscure list has fewer training ratings than every film on a less-known list, and the mean
    is at most a third."""
    films = real_films(service, letterboxd_dir, export)

    def counts(level: str) -> np.ndarray:
        result = service.recommend_films(films, n=20, filters=build_filters(service, level))
        assert len(result.items) == 20
        cols = service.model.positions(np.array([r.movie_id for r in result.items]))
        return np.asarray(service.model.item_counts[cols], dtype=np.float64)

    less_known, obscure = counts("less-known"), counts("obscure")
    assert obscure.max() <= 9 < 10 <= less_known.min()
    assert obscure.mean() <= less_known.mean() / 3, (obscure.mean(), less_known.mean())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"genre": "Horor"}, "'Horor' is not a genre the catalogue knows. Choose from: Action"),
        ({"from_decade": 1990, "to_decade": 1970}, "The decade range starts after it ends"),
        ({"genre": "Horror", "exclude_genre": "horror"}, "Horror is both wanted and excluded"),
        ({"genre": "IMAX", "to_decade": 1920}, "No film the model knows fits IMAX · to 1929"),
        ({"discover": "weird"}, "discover must be one of balanced, less-known, obscure"),
    ],
)
def test_bad_options_say_what_is_wrong(service, options: dict, message: str):
    with pytest.raises(BadFilter) as error:
        build_filters(service, **options)
    assert str(error.value).startswith(message)


def test_genre_autocomplete_completes_the_last_of_several(service):
    assert [c.value for c in genre_choices(service.facts, "thr")] == ["Thriller"]
    assert [c.value for c in genre_choices(service.facts, "Horror, Th")] == ["Horror, Thriller"]
    everything = genre_choices(service.facts, "")
    assert [c.value for c in everything] == list(service.facts.genres)
    assert len(everything) <= 25
    assert all(c.name == c.value for c in everything)
    # Genres already chosen are not offered again.
    assert "Horror, Horror" not in [c.value for c in genre_choices(service.facts, "Horror, ")]

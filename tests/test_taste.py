"""Taste profiles: crowd statistics, generosity, genre liking, dimension names, signature.

Hand-built people with known answers on the real ml-latest-small data, hand-computed crowd
statistics on a tiny ratings table, synthetic components for naming, and real exports for
sanity.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.crowd import MIN_FILM_RATINGS, CrowdStats, crowd_stats
from recommender.dimensions import genre_phrase, name_components, name_parts
from recommender.model_store import load_model, save_model
from recommender.taste import SIGNATURE_WORDS, _fitting, build_profile, rater_word
from recommender.taste_data import TasteData
from recommender.user_films import UserFilm, UserFilms

pytestmark = pytest.mark.movielens

REAL = ("real", "ratings_2022_empty_year_crlf.csv")


def person(films: list[tuple[int, float | None]], watched_only: tuple[int, ...] = ()) -> UserFilms:
    """Stored films from (movieId, stars) pairs (and films watched without a rating)."""
    rows = [UserFilm(m, f"film {m}", None, s, True, False) for m, s in films]
    rows += [UserFilm(m, f"film {m}", None, None, True, False) for m in watched_only]
    ratings = tuple(s for _, s in films if s is not None)
    return UserFilms(
        films=tuple(rows),
        seen_ids=frozenset(f.movie_id for f in rows),
        ratings=ratings,
        counts={"watched": len(rows), "rated": len(ratings)},
    )


@pytest.fixture(scope="module")
def crowd(service) -> CrowdStats:
    stats = service.taste_data.get().crowd
    assert stats is not None, "the session model was trained with crowd statistics"
    return stats


def well_rated(crowd: CrowdStats, n: int, below: float = 4.0, skip: int = 0) -> list[int]:
    """The ``n`` most-rated films whose crowd mean is under ``below`` stars."""
    order = np.argsort(-crowd.count, kind="stable")
    ids = [int(crowd.film_ids[i]) for i in order if crowd.mean[i] < below]
    return ids[skip : skip + n]


def crowd_mean(crowd: CrowdStats, movie_id: int) -> float:
    return float(crowd.mean[crowd.positions(np.array([movie_id]))[0]])


def only_genre(catalogue, genre: str, ids: list[int]) -> list[int]:
    genres = catalogue.movies["genres"].reindex(ids)
    return [i for i in ids if genres[i] == genre]


# -- crowd statistics by hand -----------------------------------------------------------------


def tiny_ratings() -> pd.DataFrame:
    """Seven raters of film 1 (6 ratings needed for a leave-one-out mean over 5 others)."""
    rows = [(u, 1, s) for u, s in zip(range(1, 8), [3, 4, 5, 2, 4, 3, 4], strict=True)]
    rows += [(u, 2, 4.5) for u in range(1, 8)]
    rows += [(1, 3, 0.5)]  # one rating: never counts toward an offset
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating"])


def test_crowd_stats_by_hand(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("recommender.crowd.MIN_RATER_FILMS", 2)
    stats = crowd_stats(tiny_ratings())
    np.testing.assert_array_equal(stats.film_ids, [1, 2, 3])
    np.testing.assert_array_equal(stats.count, [7, 7, 1])
    np.testing.assert_allclose(stats.mean, [25 / 7, 4.5, 0.5], rtol=1e-6)
    # Half-star bins: film 1 has one 2★, two 3★, three 4★ and one 5★.
    np.testing.assert_array_equal(stats.hist[0], [0, 0, 0, 1, 0, 2, 0, 3, 0, 1])
    assert stats.hist[2, 0] == 1
    # Rater 3 gave 5★ where the six others average 20/6: offset (5 - 20/6 + 0) / 2 on films 1, 2.
    assert stats.n_raters == 7
    assert stats.offsets.max() == pytest.approx((5 - 20 / 6) / 2, abs=1e-5)
    assert stats.offsets.min() == pytest.approx((2 - 23 / 6) / 2, abs=1e-5)


def test_crowd_arrays_round_trip_through_a_model_folder(tmp_path: Path):
    stats = crowd_stats(tiny_ratings())
    folder = save_model(
        tmp_path / "m",
        np.ones((2, 3)),
        np.array([1, 2, 3]),
        np.array([7, 7, 1]),
        {"dataset": "unit", "crowd": stats.meta()},
        stats.arrays(),
    )
    model = load_model(folder)
    loaded = CrowdStats.from_stored(dict(model.extras), model.metadata)
    assert loaded is not None
    np.testing.assert_array_equal(loaded.hist, stats.hist)
    np.testing.assert_array_equal(loaded.offsets, stats.offsets)
    assert loaded.residual_sd == stats.residual_sd
    # The extra arrays are checksummed like the model's own.
    (folder / "crowd_mean.npy").write_bytes((folder / "crowd_count.npy").read_bytes())
    with pytest.raises(Exception, match="checksum"):
        load_model(folder)


def test_a_model_without_crowd_statistics_computes_them_from_the_data(
    service, movielens_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    model = service.model
    meta = {k: v for k, v in model.metadata.items() if k not in ("crowd", "dimensions")}
    old = load_model(
        save_model(tmp_path / "old", model.components, model.item_ids, model.item_counts, meta)
    )
    assert not old.extras
    with caplog.at_level(logging.WARNING, logger="recommender.taste_data"):
        ref = TasteData(old, service.catalogue, movielens_dir).get()
    assert "computing them from" in caplog.text
    assert "no dimension names" in caplog.text
    assert ref.crowd is not None and ref.crowd.n_raters == 610
    np.testing.assert_array_equal(ref.crowd.mean, service.taste_data.get().crowd.mean)
    assert len(ref.dimensions.names) == model.n_components
    # Without a data folder: no crowd (and the profile says so), names from the catalogue.
    bare = TasteData(old, service.catalogue, None).get()
    assert bare.crowd is None and bare.dimensions.source == "genres"


# -- generosity -------------------------------------------------------------------------------


def test_rating_every_film_a_star_above_the_crowd_is_generous(service, crowd: CrowdStats):
    ids = well_rated(crowd, 40)
    generous = person([(m, crowd_mean(crowd, m) + 1.0) for m in ids])
    g = build_profile(service, generous).generosity
    assert g is not None and g.n_films == 40
    assert g.offset == pytest.approx(1.0, abs=1e-5)
    assert g.percentile is not None and g.percentile >= 95
    assert g.low is not None and g.high is not None and g.low <= g.percentile <= g.high

    harsh = person([(m, crowd_mean(crowd, m) - 1.0) for m in ids])
    h = build_profile(service, harsh).generosity
    assert h is not None and h.percentile is not None and h.percentile <= 5

    typical = person([(m, crowd_mean(crowd, m) + crowd.centre) for m in ids])
    t = build_profile(service, typical).generosity
    assert t is not None and t.percentile is not None and 35 <= t.percentile <= 65


def test_few_shared_films_are_shrunk_and_too_few_give_no_percentile(service, crowd: CrowdStats):
    ids = well_rated(crowd, 40)
    few = person([(m, crowd_mean(crowd, m) + 1.0) for m in ids[:6]])
    many = person([(m, crowd_mean(crowd, m) + 1.0) for m in ids])
    g_few = build_profile(service, few).generosity
    g_many = build_profile(service, many).generosity
    assert g_few is not None and g_many is not None
    assert g_few.offset == pytest.approx(1.0, abs=1e-5)
    assert g_few.shrunk is not None and g_many.shrunk is not None
    assert crowd.centre < g_few.shrunk < g_many.shrunk < 1.0
    assert g_few.percentile is not None and g_many.percentile is not None
    assert g_few.percentile < g_many.percentile
    assert (g_few.high - g_few.low) > (g_many.high - g_many.low)  # type: ignore[operator]

    three = build_profile(service, person([(m, 5.0) for m in ids[:3]])).generosity
    assert three is not None and three.n_films == 3 and three.percentile is None
    # A film MovieLens raters barely rated does not count toward it.
    rare = int(crowd.film_ids[np.flatnonzero(crowd.count < MIN_FILM_RATINGS)[0]])
    g = build_profile(service, person([(rare, 5.0), *[(m, 4.0) for m in ids[:5]]])).generosity
    assert g is not None and g.n_films == 5


# -- genres, decades, signature ---------------------------------------------------------------


def test_genre_liking_ranks_what_they_rate_above_their_own_average(
    service, crowd: CrowdStats, catalogue
):
    pool = well_rated(crowd, 3000, below=5.1)
    horror = only_genre(catalogue, "Horror", pool)[:8]
    comedy = only_genre(catalogue, "Comedy", pool)[:12]
    drama = only_genre(catalogue, "Drama", pool)[:12]
    assert len(horror) == 8 and len(comedy) == 12 and len(drama) == 12
    films = person(
        [(m, 4.5) for m in horror] + [(m, 2.0) for m in comedy] + [(m, 3.5) for m in drama]
    )
    profile = build_profile(service, films)
    assert profile.basis == "ratings"
    assert [p.name for p in profile.favourite_genres] == ["Horror", "Drama"]
    by_name = {p.name: p for p in profile.genres}
    mean = (8 * 4.5 + 12 * 2.0 + 12 * 3.5) / 32
    # Σ(stars − mean) / (n + 5): the shrunk liking the docstring defines.
    assert by_name["Horror"].liking == pytest.approx(8 * (4.5 - mean) / 13)
    assert by_name["Comedy"].liking == pytest.approx(12 * (2.0 - mean) / 17)
    assert by_name["Horror"].films == 8 and by_name["Horror"].mean_stars == 4.5
    assert profile.genres[-1].name == "Comedy"
    assert SIGNATURE_WORDS["Horror"] in profile.signature
    assert profile.signature.startswith(rater_word(profile.generosity.percentile))  # type: ignore[union-attr]
    assert profile.mean_stars == pytest.approx(mean) and profile.n_rated == 32


def test_more_films_beat_one_extreme_film(service, crowd: CrowdStats, catalogue):
    pool = well_rated(crowd, 3000, below=5.1)
    western = only_genre(catalogue, "Western", pool)[:1]
    horror = only_genre(catalogue, "Horror", pool)[:20]
    comedy = only_genre(catalogue, "Comedy", pool)[:20]
    films = person([(western[0], 5.0)] + [(m, 4.0) for m in horror] + [(m, 3.0) for m in comedy])
    genres = {p.name: p for p in build_profile(service, films).genres}
    assert genres["Horror"].liking > genres["Western"].liking > 0


def test_decades_come_from_the_catalogue_years(service, crowd: CrowdStats, catalogue):
    pool = well_rated(crowd, 3000, below=5.1)
    years = catalogue.movies["year"].reindex(pool)
    seventies = [m for m in pool if 1970 <= (years[m] or 0) <= 1979][:10]
    nineties = [m for m in pool if 1990 <= (years[m] or 0) <= 1999][:10]
    films = person([(m, 5.0) for m in seventies] + [(m, 2.5) for m in nineties])
    profile = build_profile(service, films)
    assert profile.favourite_decades[0].name == "1970s"
    assert "1970s" in profile.signature
    assert "1990s" not in [p.name for p in profile.favourite_decades]


def test_watched_only_counts_genres_and_claims_no_generosity(service, crowd: CrowdStats):
    films = person([], watched_only=tuple(well_rated(crowd, 30)))
    profile = build_profile(service, films)
    assert profile.basis == "watched" and profile.n_rated == 0 and profile.mean_stars is None
    assert profile.generosity is not None and profile.generosity.percentile is None
    assert profile.signature.startswith("A film lover")
    assert profile.genres and all(p.mean_stars is None for p in profile.genres)
    assert profile.genres[0].films == max(p.films for p in profile.genres)


# -- taste dimensions -------------------------------------------------------------------------


def synthetic_components(catalogue, crowd: CrowdStats):
    """Three components over 150 single-genre films: horror, comedy, and a uniform one."""
    pool = [int(i) for i in crowd.film_ids[np.argsort(-crowd.count)][:4000]]
    horror = only_genre(catalogue, "Horror", pool)[:50]
    comedy = only_genre(catalogue, "Comedy", pool)[:50]
    drama = only_genre(catalogue, "Drama", pool)[:50]
    ids = np.array(sorted(horror + comedy + drama), dtype=np.int64)
    h = np.full((3, ids.size), 0.01)
    h[0, np.isin(ids, horror)] = 1.0
    h[1, np.isin(ids, comedy)] = 1.0
    h[2] = 0.3
    counts = np.arange(ids.size, 0, -1) * 10
    return h, ids, counts, horror, comedy


def test_a_horror_component_is_named_horror_with_well_known_examples(service, catalogue, crowd):
    h, ids, counts, horror, comedy = synthetic_components(catalogue, crowd)
    dims = name_components(h, ids, counts, catalogue.movies["genres"], None)
    assert dims.source == "genres"
    assert "horror" in dims.names[0].lower()
    assert dims.names[1] == "Comedies"
    assert set(dims.examples[0]) <= set(horror) and set(dims.examples[1]) <= set(comedy)
    # Examples are the most-rated of the top loaders.
    rated = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    top = sorted(horror, key=lambda m: -rated[m])[:3]
    assert sorted(dims.examples[0].tolist()) == sorted(top)


def test_tags_name_a_component_only_when_distinctive(service, catalogue, crowd):
    h, ids, counts, horror, comedy = synthetic_components(catalogue, crowd)
    tags = pd.DataFrame(
        [(m, "zombies") for m in horror[:6]]
        + [(m, "in netflix queue") for m in horror[:20]]  # bookkeeping: never a name
        + [(m, "horror") for m in horror[:20]]  # only repeats the genre
        + [(horror[0], "one film only")]
        + [(m, "zombies") for m in comedy[:1]],
        columns=["movieId", "tag"],
    )
    dims = name_components(h, ids, counts, catalogue.movies["genres"], tags)
    assert dims.source == "genres and tags"
    assert dims.names[0] == "Horror films: zombies"
    assert dims.names[1] == "Comedies"


def test_genre_phrases():
    assert genre_phrase(["Crime", "Thriller"]) == "Crime thrillers"
    assert genre_phrase(["Comedy", "Romance"]) == "Romantic comedies"
    assert genre_phrase(["Horror"]) == "Horror films"
    assert genre_phrase([]) == "Films"


def test_dimensions_are_the_components_the_person_loads_on_most(service, crowd: CrowdStats):
    ids = well_rated(crowd, 60, below=5.1)
    films = person([(m, 5.0 if i % 3 else 2.0) for i, m in enumerate(ids)])
    profile = build_profile(service, films)
    dims = profile.dimensions
    assert 1 <= len(dims) <= 3
    shares = [d.share for d in dims]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1 + 1e-9
    ref = service.taste_data.get()
    user, _ = service.user_vector(films)
    w = service.foldin.transform(user.positions, user.values) * ref.scale
    assert dims[0].index == int(np.argmax(w))
    for d in dims:
        assert d.name == ref.dimensions.names[d.index]
        assert [e.movie_id for e in d.examples] == [
            int(i) for i in ref.dimensions.examples[d.index] if i >= 0
        ]
        assert all(e.title and not e.title.endswith(")") for e in d.examples)
        assert set(d.yours) <= {f.name for f in films.films}


def test_nothing_the_model_can_read_gives_no_dimensions(service, crowd: CrowdStats):
    films = person([(m, 1.0) for m in well_rated(crowd, 8)])  # all at their own average
    profile = build_profile(service, films)
    assert profile.dimensions == ()
    assert profile.n_rated == 8


# -- a real export ----------------------------------------------------------------------------


def test_a_real_export_gives_sane_numbers(service, letterboxd_dir: Path):
    export = service.read_export_file(letterboxd_dir.joinpath(*REAL))
    films, _ = service.user_films(export)
    profile = build_profile(service, films)
    assert profile.n_rated == 1678 and profile.n_watched == 1678
    assert profile.n_films == len(films.films) > 1400
    assert profile.mean_stars is not None and 3.0 < profile.mean_stars < 4.5
    assert profile.rating_counts.sum() == 1678
    g = profile.generosity
    assert g is not None and g.n_films > 300 and g.percentile is not None
    assert 5 < g.percentile < 95 and g.high - g.low < 15  # type: ignore[operator]
    assert profile.shared_counts.sum() == g.n_films
    assert profile.crowd_shares.sum() == pytest.approx(1.0)
    assert len(profile.favourite_genres) == 3 and len(profile.favourite_decades) == 3
    assert all(p.films >= 3 and p.liking > 0 for p in profile.favourite_genres)
    assert len(profile.dimensions) == 3
    assert all(len(d.examples) == 3 for d in profile.dimensions)
    assert profile.signature and len(profile.signature) < 120


@pytest.mark.parametrize(
    "export",
    ["ratings_2022_empty_year_crlf.csv", "ratings_2017_slug_uris_crlf.csv", "ratings_2026_cjk.csv"],
)
def test_your_films_under_a_dimension_carry_its_named_genres(service, letterboxd_dir, export):
    """ "War dramas · Yours: Rear Window" read as nonsense: a film of theirs is named under a
    dimension only if it has one of the genres the name gives (all of them and the era first)."""
    films, _ = service.user_films(service.read_export_file(letterboxd_dir / "real" / export))
    movies = service.catalogue.movies

    def genres(f) -> set[str]:
        return set(str(movies.at[f.movie_id, "genres"]).split("|"))

    for d in build_profile(service, films).dimensions:
        claims = name_parts(d.name)
        for title in d.yours:
            named = [f for f in films.films if f.name == title]
            assert not claims.genres or any(genres(f) & set(claims.genres) for f in named)


def test_a_name_that_claims_nothing_keeps_the_strongest_loaders(service, letterboxd_dir):
    films, _ = service.user_films(service.read_export_file(letterboxd_dir.joinpath(*REAL)))
    some = films.films[:4]
    assert _fitting(service, some, "Eclectic picks") == some
    dramas = _fitting(service, some, "Dramas")
    movies = service.catalogue.movies
    assert all("Drama" in str(movies.at[f.movie_id, "genres"]) for f in dramas)


def test_extra_array_names_stay_inside_the_model_folder(tmp_path: Path):
    args = (np.ones((1, 2)), np.array([1, 2]), np.array([1, 1]), {"dataset": "unit"})
    with pytest.raises(ValueError, match="invalid extra array name"):
        save_model(tmp_path / "a", *args, {"../escape": np.zeros(1)})
    with pytest.raises(ValueError, match="invalid extra array name"):
        save_model(tmp_path / "b", *args, {"components": np.zeros(1)})
    folder = save_model(tmp_path / "c", *args, {"fine_name": np.zeros(1)})
    meta_path = folder / "metadata.json"
    meta_path.write_text(meta_path.read_text().replace('"fine_name"', '"../../etc/passwd"'))
    with pytest.raises(Exception, match="invalid extra arrays"):
        load_model(folder)

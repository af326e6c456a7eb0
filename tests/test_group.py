"""/movienight's ranking on hand-built members and real exports (session model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from people_factories import films_of, popular_ids, varied_stars

from recommender.errors import BoxdrecError
from recommender.filters import ListFilters
from recommender.group import (
    BLEND,
    LOW_Z,
    MAX_MEMBERS,
    best_for_text,
    fair_scores,
    lift_order,
    lifts,
    movie_night,
)
from recommender.service import RecommenderService
from recommender.user_films import UserFilms

pytestmark = pytest.mark.movielens

REAL = (
    "ratings_2022_empty_year_crlf.csv",
    "ratings_2017_slug_uris_crlf.csv",
    "ratings_2026_spanish.csv",
)


@pytest.fixture(scope="module")
def ids(service: RecommenderService) -> list[int]:
    return popular_ids(service, 200)


@pytest.fixture(scope="module")
def real_members(service: RecommenderService, letterboxd_dir: Path) -> list[UserFilms]:
    return [
        service.user_films(service.read_export_file(letterboxd_dir / "real" / name))[0]
        for name in REAL
    ]


def member(service, ids, lo: int, hi: int, seed: int) -> UserFilms:
    return films_of(service, dict(zip(ids[lo:hi], varied_stars(hi - lo, seed), strict=True)))


def test_least_misery_puts_a_film_one_member_would_hate_below_a_moderate_one():
    # Normalised preferences (rows: three members; columns: two films).
    loved_by_two = [2.0, 2.0, -2.0]  # two would love it, one would hate it
    fine_for_all = [0.6, 0.6, 0.6]  # everyone mildly likes it
    prefs = np.array([loved_by_two, fine_for_all]).T
    fair = fair_scores(prefs)
    assert np.mean(loved_by_two) > np.mean(fine_for_all)  # a plain average picks the first
    assert fair[1] > fair[0]  # the fair aggregate does not
    assert fair == pytest.approx(BLEND * prefs.min(axis=0) + (1 - BLEND) * prefs.mean(axis=0))


def test_picks_are_ordered_by_the_fair_aggregate_of_each_members_stars(service, ids):
    members = [member(service, ids, 0, 40, 1), member(service, ids, 20, 60, 2)]
    result = movie_night(service, members, 8, names=["Ana", "Bo"])
    assert len(result.picks) == 8
    assert [p.rank for p in result.picks] == list(range(1, 9))
    fair = [p.fair for p in result.picks]
    assert fair == sorted(fair, reverse=True)
    for pick in result.picks:
        assert len(pick.stars) == 2 and all(s is not None and 0.5 <= s <= 5 for s in pick.stars)
        prefs = np.array(pick.preference)
        assert pick.fair == pytest.approx(fair_scores(prefs[:, None])[0], abs=1e-3)
        assert pick.best_for == lift_order(pick.lift)[0]


def joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def test_best_for_agrees_with_the_stars_shown_beside_it(service, real_members):
    """ "Alice ★4.3 · Bob ★3.7 · Carol ★4.5 … Best for Alice" contradicted the stars. Now the
    member named is the one whose shown stars are furthest above their own average, and the
    reason quotes that lift."""
    names = ["Alice", "Bob", "Carol"]
    result = movie_night(service, real_members, 10, names=names)
    means = [float(np.mean(m.ratings)) for m in real_members]
    assert len(result.picks) == 10
    for pick in result.picks:
        shown = [round(s - m, 1) for s, m in zip(pick.stars, means, strict=True)]
        assert list(pick.lift) == shown
        top = max(shown)
        assert shown[pick.best_for] == top
        tied = [n for n, lift in zip(names, shown, strict=True) if lift == top]
        if top > 0:
            assert pick.reason.startswith(
                f"Best for {joined(tied)} ({top:+.1f}★ above their average)."
            )
        else:
            assert pick.reason.startswith(
                f"Nobody is predicted above their own average; closest for {joined(tied)} "
                f"({top:+.1f}★)."
            )


def test_lifts_and_their_order():
    assert lifts((4.7, 4.1, None), (3.8, 3.3, 4.0)) == (0.9, 0.8, None)
    assert lifts((4.0,), (None,)) == (None,)
    assert lift_order((0.5, 0.9, None, 0.9)) == [1, 3, 0, 2]  # ties in member order
    assert best_for_text(["A", "B", "C"], (0.5, 0.9, 0.9), [1, 2, 0]) == (
        "Best for B and C (+0.9★ above their average)."
    )
    assert best_for_text(["A", "B"], (-0.2, -0.4), [0, 1]) == (
        "Nobody is predicted above their own average; closest for A (-0.2★)."
    )


def test_movie_night_never_returns_a_film_any_member_has_seen(service, real_members):
    hidden = [{}, {}, {}]
    first = movie_night(service, real_members, 15, names=["A", "B", "C"], hidden=hidden)
    seen = set().union(*(m.seen_ids for m in real_members))
    picked = {p.film.movie_id for p in first.picks}
    assert len(picked) == 15 and not picked & seen
    # A film hidden as "seen it" by one member is left out as if watched.
    gone = first.picks[0].film.movie_id
    again = movie_night(
        service, real_members, 15, names=["A", "B", "C"], hidden=[{}, {gone: "seen"}, {}]
    )
    assert gone not in {p.film.movie_id for p in again.picks}


def test_rewatches_allowed_never_bring_back_a_film_someone_rated_low(service, ids):
    members = [member(service, ids, 0, 80, 3), member(service, ids, 0, 80, 4)]
    result = movie_night(service, members, 20, allow_rewatch=True, names=["Ana", "Bo"])
    picked = {p.film.movie_id for p in result.picks}
    assert picked & set(ids[:80]), "with rewatches the films they both saw are candidates"
    for films in members:
        mean, std = np.mean(films.ratings), np.std(films.ratings)
        low = {f.movie_id for f in films.rated if f.stars <= 2 or f.stars <= mean - LOW_Z * std}
        assert not picked & low


def test_genre_and_decade_filters_are_honoured(service, real_members):
    filters = ListFilters(
        genres=("Comedy",), exclude_genres=("Romance",), year_from=1980, year_to=1989
    )
    result = movie_night(service, real_members[:2], 10, filters, names=["A", "B"])
    assert result.picks
    for pick in result.picks:
        assert "Comedy" in pick.film.genres and "Romance" not in pick.film.genres
        assert pick.film.year is not None and 1980 <= pick.film.year <= 1989
    assert result.filters == filters


def test_obscurity_favours_less_known_films(service, real_members):
    known = movie_night(service, real_members[:2], 10, names=["A", "B"])
    obscure = movie_night(
        service, real_members[:2], 10, ListFilters(obscurity=1.0), names=["A", "B"]
    )
    pct = service.facts.popularity_percentile
    positions = service.model.positions

    def median_popularity(result) -> float:
        cols = positions(np.array([p.film.movie_id for p in result.picks]))
        return float(np.median(pct[cols]))

    assert median_popularity(obscure) < median_popularity(known)


def test_a_member_with_too_little_data_is_named(service, ids):
    fine = member(service, ids, 0, 40, 5)
    # Every film rated at 2 stars or less: nothing says what they like.
    gloomy = films_of(service, dict.fromkeys(ids[:10], 1.0))
    with pytest.raises(BoxdrecError, match=r"^Bo's saved films say too little"):
        movie_night(service, [fine, gloomy], 5, names=["Ana", "Bo"])


@pytest.mark.parametrize("size", [1, MAX_MEMBERS + 1])
def test_group_size_is_2_to_8(service, ids, size):
    members = [member(service, ids, 0, 30, i) for i in range(size)]
    with pytest.raises(BoxdrecError, match="needs 2 to 8 people"):
        movie_night(service, members, 5)


def test_filters_nothing_fits_says_so(service, real_members):
    filters = ListFilters(genres=("Film-Noir",), year_from=2015, year_to=2019)
    with pytest.raises(BoxdrecError, match="widen the filters"):
        movie_night(service, real_members[:2], 5, filters)


def test_eight_members_and_determinism(service, ids):
    members = [member(service, ids, 10 * i, 10 * i + 40, i) for i in range(MAX_MEMBERS)]
    names = [f"P{i}" for i in range(MAX_MEMBERS)]
    first = movie_night(service, members, 5, names=names)
    assert first == movie_night(service, members, 5, names=names)
    assert all(len(p.stars) == MAX_MEMBERS for p in first.picks)

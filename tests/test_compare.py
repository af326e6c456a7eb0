"""/compare's measures on hand-built people over the session model (ml-latest-small)."""

from __future__ import annotations

import pytest
from people_factories import films_of, popular_ids, varied_stars

from recommender.compare import (
    LOVED_Z,
    SHRINK_FILMS,
    Comparison,
    agreement_words,
    compare,
    taste_words,
    verdict,
)
from recommender.service import RecommenderService

pytestmark = pytest.mark.movielens


def shrink(n: int) -> float:
    return n / (n + SHRINK_FILMS)


@pytest.fixture(scope="module")
def ids(service: RecommenderService) -> list[int]:
    return popular_ids(service, 120)


def test_identical_people_agree_fully_shrunk_by_their_overlap(service, ids):
    ratings = dict(zip(ids[:40], varied_stars(40), strict=True))
    result = compare(service, films_of(service, ratings), films_of(service, ratings))
    assert result.n_shared == 40
    assert result.raw_agreement == pytest.approx(1.0)
    assert result.agreement == pytest.approx(shrink(40))
    assert result.confidence == "high"
    assert result.confidence_label == "high: 40 shared rated films"
    assert result.taste_similarity == pytest.approx(1.0)
    assert result.verdict.startswith("You two rate films very much alike")
    assert not result.disagreements
    assert not result.for_a and not result.for_b  # nothing one saw that the other did not


def test_opposite_ratings_give_negative_agreement(service, ids):
    stars = varied_stars(40, seed=1)
    a = dict(zip(ids[:40], stars, strict=True))
    b = {m: 5.5 - s for m, s in a.items()}  # 5 <-> 0.5, 4 <-> 1.5: a mirror image
    result = compare(service, films_of(service, a), films_of(service, b))
    assert result.raw_agreement == pytest.approx(-1.0)
    assert result.agreement == pytest.approx(-shrink(40))
    assert agreement_words(result.agreement) == "disagreement"
    assert "disagree" in result.verdict
    assert not result.shared_favourites
    # The biggest gaps come first: 5 against 0.5 before smaller differences.
    gaps = [abs(f.z_a - f.z_b) for f in result.disagreements]
    assert gaps == sorted(gaps, reverse=True) and gaps
    first = result.disagreements[0]
    assert abs(first.stars_a - first.stars_b) == 4.5


def test_rating_style_is_normalised_away(service, ids):
    """A stingy rater one star below a generous one, film for film, agrees with them fully."""
    stars = [min(5.0, max(1.5, s)) for s in varied_stars(30, seed=2)]
    generous = dict(zip(ids[:30], stars, strict=True))
    stingy = {m: s - 1.0 for m, s in generous.items()}
    result = compare(service, films_of(service, generous), films_of(service, stingy))
    assert result.raw_agreement == pytest.approx(1.0)
    assert result.agreement == pytest.approx(shrink(30))
    assert not result.disagreements


def test_a_tiny_overlap_is_shrunk_toward_neutral_with_low_confidence(service, ids):
    stars = varied_stars(30, seed=3)
    a = dict(zip(ids[:30], stars, strict=True))
    # b shares four films, rated as a did, and rates 26 others as a rated the rest: the same
    # rating style, so the four films alone agree perfectly.
    b = dict(zip(ids[:4], stars[:4], strict=True)) | dict(zip(ids[60:86], stars[4:], strict=True))
    result = compare(service, films_of(service, a), films_of(service, b))
    assert result.n_shared == 4
    assert result.raw_agreement == pytest.approx(1.0)
    assert result.agreement == pytest.approx(4 / 14)
    assert result.confidence == "low"
    assert result.confidence_label == "low: 4 shared rated films"
    assert "few shared films" in result.verdict


def test_no_shared_films_still_gives_a_taste_similarity(service, ids):
    a = films_of(service, dict(zip(ids[:25], varied_stars(25, seed=4), strict=True)))
    b = films_of(service, dict(zip(ids[30:55], varied_stars(25, seed=5), strict=True)))
    result = compare(service, a, b)
    assert result.n_shared == 0
    assert result.agreement is None and result.raw_agreement is None
    assert result.confidence == "none"
    assert result.taste_similarity is not None and 0.0 <= result.taste_similarity <= 1.0
    assert result.verdict.startswith("Too few films rated by both of you")
    assert taste_words(result.taste_similarity) in result.verdict


def test_each_gets_films_the_other_loved_and_has_not_seen(service, ids):
    a_stars = varied_stars(40, seed=6)
    a = dict(zip(ids[:40], a_stars, strict=True))
    b = dict(zip(ids[20:60], varied_stars(40, seed=7), strict=True))
    fa, fb = films_of(service, a, watchlist=ids[40:60]), films_of(service, b)
    result = compare(service, fa, fb)
    assert result.for_a and result.for_b
    for picks, lover, viewer in ((result.for_a, b, fa), (result.for_b, a, fb)):
        mean = sum(lover.values()) / len(lover)
        for pick in picks:
            assert pick.film.movie_id not in viewer.seen_ids
            assert pick.their_stars == lover[pick.film.movie_id] > mean
            assert pick.predicted_stars is not None
        stars = [p.predicted_stars for p in picks]
        assert stars == sorted(stars, reverse=True), "ordered by the viewer's predicted stars"
    # Films of b's that a keeps on a watchlist are marked as such.
    assert all(p.on_watchlist == (p.film.movie_id in fa.watchlist_ids) for p in result.for_a)


def test_shared_favourites_are_high_for_both(service, ids):
    stars = varied_stars(40, seed=8)
    a = dict(zip(ids[:40], stars, strict=True))
    result = compare(service, films_of(service, a), films_of(service, a))
    favourites = result.shared_favourites
    assert favourites
    top = max(stars)
    assert favourites[0].stars_a == favourites[0].stars_b == top
    assert all(f.z_a >= 0.5 and f.z_b >= 0.5 for f in favourites)
    assert all(f.film.title and f.film.letterboxd_url for f in favourites)


def test_loved_threshold_is_relative_to_their_own_average(service, ids):
    """A generous rater's 4 stars is not "loved" when they average 4.2."""
    generous = dict(zip(ids[:20], [4.0, 4.5, 5.0, 4.0] * 5, strict=True))
    viewer = films_of(service, dict(zip(ids[50:70], varied_stars(20, seed=9), strict=True)))
    result = compare(service, viewer, films_of(service, generous))
    assert {p.their_stars for p in result.for_a} == {5.0}
    assert LOVED_Z == 1.0


def test_compare_is_deterministic(service, ids):
    a = films_of(service, dict(zip(ids[:50], varied_stars(50, seed=10), strict=True)))
    b = films_of(service, dict(zip(ids[25:75], varied_stars(50, seed=11), strict=True)))
    first, second = compare(service, a, b), compare(service, a, b)
    assert isinstance(first, Comparison)
    assert first == second


def test_verdict_wording():
    assert verdict(None, "none", None).startswith("Not enough films")
    assert verdict(0.6, "high", 0.8) == (
        "You two rate films very much alike, and your tastes are very close."
    )
    assert verdict(0.3, "low", None) == (
        "You mostly agree on the films you share (early days: few shared films)."
    )

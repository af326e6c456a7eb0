"""Per-user scaling: hand-computed z-scores, no-spread users, clipping, the star round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.scaling import CLIP, UserScale, fit_user_scale, scale_by_user


def unit(z: float) -> float:
    """A z-score clipped to ±2.5 and mapped to 0..1, written out by hand."""
    return (min(max(z, -2.5), 2.5) + 2.5) / 5.0


def test_two_users_hand_computed_and_interleaved():
    # User 0 rates 1, 2, 3 stars: mean 2, population std sqrt(2/3), z = ∓sqrt(3/2) and 0.
    # User 1 rates 2 and 5: mean 3.5, std 1.5, z = -1 and +1.
    # Rows are interleaved on purpose: the grouping must follow the codes, not the row order.
    codes = np.array([0, 1, 0, 1, 0])
    stars = np.array([1.0, 2.0, 2.0, 5.0, 3.0])
    got = scale_by_user(codes, stars, n_users=2)
    z = math.sqrt(1.5)
    expected = [unit(-z), unit(-1.0), unit(0.0), unit(1.0), unit(z)]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # The same numbers spelled out: 0.5 ∓ sqrt(1.5)/5 and 0.5 ∓ 0.2.
    np.testing.assert_allclose(got, [0.255051, 0.3, 0.5, 0.7, 0.744949], atol=1e-6)


def test_single_rating_is_neutral():
    got = scale_by_user(np.array([0, 1, 1, 1]), np.array([4.5, 1.0, 3.0, 5.0]), n_users=2)
    assert got[0] == 0.5
    # The other user is unaffected by the lone rating.
    std = np.std([1.0, 3.0, 5.0])
    np.testing.assert_allclose(got[1:], [unit((r - 3.0) / std) for r in (1.0, 3.0, 5.0)])


def test_all_equal_ratings_are_neutral():
    got = scale_by_user(np.array([0, 0, 0, 1, 1]), np.array([3.5, 3.5, 3.5, 2.0, 4.0]), 2)
    np.testing.assert_array_equal(got[:3], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(got[3:], [0.3, 0.7])


def test_outliers_clip_to_exactly_zero_and_one():
    # Nine ratings of 3 and one of 5: the outlier's z is sqrt(9) = 3 > 2.5, so it maps to
    # exactly 1; each 3 has z = -1/3. Mirrored for a low outlier: exactly 0.
    high = np.array([3.0] * 9 + [5.0])
    low = np.array([4.0] * 9 + [0.5])
    codes = np.repeat([0, 1], 10)
    got = scale_by_user(codes, np.concatenate([high, low]), n_users=2)
    assert got[9] == 1.0
    assert got[19] == 0.0
    np.testing.assert_allclose(got[:9], unit(-1 / 3))
    np.testing.assert_allclose(got[10:19], unit(1 / 3))
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_unused_user_codes_are_harmless():
    # n_users larger than the codes present (a user with no rows) must not divide by zero.
    got = scale_by_user(np.array([2, 2]), np.array([1.0, 5.0]), n_users=4)
    np.testing.assert_allclose(got, [unit(-1.0), unit(1.0)])


def test_fit_user_scale_agrees_with_scale_by_user():
    # Fold-in scales a Letterboxd user with UserScale; training scales MovieLens users with
    # scale_by_user. The two must give the same numbers for the same ratings.
    stars = np.array([0.5, 2.0, 3.0, 3.5, 4.0, 4.0, 5.0, 5.0, 5.0, 1.0])
    scale = fit_user_scale(stars)
    assert scale.mean == pytest.approx(stars.mean())
    assert scale.std == pytest.approx(stars.std())  # population std, ddof=0
    np.testing.assert_allclose(
        scale.to_unit(stars), scale_by_user(np.zeros(10, dtype=int), stars, 1), atol=1e-12
    )


def test_fit_user_scale_empty_and_single():
    assert fit_user_scale(np.array([])) == UserScale(mean=0.0, std=0.0)
    single = fit_user_scale(np.array([4.0]))
    assert single == UserScale(mean=4.0, std=0.0)
    np.testing.assert_array_equal(single.to_unit(np.array([4.0, 1.0])), [0.5, 0.5])


def test_to_unit_values_and_clipping():
    scale = UserScale(mean=3.0, std=1.0)
    np.testing.assert_allclose(scale.to_unit(np.array([3.0, 4.0, 2.0])), [0.5, 0.7, 0.3])
    # 3 ± 2.5 are the ends; further out is clipped.
    np.testing.assert_array_equal(scale.to_unit(np.array([0.5, 5.5, 0.0, 9.0])), [0, 1, 0, 1])
    assert CLIP == 2.5


def test_round_trip_within_clip_range():
    scale = UserScale(mean=3.2, std=0.9)
    stars = np.array([1.0, 2.5, 3.2, 4.0, 5.0])  # all within 3.2 ± 2.25
    np.testing.assert_allclose(scale.to_stars(scale.to_unit(stars)), stars, atol=1e-12)
    units = np.array([0.1, 0.4, 0.5, 0.77])
    np.testing.assert_allclose(scale.to_unit(scale.to_stars(units)), units, atol=1e-12)
    assert scale.to_stars(np.array(0.5)) == pytest.approx(3.2)


def test_to_stars_clips_to_letterboxd_range():
    generous = UserScale(mean=4.5, std=1.0)
    np.testing.assert_array_equal(generous.to_stars(np.array([1.0, 0.9])), [5.0, 5.0])
    assert generous.to_stars(np.array([0.0]))[0] == pytest.approx(2.0)
    harsh = UserScale(mean=1.0, std=1.0)
    np.testing.assert_array_equal(harsh.to_stars(np.array([0.0, 0.2])), [0.5, 0.5])
    assert harsh.to_stars(np.array([1.0]))[0] == pytest.approx(3.5)


def test_no_spread_scale_maps_back_to_the_mean():
    flat = UserScale(mean=3.5, std=0.0)
    np.testing.assert_array_equal(flat.to_unit(np.array([1.0, 3.5, 5.0])), [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(flat.to_stars(np.array([0.0, 0.5, 1.0])), [3.5, 3.5, 3.5])

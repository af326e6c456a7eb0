"""The profile chart: a small PNG of the right size, drawn safely from several threads."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import matplotlib.image
import numpy as np
import pytest

from recommender.charts import profile_chart
from recommender.crowd import Generosity
from recommender.taste import Preference, TasteProfile

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def profile(**changes) -> TasteProfile:
    base = TasteProfile(
        n_films=120,
        n_watched=130,
        n_rated=110,
        mean_stars=3.6,
        rating_counts=np.array([1, 2, 3, 5, 8, 20, 25, 25, 12, 9], dtype=float),
        shared_counts=np.array([0, 1, 2, 4, 6, 15, 20, 20, 10, 7], dtype=float),
        crowd_shares=np.array([0.01, 0.02, 0.03, 0.07, 0.08, 0.2, 0.18, 0.24, 0.09, 0.08]),
        generosity=Generosity(85, 0.3, 0.28, 71.0, 64.0, 77.0),
        genres=(
            Preference("Horror", 30, 4.2, 0.45),
            Preference("Drama", 60, 3.7, 0.08),
            Preference("Comedy", 25, 2.9, -0.4),
        ),
        decades=(Preference("1970s", 20, 4.0, 0.3),),
        basis="ratings",
        dimensions=(),
        signature="A warm rater of 1970s horror and drama",
        model_name="test",
    )
    return replace(base, **changes)


def decode(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def test_a_small_png_of_about_1000_by_500():
    png = profile_chart(profile())
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) < 100_000
    image = decode(png)
    assert image.shape[:2] == (500, 1000)
    # The background is Discord's dark embed grey, not white.
    corner = image[5, 5, :3]
    assert np.allclose(corner, np.array([0x2B, 0x2D, 0x31]) / 255, atol=0.02)


@pytest.mark.parametrize(
    "changes",
    [
        {
            "n_rated": 0,
            "mean_stars": None,
            "rating_counts": np.zeros(10),
            "shared_counts": np.zeros(10),
            "crowd_shares": np.zeros(10),
            "basis": "watched",
            "genres": (Preference("Drama", 40, None, 0.4),),
        },
        {"crowd_shares": np.zeros(10), "shared_counts": np.zeros(10), "generosity": None},
        {"genres": ()},
        {"genres": tuple(Preference(f"G{i}", 10 + i, 3.0, 0.01 * i - 0.1) for i in range(19))},
    ],
    ids=["watched-only", "no-crowd", "no-genres", "many-genres"],
)
def test_edge_cases_still_draw(changes):
    png = profile_chart(profile(**changes))
    assert decode(png).shape[:2] == (500, 1000)


def test_threads_draw_the_same_chart():
    # No pyplot: every call has its own figure, so concurrent calls cannot mix their drawings.
    profiles = [profile(), profile(genres=(Preference("Western", 9, 4.5, 0.9),))] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        pngs = list(pool.map(profile_chart, profiles))
    assert len({pngs[0], pngs[2], pngs[4], pngs[6]}) == 1
    assert len({pngs[1], pngs[3], pngs[5], pngs[7]}) == 1
    assert pngs[0] != pngs[1]

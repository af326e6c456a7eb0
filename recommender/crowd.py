"""What MovieLens raters as a crowd say about each film, and how generously each of them rates.

Computed once from a dataset's ``ratings.csv`` (at training time, stored in the model folder as
extra arrays; see :mod:`recommender.taste_data` for the fallback), then read by taste profiles:

* per film: the mean rating, the number of ratings and the half-star histogram (10 bins,
  0.5 … 5.0 stars);
* per MovieLens rater: their *offset*, the mean over their ratings of (their stars − the
  film's mean among the *other* raters), kept as 1001 quantiles. A Letterboxd user's offset,
  computed the same way on the films they share with MovieLens, is placed in it as a
  percentile (:meth:`CrowdStats.generosity`).

Only films with at least :data:`MIN_FILM_RATINGS` other ratings count toward an offset (a film's
mean from two people says little), and only raters with at least :data:`MIN_RATER_FILMS` such
films enter the reference distribution.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

STARS = np.arange(1, 11) / 2.0  # the ten half-star values, 0.5 … 5.0
MIN_FILM_RATINGS = 5
MIN_RATER_FILMS = 10
N_QUANTILES = 1001
# Offsets from fewer shared films than this give no percentile at all.
MIN_SHARED_FILMS = 5

ARRAY_NAMES = ("crowd_film_ids", "crowd_mean", "crowd_count", "crowd_hist", "crowd_offsets")
META_KEY = "crowd"


def star_bins(stars: np.ndarray) -> np.ndarray:
    """Half-star bin 0..9 of each rating (MovieLens and Letterboxd both use 0.5 … 5.0)."""
    return np.clip(np.rint(np.asarray(stars, dtype=np.float64) * 2) - 1, 0, 9).astype(np.int64)


@dataclass(frozen=True)
class Generosity:
    """How generously someone rates compared with MovieLens raters of the same films.

    ``offset`` is their mean of (stars − the film's MovieLens mean) over ``n_films`` shared
    films; ``shrunk`` pulls it toward the typical rater in proportion to how little
    ``n_films`` says (normal-normal shrinkage with the crowd's between-rater spread and
    per-rating noise); ``percentile`` places ``shrunk`` among MovieLens raters, and
    ``low``/``high`` does the same for ``shrunk`` ± one posterior standard deviation.
    ``percentile`` is ``None`` below :data:`MIN_SHARED_FILMS` shared films.
    """

    n_films: int
    offset: float | None
    shrunk: float | None
    percentile: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class CrowdStats:
    film_ids: np.ndarray  # int64, ascending
    mean: np.ndarray  # float32, mean MovieLens stars per film
    count: np.ndarray  # int32, number of ratings per film
    hist: np.ndarray  # films × 10 int32, ratings per half-star
    offsets: np.ndarray  # N_QUANTILES float32: quantiles 0..1 of raters' offsets
    residual_sd: float  # spread of one rating's offset around its rater's mean offset
    between_sd: float  # spread of raters' true offsets (noise removed)
    centre: float  # mean offset of the reference raters
    n_raters: int

    # -- storage in a model folder ------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(
            zip(
                ARRAY_NAMES,
                (self.film_ids, self.mean, self.count, self.hist, self.offsets),
                strict=True,
            )
        )

    def meta(self) -> dict[str, Any]:
        return {
            "residual_sd": self.residual_sd,
            "between_sd": self.between_sd,
            "centre": self.centre,
            "n_raters": self.n_raters,
            "min_film_ratings": MIN_FILM_RATINGS,
            "min_rater_films": MIN_RATER_FILMS,
        }

    @classmethod
    def from_stored(cls, extras: dict[str, np.ndarray], meta: dict[str, Any]) -> CrowdStats | None:
        """The stats a model folder holds, or ``None`` when it has none (older models)."""
        info = meta.get(META_KEY)
        if not isinstance(info, dict) or not all(k in extras for k in ARRAY_NAMES):
            return None
        ids, mean, count, hist, offsets = (extras[k] for k in ARRAY_NAMES)
        if not (ids.shape == mean.shape == count.shape and hist.shape == (ids.size, 10)):
            log.warning("the model's crowd arrays have mismatched shapes: ignoring them")
            return None
        return cls(
            film_ids=ids,
            mean=mean,
            count=count,
            hist=hist,
            offsets=offsets,
            residual_sd=float(info["residual_sd"]),
            between_sd=float(info["between_sd"]),
            centre=float(info["centre"]),
            n_raters=int(info["n_raters"]),
        )

    # -- queries ----------------------------------------------------------------------------

    def positions(self, movie_ids: np.ndarray) -> np.ndarray:
        """Row of each movieId, or -1 when MovieLens has no rating of it."""
        movie_ids = np.asarray(movie_ids, dtype=np.int64)
        if self.film_ids.size == 0:
            return np.full(movie_ids.shape, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.film_ids, movie_ids), self.film_ids.size - 1)
        return np.where(self.film_ids[pos] == movie_ids, pos, -1)

    def rated_enough(self, movie_ids: np.ndarray) -> np.ndarray:
        """Mask of the films whose MovieLens mean counts (:data:`MIN_FILM_RATINGS` ratings)."""
        pos = self.positions(movie_ids)
        keep = pos >= 0
        keep[keep] &= self.count[pos[keep]] >= MIN_FILM_RATINGS
        return keep

    def percentile(self, offset: float) -> float:
        """Share (0..100) of MovieLens raters whose offset is below ``offset``."""
        levels = np.linspace(0.0, 100.0, self.offsets.size)
        # Flat stretches of equal quantiles get their midpoint, not their top.
        lo = float(np.interp(offset, self.offsets, levels, left=0.0, right=100.0))
        hi = float(np.interp(-offset, -self.offsets[::-1], levels[::-1], left=100.0, right=0.0))
        return (lo + hi) / 2

    def generosity(self, movie_ids: np.ndarray, stars: np.ndarray) -> Generosity:
        """The :class:`Generosity` of someone who gave ``stars`` to ``movie_ids``."""
        pos = self.positions(movie_ids)
        keep = self.rated_enough(movie_ids)
        n = int(keep.sum())
        if n == 0:
            return Generosity(0, None, None, None, None, None)
        diffs = np.asarray(stars, dtype=np.float64)[keep] - self.mean[pos[keep]]
        offset = float(diffs.mean())
        # Normal-normal shrinkage toward the crowd's centre: the fewer films, the more the
        # offset is noise, and the less it may claim an extreme percentile.
        noise = self.residual_sd**2 / n
        prior = self.between_sd**2
        weight = prior / (prior + noise) if prior + noise > 0 else 0.0
        shrunk = self.centre + weight * (offset - self.centre)
        if n < MIN_SHARED_FILMS:
            return Generosity(n, offset, shrunk, None, None, None)
        sd = math.sqrt(weight * noise)
        return Generosity(
            n_films=n,
            offset=offset,
            shrunk=shrunk,
            percentile=self.percentile(shrunk),
            low=self.percentile(shrunk - sd),
            high=self.percentile(shrunk + sd),
        )

    def histogram(self, movie_ids: np.ndarray) -> np.ndarray:
        """The crowd's star distribution over these films (10 shares summing to 1, or zeros).

        Each film counts once, as in the user's own histogram: the mean of the films'
        normalised histograms, not the pooled ratings (which blockbusters would dominate).
        """
        pos = self.positions(movie_ids)
        pos = pos[pos >= 0]
        if pos.size == 0:
            return np.zeros(10)
        rows = np.asarray(self.hist[np.unique(pos)], dtype=np.float64)
        rows /= np.maximum(rows.sum(axis=1, keepdims=True), 1.0)
        return rows.mean(axis=0)


def crowd_stats(ratings: pd.DataFrame) -> CrowdStats:
    """Compute the stats from a ratings frame (userId, movieId, rating), vectorised.

    A few arrays the length of the frame: for ml-32m's 32M ratings about 2.5 GB peak and
    10–20 s (measured on 8M synthetic ratings: 0.7 GB, 2–4 s); ml-latest-small: negligible.
    """
    # Hash-based factorising: several times faster than sorting 32M ids with np.unique.
    film_codes, films = pd.factorize(ratings["movieId"].to_numpy(dtype=np.int64), sort=True)
    stars = ratings["rating"].to_numpy(dtype=np.float64)
    count = np.bincount(film_codes, minlength=films.size)
    total = np.bincount(film_codes, weights=stars, minlength=films.size)
    mean = total / np.maximum(count, 1)
    hist = np.bincount(film_codes * 10 + star_bins(stars), minlength=films.size * 10)
    hist = hist.reshape(films.size, 10).astype(np.int32)

    # Each rating against the film's mean among the other raters (leave-one-out), so nobody
    # is compared with an average that contains their own rating.
    others = count[film_codes] - 1
    usable = others >= MIN_FILM_RATINGS
    loo = (total[film_codes][usable] - stars[usable]) / others[usable]
    diffs = stars[usable] - loo
    user_codes, _ = pd.factorize(ratings["userId"].to_numpy()[usable])
    n_user = np.bincount(user_codes)
    user_mean = np.bincount(user_codes, weights=diffs) / np.maximum(n_user, 1)
    raters = n_user >= MIN_RATER_FILMS
    resid = diffs - user_mean[user_codes]
    in_ref = raters[user_codes]
    residual_sd = float(np.sqrt(np.mean(resid[in_ref] ** 2))) if in_ref.any() else 1.0
    ref = user_mean[raters]
    if ref.size == 0:
        ref = np.zeros(1)
    # Observed spread = true spread + each rater's own sampling noise.
    noise = float(np.mean(residual_sd**2 / n_user[raters])) if raters.any() else 0.0
    between = math.sqrt(max(float(ref.var()) - noise, 1e-6))
    log.info(
        "crowd statistics: %d films, %d raters (offset sd %.2f, rating noise %.2f)",
        films.size,
        int(raters.sum()),
        between,
        residual_sd,
    )
    return CrowdStats(
        film_ids=films.astype(np.int64),
        mean=mean.astype(np.float32),
        count=count.astype(np.int32),
        hist=hist,
        offsets=np.quantile(ref, np.linspace(0.0, 1.0, N_QUANTILES)).astype(np.float32),
        residual_sd=residual_sd,
        between_sd=between,
        centre=float(ref.mean()),
        n_raters=int(raters.sum()),
    )

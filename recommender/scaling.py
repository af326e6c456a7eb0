"""Per-user z-scores, clipped to ±2.5 and mapped to 0..1 (the notebook's scaling, vectorised).

A user with one rating, or with every rating equal, has no spread: each rating maps to 0.5
(their average), the neutral point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP = 2.5


@dataclass(frozen=True, slots=True)
class UserScale:
    """How one user rates: the mean and spread that map stars to 0..1 and back."""

    mean: float
    std: float

    def to_unit(self, stars: np.ndarray) -> np.ndarray:
        stars = np.asarray(stars, dtype=np.float64)
        if self.std <= 0:
            return np.full(stars.shape, 0.5)
        z = np.clip((stars - self.mean) / self.std, -CLIP, CLIP)
        return (z + CLIP) / (2 * CLIP)

    def to_stars(self, unit: np.ndarray) -> np.ndarray:
        """Back to stars on this user's own scale, clipped to Letterboxd's 0.5..5."""
        z = np.asarray(unit, dtype=np.float64) * (2 * CLIP) - CLIP
        return np.clip(self.mean + z * self.std, 0.5, 5.0)


def fit_user_scale(stars: np.ndarray) -> UserScale:
    stars = np.asarray(stars, dtype=np.float64)
    if stars.size == 0:
        return UserScale(mean=0.0, std=0.0)
    return UserScale(mean=float(stars.mean()), std=float(stars.std()))


def scale_by_user(user_codes: np.ndarray, ratings: np.ndarray, n_users: int) -> np.ndarray:
    """Scale every rating by its user's mean and standard deviation in one vectorised pass.

    ``user_codes`` are 0..n_users-1; the population standard deviation (``ddof=0``) is used,
    as ``np.std`` in the notebook.
    """
    r = np.asarray(ratings, dtype=np.float64)
    counts = np.bincount(user_codes, minlength=n_users).astype(np.float64)
    safe = np.maximum(counts, 1.0)
    mean = np.bincount(user_codes, weights=r, minlength=n_users) / safe
    centred = r - mean[user_codes]
    std = np.sqrt(np.bincount(user_codes, weights=centred**2, minlength=n_users) / safe)
    user_std = std[user_codes]
    z = np.divide(centred, user_std, out=np.zeros_like(centred), where=user_std > 1e-12)
    return (np.clip(z, -CLIP, CLIP) + CLIP) / (2 * CLIP)

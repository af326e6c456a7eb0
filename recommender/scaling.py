"""Per-user z-scores, clipped to ±2.5 and mapped to 0..1 (the notebook's scaling, vectorised).

A user with one rating, or with every rating equal, has no spread: each rating maps to 0.5
(their average), the neutral point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP = 2.5
# At or below this a rating is never evidence for a film, whatever the user's average.
LOW_STARS = 2.0
SCALINGS = ("zscore", "liked", "binary", "liked-binary")


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


def user_stats(
    user_codes: np.ndarray, ratings: np.ndarray, n_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's mean and population standard deviation (``ddof=0``, as ``np.std``)."""
    r = np.asarray(ratings, dtype=np.float64)
    safe = np.maximum(np.bincount(user_codes, minlength=n_users).astype(np.float64), 1.0)
    mean = np.bincount(user_codes, weights=r, minlength=n_users) / safe
    centred = r - mean[user_codes]
    std = np.sqrt(np.bincount(user_codes, weights=centred**2, minlength=n_users) / safe)
    return mean, std


def scale_by_user(user_codes: np.ndarray, ratings: np.ndarray, n_users: int) -> np.ndarray:
    """Scale every rating by its user's mean and standard deviation in one vectorised pass.

    ``user_codes`` are 0..n_users-1; the population standard deviation (``ddof=0``) is used,
    as ``np.std`` in the notebook.
    """
    r = np.asarray(ratings, dtype=np.float64)
    mean, std = user_stats(user_codes, r, n_users)
    centred = r - mean[user_codes]
    user_std = std[user_codes]
    z = np.divide(centred, user_std, out=np.zeros_like(centred), where=user_std > 1e-12)
    return (np.clip(z, -CLIP, CLIP) + CLIP) / (2 * CLIP)


def is_liked(stars: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
    """A rating is evidence *for* a film when it is at least the user's mean and above 2★."""
    stars = np.asarray(stars, dtype=np.float64)
    return (stars >= np.asarray(mean) - 1e-9) & (stars > LOW_STARS)


def training_values(
    user_codes: np.ndarray, ratings: np.ndarray, n_users: int, scaling: str = "zscore"
) -> np.ndarray:
    """The value each rating takes in the training matrix, where a missing rating is 0.

    ``zscore``: the notebook's per-user z-score in 0..1, so a disliked film is still a positive
    value (the presence trap). ``liked``: the same for liked ratings, 0 for the rest.
    ``binary``: 1 for every rating (presence). ``liked-binary``: 1 for liked ratings, else 0.
    """
    r = np.asarray(ratings, dtype=np.float64)
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}")
    if scaling == "binary":
        return np.ones_like(r)
    liked = is_liked(r, user_stats(user_codes, r, n_users)[0][user_codes])
    if scaling == "liked-binary":
        return liked.astype(np.float64)
    unit = scale_by_user(user_codes, r, n_users)
    return np.where(liked, unit, 0.0) if scaling == "liked" else unit


def user_weights(user_codes: np.ndarray, n_users: int, power: float) -> np.ndarray:
    """Per-user row weights ``(n_u / mean n)^-power``: 0.5 damps a user who rated 2,000 films to
    a fifth of the pull of one who rated 80, so heavy raters do not define every component."""
    counts = np.maximum(np.bincount(user_codes, minlength=n_users).astype(np.float64), 1.0)
    return (counts / counts.mean()) ** -power

"""How a user's films become the vector folded into the model (the presence-trap policy).

The model was trained on scaled ratings where a missing rating is 0 and the lowest ratings scale
to about 0, so it learned that a film was rated more than how. A film rated below the user's own
average would still enter as a positive value and pull its neighbours up. Such films enter as 0
(unrated): they can neither drive a pick nor be cited as a reason, while still lowering the
predicted stars of films like them (those come from the user's stars, not from this vector).

``POLICIES`` holds the alternatives the evaluation measured (docs/evaluation.md);
``user_values`` is the one the service uses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recommender.scaling import LOW_STARS, UserScale, is_liked

__all__ = ["LOW_STARS", "NEUTRAL", "POLICIES", "POLICY", "user_values"]

# Watched-but-unrated films, when folded in at all, enter at the user's neutral value.
NEUTRAL = 0.5


def _values(stars: np.ndarray, scale: UserScale, rated_value: Callable) -> np.ndarray:
    stars = np.asarray(stars, dtype=np.float64)
    rated = np.isfinite(stars)
    filled = np.nan_to_num(stars)
    return np.where(rated, rated_value(filled, scale), NEUTRAL)


def scaled_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """The notebook's policy: every rating enters at its scaled value, so 2★ is still positive."""
    return _values(stars, scale, lambda s, sc: sc.to_unit(s))


def liked_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """Liked ratings (at least the user's mean, above 2★) at their scaled value, the rest 0."""
    return _values(stars, scale, lambda s, sc: np.where(is_liked(s, sc.mean), sc.to_unit(s), 0.0))


def not_low_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """Every rating above 2★ at its scaled value, the rest 0: only plainly low ratings are
    dropped, so a below-average 3★ still counts (a weak form of the trap, measured in
    docs/evaluation.md)."""
    return _values(stars, scale, lambda s, sc: np.where(s > LOW_STARS, sc.to_unit(s), 0.0))


def signed_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """Liked as above; a disliked film enters negative, pushing its neighbours down."""

    def value(s: np.ndarray, sc: UserScale) -> np.ndarray:
        unit = sc.to_unit(s)
        return np.where(is_liked(s, sc.mean), unit, unit - 0.5)

    return _values(stars, scale, value)


def liked_binary_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """1 for a liked rating, 0 for the rest (matches training with ``liked-binary``)."""
    return _values(stars, scale, lambda s, sc: is_liked(s, sc.mean).astype(np.float64))


POLICIES: dict[str, Callable[[np.ndarray, UserScale], np.ndarray]] = {
    "scaled": scaled_values,
    "liked": liked_values,
    "not-low": not_low_values,
    "signed": signed_values,
    "liked-binary": liked_binary_values,
}


# The policy the service uses, chosen by evidence (docs/evaluation.md).
POLICY = "liked"


def user_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """Fold-in values for one user's films: ``stars`` in stars, NaN for watched-but-unrated."""
    return POLICIES[POLICY](stars, scale)

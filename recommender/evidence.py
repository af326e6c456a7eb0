"""How a user's films become the vector folded into the model (the presence-trap policy).

The model was trained on scaled ratings where a missing rating is 0 and the lowest ratings scale
to about 0, so it learned that a film was rated more than how. A film rated below the user's own
average would still enter as a positive value and pull its neighbours up. Such films enter as 0
(unrated): they can neither drive a pick nor be cited as a reason, while still lowering the
predicted stars of films like them (those come from the user's stars, not from this vector).
"""

from __future__ import annotations

import numpy as np

from recommender.scaling import UserScale

# At or below this a rating is never evidence for a film, whatever the user's average.
LOW_STARS = 2.0
# Watched-but-unrated films, when folded in at all, enter at the user's neutral value.
NEUTRAL = 0.5


def user_values(stars: np.ndarray, scale: UserScale) -> np.ndarray:
    """Fold-in values for one user's films: ``stars`` in stars, NaN for watched-but-unrated."""
    stars = np.asarray(stars, dtype=np.float64)
    rated = np.isfinite(stars)
    unit = scale.to_unit(np.nan_to_num(stars))
    liked = rated & (stars >= scale.mean) & (stars > LOW_STARS)
    return np.where(rated, np.where(liked, unit, 0.0), NEUTRAL)

"""Strong generalisation: hold out whole users, fold in part of each one's ratings, score the rest.

The models never see a held-out user in training; at evaluation time each held-out user is
folded in from ``foldin_fraction`` of their ratings (as a new Letterboxd user would be) and the
remaining ratings are the targets. Targets on films no training user rated are dropped: no model
trained on the training users could recommend them, so they would only add noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Below this many ratings a held-out user leaves too little to fold in and to score.
MIN_USER_RATINGS = 5
HOLDOUT_USERS = 0.2
FOLDIN_FRACTION = 0.8


@dataclass(frozen=True)
class Split:
    """Training users' ratings, and the held-out users' fold-in and target ratings."""

    train: pd.DataFrame
    foldin: pd.DataFrame
    target: pd.DataFrame
    seed: int

    @property
    def test_users(self) -> np.ndarray:
        return np.sort(self.target["userId"].unique())


def split_users(
    ratings: pd.DataFrame,
    holdout_users: float = HOLDOUT_USERS,
    foldin_fraction: float = FOLDIN_FRACTION,
    seed: int = 0,
) -> Split:
    """Hold out ``holdout_users`` of the users (whole), chosen by ``seed``; deterministic.

    Users with fewer than ``MIN_USER_RATINGS`` ratings always train. Each held-out user's
    ratings are shuffled and the first ``ceil(foldin_fraction * n)`` are folded in.
    """
    if not 0.0 < holdout_users < 1.0 or not 0.0 < foldin_fraction < 1.0:
        raise ValueError("holdout_users and foldin_fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    counts = ratings["userId"].value_counts().sort_index()
    eligible = counts.index[counts >= MIN_USER_RATINGS].to_numpy()
    n_out = round(holdout_users * len(eligible))
    held = np.sort(rng.permutation(eligible)[:n_out])
    is_held = ratings["userId"].isin(held).to_numpy()
    train = ratings[~is_held]
    test = ratings[is_held]
    # A random rank of each rating within its user: the first ``foldin_fraction`` are folded in.
    key = rng.random(len(test))
    order = np.lexsort((key, test["userId"].to_numpy()))
    test = test.iloc[order]
    users = test["userId"].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    within = np.arange(len(users)) - np.repeat(starts, sizes)
    n_fold = np.repeat(np.ceil(foldin_fraction * sizes).astype(np.int64), sizes)
    fold = within < n_fold
    target = test[~fold]
    target = target[target["movieId"].isin(train["movieId"].unique())]
    return Split(
        train=train.reset_index(drop=True),
        foldin=test[fold].reset_index(drop=True),
        target=target.reset_index(drop=True),
        seed=seed,
    )

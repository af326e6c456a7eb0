"""Compare training settings and fold-in policies on validation users, across held-out seeds.

For each seed ``s`` the evaluation's split (seed ``s``) is taken and, inside its training users
only, a validation split (seed ``s + 1``, as ``sweep.validation_splits``). Each setting trains on
the validation split's training users and is scored on its validation users; the test users of
every seed are never seen. Each row is a mean over the seeds, with its paired difference from
the first setting (the default) and the number of seeds on which it was ahead: a change is kept
only when that difference is clearly larger than its standard error.

    python -m recommender.evaluation.trials [--seeds 0,1,2,3,4] [--only "k=192,binary"]

Regularised NMF is not an option of the product's solver, so those rows train with
scikit-learn's ``NMF(solver="cd", alpha_W=…)`` (same updates, one core, slower).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.evaluation.baselines import (
    EASE_MAX_ITEMS,
    EASE_MIN_COUNT,
    Ease,
    Popularity,
    ease_items,
    ease_weights,
    gram,
)
from recommender.evaluation.nmf import NMFRecommender, model_from_fit, train_nmf
from recommender.evaluation.recommenders import Universe
from recommender.evaluation.scoring import EvalUser, eval_users, score_model
from recommender.evaluation.split import Split, split_users
from recommender.evidence import POLICIES, POLICY
from recommender.model_store import NMFModel
from recommender.training import TrainConfig, apply_filters, build_matrix

log = logging.getLogger(__name__)

SEEDS = (0, 1, 2, 3, 4)
POLICIES_SHOWN = (POLICY, "not-low", "scaled")
METRICS = ("recall@20", "recall@50", "ndcg@100", "coverage", "rmse")
EASE_LAMBDA = 100.0  # EASE's λ on ml-latest-small (chosen on validation users by `evaluate`)

Trainer = Callable[[pd.DataFrame], NMFModel]


@dataclass(frozen=True)
class Draw:
    split: Split
    universe: Universe
    users: list[EvalUser]


def draws(ratings: pd.DataFrame, seeds: Sequence[int] = SEEDS) -> list[Draw]:
    """Each seed's validation split, drawn from that seed's training users only."""
    out = []
    for seed in seeds:
        inner = split_users(split_users(ratings, seed=seed).train, seed=seed + 1)
        universe = Universe.from_ratings(inner.train)
        out.append(Draw(inner, universe, eval_users(inner.foldin, inner.target, None, seed)))
    return out


def sklearn_trainer(cfg: TrainConfig, alpha: float, l1_ratio: float = 0.0) -> Trainer:
    """scikit-learn's regularised NMF on the product's filtered, scaled matrix."""

    def fit(train: pd.DataFrame) -> NMFModel:
        from sklearn.decomposition import NMF

        filtered, _ = apply_filters(train, cfg)
        rm = build_matrix(filtered, cfg.scaling, cfg.user_weight)
        nmf = NMF(
            cfg.n_components,
            init="nndsvd",
            solver="cd",
            max_iter=cfg.max_iter,
            tol=cfg.tol,
            alpha_W=alpha,
            alpha_H="same",
            l1_ratio=l1_ratio,
            random_state=cfg.random_state,
        )
        nmf.fit(rm.matrix)
        return model_from_fit(
            "sklearn", nmf.components_, rm.item_ids, rm.item_counts, train, cfg.item_item()
        )

    return fit


def trials(base: TrainConfig | None = None) -> dict[str, Trainer]:
    """The settings tried (issue 5): the item-item half, components, scaling, activity
    weighting, iterations, regularisation. The first is the default every other is compared
    with."""
    base = base or TrainConfig()

    def product(**changes: Any) -> Trainer:
        cfg = replace(base, **changes)
        return lambda train: train_nmf("trial", train, cfg)

    return {
        f"default ({base.scaling} k={base.n_components})": product(),
        "NMF alone (item-item weight 0)": product(item_item_weight=0.0),
        "item-item weight 1": product(item_item_weight=1.0),
        "item-item weight 3": product(item_item_weight=3.0),
        "item-item keep 300": product(item_item_keep=300),
        "item-item λ 200": product(item_item_lambda=200.0),
        # With the item-item half the blended grid is flat within 0.03 (docs/evaluation.md):
        # fewer components, paired on five draws, to settle what two sweep draws suggest.
        "k=16": product(n_components=16),
        "k=32": product(n_components=32),
        "k=64": product(n_components=64),
        "notebook users k=16": product(
            n_components=16, user_min_percentile=0.5, user_max_percentile=0.97
        ),
        "k=192": product(n_components=192),
        "binary": product(scaling="binary"),
        "binary k=192": product(scaling="binary", n_components=192),
        "user weight 0.5": product(user_weight=0.5),
        "max_iter 100": product(max_iter=100),
        "L2 alpha 0.001 (sklearn)": sklearn_trainer(base, 0.001),
        "L2 alpha 0.01 (sklearn)": sklearn_trainer(base, 0.01),
    }


def baselines(prepared: Sequence[Draw]) -> dict[str, list[float]]:
    """Popularity's and EASE's recall@20 on each draw."""
    out: dict[str, list[float]] = {"popularity": [], "EASE": []}
    for d in prepared:
        out["popularity"].append(
            float(score_model(Popularity(d.universe), d.users, d.universe)["recall@20"])
        )  # type: ignore[arg-type]
        items = ease_items(d.universe, EASE_MAX_ITEMS, EASE_MIN_COUNT)
        ease = Ease(items, ease_weights(gram(d.split.train, items), EASE_LAMBDA), EASE_LAMBDA)
        out["EASE"].append(float(score_model(ease, d.users, d.universe)["recall@20"]))  # type: ignore[arg-type]
    return out


def run_trials(
    prepared: Sequence[Draw],
    chosen: dict[str, Trainer],
    policies: Sequence[str] = POLICIES_SHOWN,
) -> list[dict[str, Any]]:
    """One row per (setting, fold-in policy): per-draw recall@20 and mean metrics."""
    rows = []
    for name, fit in chosen.items():
        start = time.perf_counter()
        scores: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
        for d in prepared:
            model = NMFRecommender(name, fit(d.split.train))
            for p in policies:
                scores[p].append(
                    score_model(model.with_options(p, policy=POLICIES[p]), d.users, d.universe)
                )
        seconds = (time.perf_counter() - start) / len(prepared)
        for p, s in scores.items():
            row: dict[str, Any] = {"setting": name, "policy": p, "seconds": round(seconds, 1)}
            row.update({m: float(np.mean([x[m] for x in s])) for m in METRICS})
            row["per_draw"] = [float(x["recall@20"]) for x in s]
            rows.append(row)
        log.info("%s: %.1f s per draw", name, seconds)
    return rows


def table(rows: Sequence[dict[str, Any]], base: dict[str, list[float]]) -> str:
    """Markdown: each row's means, its recall@20 over popularity's, and its paired difference
    in recall@20 from the first setting with the service's policy (± standard error, seeds
    ahead)."""
    ref = rows[0]["per_draw"]
    pop = base["popularity"]
    head = ["setting", "fold-in", *METRICS, "× popularity", "Δ recall@20 vs default", "ahead"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for i, r in enumerate(rows):
        diff = np.asarray(r["per_draw"]) - np.asarray(ref)
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
        ratio = float(np.mean(np.asarray(r["per_draw"]) / np.asarray(pop)))
        cells = [r["setting"], r["policy"], *(f"{r[m]:.3f}" for m in METRICS), f"{ratio:.2f}"]
        if i == 0:  # the reference itself
            cells += ["–", "–"]
        else:
            cells += [f"{diff.mean():+.4f} ± {se:.4f}", f"{int((diff > 0).sum())}/{diff.size}"]
        lines.append("| " + " | ".join(cells) + " |")
    ease, popm = np.mean(base["EASE"]), np.mean(pop)
    ratio = float(np.mean(np.asarray(base["EASE"]) / np.asarray(pop)))
    lines.append(
        f"\nPopularity {popm:.3f}, EASE (λ={EASE_LAMBDA:g}) {ease:.3f} = {ratio:.2f} × popularity "
        f"(mean over {len(pop)} draws)."
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from recommender.config import data_dir
    from recommender.movielens import DEFAULT_DATASET, read_ratings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--only", help="comma-separated settings (the default always runs)")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    seeds = [int(s) for s in args.seeds.split(",")]
    root = args.data_dir or data_dir()
    ratings = read_ratings(root / DEFAULT_DATASET)
    chosen = trials()
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        first = next(iter(chosen))
        chosen = {k: v for k, v in chosen.items() if k == first or k in wanted}
    prepared = draws(ratings, seeds)
    sys.stdout.write(table(run_trials(prepared, chosen), baselines(prepared)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``boxdrec evaluate``: every model on the same held-out users, in one run with one seed.

Models: popularity; EASE with λ chosen on validation users; the notebook's recipe (370
components and its filters) where it fits; and ours, the default ``TrainConfig`` read through the
service's fold-in and ranking, both in the model's order and in the order the service shows.
Then the presence trap (``presence.py``) and, given a folder of gold sets, real people
(``gold.py``). ``sweep_settings`` runs the settings sweep on validation users (``sweep.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

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
from recommender.evaluation.gold import hit_rates, read_gold
from recommender.evaluation.nmf import NMFRecommender, train_nmf
from recommender.evaluation.presence import PROBE_STARS, Neighbours, measure_trap
from recommender.evaluation.recommenders import Recommender, Universe
from recommender.evaluation.scoring import RELEVANT_STARS, EvalUser, eval_users, score_model
from recommender.evaluation.split import FOLDIN_FRACTION, Split, split_users
from recommender.evaluation.sweep import choose, grid, run_sweep, validation_splits
from recommender.evidence import POLICIES, POLICY
from recommender.movielens import DEFAULT_DATASET
from recommender.training import TrainConfig, apply_filters

log = logging.getLogger(__name__)

MODELS = ("popularity", "ease", "notebook", "ours")
# Brackets the best λ on ml-latest-small (100) by a factor of 3 each way, and reaches the
# larger values big datasets need; each λ costs one inverse of the films × films matrix.
EASE_LAMBDAS = (30.0, 100.0, 300.0, 1000.0, 3000.0)
# The notebook's final recipe: its filters and 370 components, scaled values folded in as-is.
NOTEBOOK = TrainConfig(
    n_components=370,
    max_iter=300,
    user_min_percentile=0.5,
    user_max_percentile=0.97,
    max_users_per_film=400,
    min_ratings_per_film=1,
    scaling="zscore",
    item_item_weight=0.0,  # the notebook had only NMF
)
# Above this many filtered ratings the notebook's 370-component fit takes hours, not minutes.
NOTEBOOK_MAX_RATINGS = 1_000_000

Say = Callable[[str], None]


@dataclass(frozen=True)
class EvalSettings:
    dataset: str = DEFAULT_DATASET
    seed: int = 0
    holdout_users: float = 0.2
    models: tuple[str, ...] = MODELS
    max_users: int | None = 10_000  # held-out users scored (a seeded sample above this)
    ease_lambdas: tuple[float, ...] = EASE_LAMBDAS
    ease_max_items: int = EASE_MAX_ITEMS
    ease_min_count: int = EASE_MIN_COUNT
    ours: TrainConfig = field(default_factory=TrainConfig)
    presence: bool = True
    gold_dir: Path | None = None


@dataclass
class Evaluation:
    """The report (plain data, JSON-ready) and the fitted models behind it."""

    report: dict[str, Any]
    models: dict[str, Recommender]
    split: Split
    universe: Universe
    users: list[EvalUser]


def run_evaluation(
    ratings: pd.DataFrame, settings: EvalSettings, say: Say | None = None
) -> Evaluation:
    say = say or log.info
    start = time.perf_counter()
    split = split_users(ratings, settings.holdout_users, seed=settings.seed)
    universe = Universe.from_ratings(split.train)
    users = eval_users(split.foldin, split.target, settings.max_users, settings.seed)
    say(
        f"Split (seed {settings.seed}): {universe.n_users} training users, {len(users)} "
        f"held-out users scored, {universe.item_ids.size} films"
    )
    report: dict[str, Any] = {
        "dataset": settings.dataset,
        "seed": settings.seed,
        "protocol": {
            "holdout_users": settings.holdout_users,
            "foldin_fraction": FOLDIN_FRACTION,
            "relevant_stars": RELEVANT_STARS,
            "training_users": universe.n_users,
            "test_users": len(users),
            "films": int(universe.item_ids.size),
        },
        "notes": [],
    }
    models: dict[str, Recommender] = {}
    fit_seconds: dict[str, float] = {}

    def fitted(name: str, build: Callable[[], Recommender]) -> None:
        t = time.perf_counter()
        say(f"Fitting {name}…")
        models[name] = build()
        fit_seconds[name] = round(time.perf_counter() - t, 1)

    if "popularity" in settings.models:
        fitted("popularity", lambda: Popularity(universe))
    if "ease" in settings.models:
        say("Fitting EASE (λ chosen on validation users)…")
        ease, tuning = _tuned_ease(split, universe, settings)
        models["EASE"] = ease
        report["ease"] = tuning
        fit_seconds["EASE"] = tuning["seconds"]
    if "notebook" in settings.models:
        t = time.perf_counter()
        notebook = _notebook(split.train, settings, report["notes"], say)
        if notebook is not None:
            models["notebook"] = notebook
            fit_seconds["notebook"] = round(time.perf_counter() - t, 1)
    if "ours" in settings.models:
        cfg = replace(settings.ours, dataset=settings.dataset)
        fitted("ours", lambda: NMFRecommender("ours", train_nmf("ours", split.train, cfg)))
        report["ours_config"] = asdict(cfg)
    rows = []
    for name, model in list(models.items()):
        say(f"Scoring {name} on {len(users)} users…")
        rows.append({**score_model(model, users, universe), "fit_seconds": fit_seconds[name]})
        if name == "ours" and isinstance(model, NMFRecommender):
            shown = model.with_options("ours (as shown)", order="shown")
            rows.append({**score_model(shown, users, universe), "fit_seconds": None})
    report["models"] = rows
    report["targets"] = _targets(rows)
    ours = models.get("ours")
    if settings.presence and isinstance(ours, NMFRecommender):
        say("Measuring the presence trap…")
        notebook_model = models.get("notebook")
        report["presence_trap"] = presence_report(
            ours,
            split,
            universe,
            users,
            settings.seed,
            notebook_model if isinstance(notebook_model, NMFRecommender) else None,
        )
    if settings.gold_dir is not None:
        say("Gold sets: leave-one-out on real exports…")
        people = read_gold(settings.gold_dir)
        report["gold"] = [hit_rates(m, people, universe) for m in models.values()]
    report["seconds"] = round(time.perf_counter() - start, 1)
    return Evaluation(report, models, split, universe, users)


def _targets(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Where ours lands against the issue's targets (recall@20: ≥ 2× popularity, ≥ 0.9× EASE)."""
    by = {r["name"]: r for r in rows}
    out: dict[str, Any] = {}
    if "ours" not in by:
        return out
    mine = by["ours"]["recall@20"]
    for name, goal in (("popularity", 2.0), ("EASE", 0.9)):
        if name in by and by[name]["recall@20"]:
            ratio = mine / by[name]["recall@20"]
            out[f"recall@20 / {name}"] = {"ratio": ratio, "target": goal, "met": ratio >= goal}
    return out


def _tuned_ease(
    split: Split, universe: Universe, settings: EvalSettings
) -> tuple[Ease, dict[str, Any]]:
    """λ chosen by recall@20 on validation users drawn from the training users, then refit
    on every training user; a single λ is used as given."""
    start = time.perf_counter()
    validation = _ease_validation(split, settings) if len(settings.ease_lambdas) > 1 else []
    lam = (
        max(validation, key=lambda r: r["recall@20"])["lambda"]
        if validation
        else settings.ease_lambdas[0]
    )
    items = ease_items(universe, settings.ease_max_items, settings.ease_min_count)
    final = Ease(items, ease_weights(gram(split.train, items), lam, overwrite=True), lam)
    return final, {
        "lambda": lam,
        "films": int(items.size),
        "min_count": settings.ease_min_count,
        "max_items": settings.ease_max_items,
        "validation": validation,
        "seconds": round(time.perf_counter() - start, 1),
    }


def _ease_validation(split: Split, settings: EvalSettings) -> list[dict[str, Any]]:
    inner = split_users(split.train, settings.holdout_users, seed=split.seed + 1)
    inner_universe = Universe.from_ratings(inner.train)
    inner_users = eval_users(inner.foldin, inner.target, settings.max_users, split.seed + 1)
    items = ease_items(inner_universe, settings.ease_max_items, settings.ease_min_count)
    g = gram(inner.train, items)
    out = []
    for lam in settings.ease_lambdas:
        scored = score_model(Ease(items, ease_weights(g, lam), lam), inner_users, inner_universe)
        out.append(
            {"lambda": lam, **{k: scored[k] for k in ("recall@20", "recall@50", "ndcg@100")}}
        )
    return out


def _notebook(
    train: pd.DataFrame, settings: EvalSettings, notes: list[str], say: Say
) -> NMFRecommender | None:
    """The notebook's recipe at its 370 components; skipped when its filters leave so many
    ratings that the fit would take hours, unless it is the only model asked for. When its
    filters leave fewer users than components, nndsvd cannot start the fit (it needs
    k <= users), so it starts from scikit-learn's random start instead, still at 370."""
    filtered, _ = apply_filters(train, NOTEBOOK)
    if len(filtered) > NOTEBOOK_MAX_RATINGS and settings.models != ("notebook",):
        notes.append(
            f"notebook recipe skipped: its filters leave {len(filtered):,} training ratings, "
            "and 370 components on them take hours; run `--models notebook` to insist"
        )
        return None
    shape = (filtered["userId"].nunique(), filtered["movieId"].nunique())
    cfg = replace(NOTEBOOK, dataset=settings.dataset)
    if NOTEBOOK.n_components > min(shape):
        cfg = replace(cfg, init="random")
        notes.append(
            f"notebook recipe: its filters leave {shape[0]} users x {shape[1]} films, fewer "
            f"users than its {NOTEBOOK.n_components} components, so nndsvd cannot start the "
            "fit; it was fitted at 370 components from a random start (init='random')"
        )
    say(
        f"  notebook recipe: {shape[0]} users x {shape[1]} films, k={cfg.n_components}, "
        f"{cfg.init} start"
    )
    return NMFRecommender(
        "notebook",
        train_nmf("notebook", train, cfg),
        policy=POLICIES["scaled"],
        stars_from="score",
    )


def presence_report(
    ours: NMFRecommender,
    split: Split,
    universe: Universe,
    users: list[EvalUser],
    seed: int,
    notebook: NMFRecommender | None = None,
) -> dict[str, Any]:
    """The trap measured for each fold-in policy on our model (and on the notebook's recipe
    when it ran), and each policy's metrics on our model."""
    neighbours = Neighbours.from_ratings(split.train, ours.model.item_ids)
    trap, metrics = [], []
    for name, policy in POLICIES.items():
        model = ours.with_options(name, policy=policy)
        trap += [measure_trap(model, users, neighbours, s, seed) for s in PROBE_STARS]
        metrics.append(score_model(model, users, universe))
    if notebook is not None:
        nb_neighbours = Neighbours.from_ratings(split.train, notebook.model.item_ids)
        trap += [measure_trap(notebook, users, nb_neighbours, s, seed) for s in PROBE_STARS]
    return {"policy_in_use": POLICY, "trap": trap, "metrics": metrics}


def sweep_settings(
    ratings: pd.DataFrame,
    settings: EvalSettings,
    repeats: int = 2,
    ks: Sequence[int] | None = None,
    say: Say | None = None,
) -> dict[str, Any]:
    """The settings sweep on validation users drawn from the training users of the same split
    ``run_evaluation`` uses (its test users are never seen), and the setting it picks."""
    say = say or log.info
    split = split_users(ratings, settings.holdout_users, seed=settings.seed)
    base = replace(settings.ours, dataset=settings.dataset)
    variants = grid(base, ks) if ks is not None else grid(base)
    say(f"Sweep: {len(variants)} settings x {repeats} validation draws…")
    rows = run_sweep(
        variants,
        validation_splits(split, repeats),
        settings.max_users,
        settings.ease_lambdas,
        say,
    )
    return {"rows": rows, "chosen": choose(rows), "policy": POLICY, "repeats": repeats}

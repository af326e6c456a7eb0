"""Choose the model's settings on validation users, never on the test users.

Every training setting (components × scaling, the notebook's user filters, activity weighting,
a minimum of ratings per film, a cap on raters per film) is trained on the training users minus
a set of validation users, and every fold-in policy is scored on the same fitted model, so the
policies are compared on equal terms. ``repeats`` averages over several validation draws.
Popularity and EASE are scored on the same draws as reference lines.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

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
from recommender.evaluation.nmf import NMFRecommender, train_nmf
from recommender.evaluation.recommenders import Recommender, Universe
from recommender.evaluation.scoring import EvalUser, eval_users, score_model
from recommender.evaluation.split import Split, split_users
from recommender.evidence import POLICIES, POLICY
from recommender.scaling import SCALINGS
from recommender.training import TrainConfig

log = logging.getLogger(__name__)

SWEEP_KS = (16, 32, 64, 128, 192, 256)
METRICS = ("recall@20", "recall@50", "ndcg@100", "coverage", "mean_popularity", "rmse")
NOTEBOOK_USERS = {"user_min_percentile": 0.5, "user_max_percentile": 0.97}
ALL_USERS = {"user_min_percentile": 0.0, "user_max_percentile": 1.0}
PLOTTED = ("recall@20", "recall@50", "ndcg@100")
CAP = 100  # the users-per-film cap tried in the sweep (see grid)
NMF_ALONE = "NMF alone"  # the group of the rows without the item-item half
ITEM_ITEM_WEIGHTS = (1.0, 3.0)  # tried beside the default's (single changes)
PER_USER = "_per_user"  # each draw's per-user recall@20, kept until the rows are paired
VS_BEST, VS_BEST_SE = "recall@20_vs_best", "recall@20_vs_best_se"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Variant:
    """One training setting: a short label and the full config."""

    label: str
    group: str  # the line it belongs to in the plot ("zscore", "notebook users", "single")
    cfg: TrainConfig


def grid(base: TrainConfig, ks: Iterable[int] = SWEEP_KS) -> list[Variant]:
    """Components × every scaling, all users kept; components with the notebook's user
    filters (zscore, as the notebook); components without the item-item half; then single
    changes at the base's components: activity weighting, films rated fewer than 5 times
    dropped, at most ``CAP`` users per film, other item-item weights."""
    ks = tuple(ks)
    every = replace(base, **ALL_USERS)
    notebook = replace(base, **NOTEBOOK_USERS, scaling="zscore")
    out = [
        Variant(f"{s} k={k}", s, replace(every, n_components=k, scaling=s))
        for s in SCALINGS
        for k in ks
    ]
    out += [
        Variant(f"notebook users k={k}", "notebook users", replace(notebook, n_components=k))
        for k in ks
    ]
    # The same model without its item-item half, to show what the half adds at every k.
    alone = replace(every, item_item_weight=0.0)
    out += [
        Variant(f"{base.scaling} k={k}, NMF alone", NMF_ALONE, replace(alone, n_components=k))
        for k in ks
    ]
    singles = {
        f"{base.scaling} k={base.n_components}, user weight 0.5": replace(every, user_weight=0.5),
        f"{base.scaling} k={base.n_components}, films rated 5+": replace(
            every, min_ratings_per_film=5
        ),
        # The notebook's cap on raters per film: no film here has its 400, so the cap is set
        # where it binds as it would on ml-32m (it keeps about half the training users).
        f"{base.scaling} k={base.n_components}, {CAP} users per film": replace(
            every, max_users_per_film=CAP
        ),
    }
    for weight in ITEM_ITEM_WEIGHTS:
        singles[f"{base.scaling} k={base.n_components}, item-item weight {weight:g}"] = replace(
            every, item_item_weight=weight
        )
    out += [Variant(label, "single", cfg) for label, cfg in singles.items() if cfg != every]
    return out


def validation_splits(split: Split, repeats: int) -> list[Split]:
    """``repeats`` draws of validation users from the training users (test users unseen)."""
    return [split_users(split.train, seed=split.seed + 1 + r) for r in range(repeats)]


@dataclass(frozen=True)
class _Prepared:
    split: Split
    universe: Universe
    users: list[EvalUser]


def _scored(model: Recommender, p: _Prepared) -> dict[str, object]:
    per_user: list[float] = []
    out: dict[str, object] = dict(score_model(model, p.users, p.universe, per_user))
    out[PER_USER] = np.asarray(per_user)
    return out


def _mean_row(head: dict[str, object], scores: Sequence[dict[str, object]]) -> dict[str, object]:
    row = dict(head)
    for m in (*METRICS, "recall@20_se"):
        values = [float(x[m]) for x in scores if x.get(m) is not None]  # type: ignore[arg-type]
        row[m] = float(np.mean(values)) if values else None
    row[PER_USER] = [x[PER_USER] for x in scores]
    return row


def _eligible(row: dict[str, object], policy: str) -> bool:
    """A setting the service could run: ours (not a baseline), with its item-item half."""
    return row["policy"] == policy and row.get("k") is not None and row.get("group") != NMF_ALONE


def paired(rows: Sequence[dict[str, object]], policy: str = POLICY) -> None:
    """Add each row's recall@20 difference from the best setting and that difference's
    standard error, user by user on the same draws, then drop the per-user scores.

    The best is taken per fold-in policy (baselines are compared with ``policy``'s best). Two
    settings scored on the same users share most of their noise (a hard user is hard for
    both), so the paired error is a fraction of ``recall@20_se``, the spread over users."""
    policies = {str(r["policy"]) for r in rows if r.get("k") is not None}
    best = {}
    for name in policies:
        mine = [r for r in rows if _eligible(r, name)]
        if mine:
            best[name] = max(mine, key=lambda r: float(r["recall@20"]))  # type: ignore[arg-type]
    for r in rows:
        ref = best.get(str(r["policy"]), best.get(policy))
        if ref is None:
            continue
        diffs = [a - b for a, b in zip(r[PER_USER], ref[PER_USER], strict=True)]  # type: ignore[call-overload]
        r[VS_BEST] = float(np.mean([d.mean() for d in diffs]))
        # The mean of the draws' means: its variance is the draws' variances over D².
        variances = [d.var(ddof=1) / d.size for d in diffs if d.size > 1]
        r[VS_BEST_SE] = float(np.sqrt(np.sum(variances)) / len(diffs)) if variances else None
    for r in rows:
        r.pop(PER_USER, None)


def run_sweep(
    variants: Sequence[Variant],
    splits: Sequence[Split],
    max_users: int | None = None,
    ease_lambdas: Sequence[float] = (100.0,),
    say: Say | None = None,
) -> list[dict[str, object]]:
    """One row per (variant, fold-in policy) and one per baseline: metrics averaged over
    ``splits``. ``recall@20_se`` is the mean per-draw standard error over users;
    ``recall@20_vs_best`` and its ``_se`` compare the row with the best setting user by user
    (``paired``)."""
    say = say or log.info
    prepared = [
        _Prepared(s, Universe.from_ratings(s.train), eval_users(s.foldin, s.target, max_users))
        for s in splits
    ]
    rows = _baseline_rows(prepared, ease_lambdas)
    for i, v in enumerate(variants, 1):
        per_policy: dict[str, list[dict[str, object]]] = {p: [] for p in POLICIES}
        start = time.perf_counter()
        try:
            for p in prepared:
                model = NMFRecommender(v.label, train_nmf(v.label, p.split.train, v.cfg))
                for name, policy in POLICIES.items():
                    per_policy[name].append(_scored(model.with_options(name, policy=policy), p))
        except ValueError as exc:  # e.g. more components than the filters leave users
            say(f"  [{i}/{len(variants)}] {v.label}: skipped ({exc})")
            continue
        seconds = (time.perf_counter() - start) / len(prepared)
        for name, scores in per_policy.items():
            head = {
                "variant": v.label,
                "group": v.group,
                "k": v.cfg.n_components,
                "scaling": v.cfg.scaling,
                "users": "notebook" if v.cfg.user_min_percentile > 0 else "all",
                "user_weight": v.cfg.user_weight,
                "min_ratings_per_film": v.cfg.min_ratings_per_film,
                "max_users_per_film": v.cfg.max_users_per_film,
                "policy": name,
            }
            rows.append({**_mean_row(head, scores), "seconds": round(seconds, 1)})
        mine = next(r for r in rows[-len(POLICIES) :] if r["policy"] == POLICY)
        say(
            f"  [{i}/{len(variants)}] {v.label}: recall@20 {mine['recall@20']:.4f} "
            f"(fold-in {POLICY}), {seconds:.0f} s per fit and scoring"
        )
    paired(rows)
    return rows


def _baseline_rows(
    prepared: Sequence[_Prepared], ease_lambdas: Sequence[float]
) -> list[dict[str, object]]:
    scored: dict[str, list[dict[str, object]]] = {"popularity": []}
    for p in prepared:
        models: list[Recommender] = [Popularity(p.universe)]
        items = ease_items(p.universe, EASE_MAX_ITEMS, EASE_MIN_COUNT)
        g = gram(p.split.train, items)
        models += [
            Ease(items, ease_weights(g, lam), lam, name=f"EASE λ={lam:g}") for lam in ease_lambdas
        ]
        for m in models:
            scored.setdefault(m.name, []).append(_scored(m, p))
    return [
        _mean_row({"variant": name, "group": "baseline", "policy": "–"}, scores)
        for name, scores in scored.items()
    ]


def choose(rows: Sequence[dict[str, object]], policy: str = POLICY) -> dict[str, object]:
    """The simplest setting within one standard error of the best recall@20 (fold-in
    ``policy``): fewest components, then no single change (weighting, film filter) over the
    grid, then the higher recall. A bigger or busier model must beat the noise to be chosen.

    The error is the paired one (``paired``: the same users under both settings); rows
    without it fall back to the best row's ``recall@20_se``, which is far wider."""
    mine = [r for r in rows if _eligible(r, policy)]
    best = max(mine, key=lambda r: float(r["recall@20"]))  # type: ignore[arg-type]
    top = float(best["recall@20"])  # type: ignore[arg-type]

    def close(r: dict[str, object]) -> bool:
        se = r.get(VS_BEST_SE)
        if se is None:
            return float(r["recall@20"]) >= top - float(best["recall@20_se"] or 0.0)  # type: ignore[arg-type]
        return float(r["recall@20"]) + float(se) >= top  # type: ignore[arg-type]

    return min(
        filter(close, mine),
        key=lambda r: (int(r["k"]), r.get("group") == "single", -float(r["recall@20"])),  # type: ignore[arg-type]
    )


def write_csv(rows: Sequence[dict[str, object]], path: Path) -> Path:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(rows: Sequence[dict[str, object]], columns: Sequence[str]) -> str:
    """Rows as a Markdown table, floats to three decimals."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "–" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def plot_components(
    rows: Sequence[dict[str, object]], path: Path, policy: str = POLICY, trap: str = "scaled"
) -> Path:
    """Ranking metrics against components (PNG): one line per scaling with the service's
    fold-in ``policy``, the notebook's user filters, the ``trap`` fold-in dashed, and the
    baselines as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = pd.DataFrame([r for r in rows if r.get("group") not in ("single", "baseline")])
    baselines = [r for r in rows if r.get("group") == "baseline"]
    ease = max(
        (r for r in baselines if str(r["variant"]).startswith("EASE")),
        default=None,
        key=lambda r: float(r["recall@20"]),
    )  # type: ignore[arg-type]
    popularity = next((r for r in baselines if r["variant"] == "popularity"), None)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharex=True)
    ks = sorted(int(k) for k in frame["k"].unique())
    for ax, metric in zip(axes, PLOTTED, strict=True):
        for group, g in frame[frame["policy"] == policy].groupby("group", sort=True):
            g = g.sort_values("k")
            label = (
                f"train {group}"
                if group in SCALINGS
                else "zscore, NMF alone (no item-item half)"
                if group == NMF_ALONE
                else "train zscore, notebook's users"
            )
            ax.plot(g["k"], g[metric], marker="o", ms=3, lw=1.2, label=label)
        g = frame[(frame["policy"] == trap) & (frame["group"] == "zscore")].sort_values("k")
        ax.plot(g["k"], g[metric], ls="--", color="grey", lw=1, label=f"zscore, fold-in {trap}")
        for ref, style in ((ease, ":"), (popularity, "-.")):
            if ref is not None:
                ax.axhline(
                    float(ref[metric]), color="black", ls=style, lw=0.8, label=ref["variant"]
                )
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("components (k)", fontsize=9)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, labels=[str(k) for k in ks], fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"Validation users, fold-in '{policy}' unless marked", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

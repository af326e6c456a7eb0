"""The same evaluation over several held-out draws: how much a verdict depends on the seed.

One seed's 120 held-out users on ml-latest-small move recall@20 by about ±0.02 and the ratio
against popularity by ±0.15, enough to flip a target verdict. Each seed here is a whole
``run_evaluation`` (its own split, its own EASE λ chosen on its own validation users); the
summary gives each metric's mean and its standard error across seeds, and each target ratio
per seed, their mean and a 95% interval (t distribution over the seeds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from recommender.evaluation.run import EvalSettings, run_evaluation

METRICS = ("recall@20", "recall@50", "ndcg@100", "coverage", "mean_popularity", "rmse")
# Ratios of recall@20 the issue sets targets for: (numerator, denominator, target).
TARGETS = (
    ("ours", "popularity", 2.0),
    ("ours", "EASE", 0.9),
    ("ours (as shown)", "popularity", 2.0),
)


def across_seeds(
    ratings: pd.DataFrame,
    settings: EvalSettings,
    seeds: Sequence[int],
    say: Callable[[str], None] | None = None,
    first: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the evaluation for each of ``seeds`` (without the presence trap and the gold sets,
    which do not depend on the split's seed in the same way) and summarise. ``first`` is an
    already computed report for ``seeds[0]``, reused rather than run again."""
    reports = []
    for seed in seeds:
        if first is not None and seed == first["seed"]:
            reports.append(first)
            continue
        if say:
            say(f"Seed {seed}…")
        quick = replace(settings, seed=seed, presence=False, gold_dir=None)
        reports.append(run_evaluation(ratings, quick, say).report)
    return summarise(reports)


def summarise(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard error across reports of each model's metrics; target ratios."""
    per_model: dict[str, list[dict[str, Any]]] = {}
    for report in reports:
        for row in report["models"]:
            per_model.setdefault(row["name"], []).append(row)
    models = []
    for name, rows in per_model.items():
        out: dict[str, Any] = {"name": name, "seeds": len(rows)}
        for metric in METRICS:
            values = [r[metric] for r in rows if r.get(metric) is not None]
            out[metric], out[f"{metric}_se"] = _mean_se(values)
        models.append(out)
    targets = {}
    for top, bottom, goal in TARGETS:
        ratios = []
        for report in reports:
            by = {r["name"]: r["recall@20"] for r in report["models"]}
            if by.get(top) is not None and by.get(bottom):
                ratios.append(by[top] / by[bottom])
        if not ratios:
            continue
        mean, se = _mean_se(ratios)
        low, high = _interval(ratios)
        targets[f"recall@20 {top} / {bottom}"] = {
            "target": goal,
            "per_seed": ratios,
            "mean": mean,
            "se": se,
            "ci95": [low, high],
            "met_on_mean": mean is not None and mean >= goal,
            "seeds_met": sum(r >= goal for r in ratios),
        }
    return {"seeds": [r["seed"] for r in reports], "models": models, "targets": targets}


def _mean_se(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else None
    return float(arr.mean()), se


def _interval(values: Sequence[float]) -> tuple[float | None, float | None]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return None, None
    half = float(stats.t.ppf(0.975, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return float(arr.mean() - half), float(arr.mean() + half)


def seeds_lines(summary: dict[str, Any]) -> list[str]:
    """The summary as text lines for the terminal report."""
    seeds = ", ".join(str(s) for s in summary["seeds"])
    lines = [f"Across seeds {seeds} (mean ± standard error over seeds)"]
    lines.append(f"{'model':<18}" + "".join(f"{m:>20}" for m in METRICS))
    for row in summary["models"]:
        cells = ""
        for m in METRICS:
            mean, se = row.get(m), row.get(f"{m}_se")
            text = "–" if mean is None else f"{mean:.3f}" + ("" if se is None else f" ± {se:.3f}")
            cells += f"{text:>20}"
        lines.append(f"{row['name']:<18}{cells}")
    for name, t in summary["targets"].items():
        low, high = t["ci95"]
        interval = "" if low is None else f", 95% interval {low:.2f}–{high:.2f}"
        lines.append(
            f"Target {name} ≥ {t['target']:g}: mean {t['mean']:.2f}{interval}; met on "
            f"{t['seeds_met']} of {len(t['per_seed'])} seeds "
            f"({', '.join(f'{r:.2f}' for r in t['per_seed'])})"
        )
    return lines

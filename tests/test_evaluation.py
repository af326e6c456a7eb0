"""The evaluation: metrics by hand, the user split, the baselines, the report and the CLI, and one
regression run of the real protocol on ml-latest-small with metric floors (never timings).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.cli import main
from recommender.evaluation import metrics
from recommender.evaluation.baselines import Ease, Popularity, _mirror, ease_weights, gram
from recommender.evaluation.recommenders import Universe, lookup, top_k
from recommender.evaluation.report import format_report, write_outputs
from recommender.evaluation.scoring import eval_users
from recommender.evaluation.split import MIN_USER_RATINGS, split_users
from recommender.evaluation.sweep import choose, grid, markdown_table
from recommender.evidence import POLICY
from recommender.training import TrainConfig

REPO = Path(__file__).resolve().parent.parent
# Measured on ml-latest-small, seed 0 (docs/evaluation.md): recall@20 0.317, recall@50 0.439,
# NDCG@100 0.334, RMSE 0.959; 1.75x popularity's recall@20 and 0.93x EASE's. The floors sit a
# little under, so a regression fails and rounding across machines does not.
OURS_FLOORS = {"recall@20": 0.30, "recall@50": 0.42, "ndcg@100": 0.32, "rmse": 0.90}
# The issue asked for 2x; on this data even EASE reaches only 1.88x (docs/evaluation.md).
POPULARITY_MULTIPLE = 1.7
METRIC_KEYS = ("recall@20", "recall@50", "ndcg@100", "coverage", "mean_popularity", "rmse")


@pytest.fixture(scope="module")
def small_ratings() -> pd.DataFrame:
    """ml-latest-small's ratings; fails (never skips) when the test data is not there."""
    from recommender.movielens import read_ratings

    root = Path(os.environ.get("BOXDREC_TEST_DATA", REPO.parent / "shared" / "data" / "movielens"))
    folder = root / "ml-latest-small"
    if not (folder / "ratings.csv").is_file():
        pytest.fail(
            f"{folder}/ratings.csv not found: set BOXDREC_TEST_DATA to the MovieLens folder"
        )
    return read_ratings(folder)


# -- metrics, by hand -------------------------------------------------------------------------


def test_recall_divides_by_the_smaller_of_k_and_the_relevant_films():
    top = np.array([1, 2, 3, 4, 5])
    relevant = np.array([2, 5, 9])
    assert metrics.recall_at_k(top, relevant, 2) == pytest.approx(1 / 2)  # 1 hit of min(2, 3)
    assert metrics.recall_at_k(top, relevant, 5) == pytest.approx(2 / 3)  # 2 hits of min(5, 3)
    assert metrics.recall_at_k(top, np.array([7]), 5) == 0.0
    assert metrics.recall_at_k(np.array([9, 1]), np.array([9]), 20) == 1.0  # short lists count
    with pytest.raises(ValueError):
        metrics.recall_at_k(top, np.array([], dtype=np.int64), 5)


def test_ndcg_discounts_by_log2_of_the_position():
    top = np.array([1, 2, 3])
    # Hits at positions 2 and 3: 1/log2(3) + 1/log2(4); best possible: 1 + 1/log2(3).
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert metrics.ndcg_at_k(top, np.array([2, 3]), 3) == pytest.approx(expected)
    assert metrics.ndcg_at_k(top, np.array([1]), 3) == 1.0
    # A hit past k is not counted; the ideal uses min(k, |relevant|) hits.
    assert metrics.ndcg_at_k(top, np.array([3, 8, 9]), 2) == 0.0
    assert metrics.ndcg_at_k(np.array([5, 1]), np.array([1, 8, 9]), 2) == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    )


def test_coverage_and_mean_popularity_of_the_shown_lists():
    tops = [np.array([0, 1]), np.array([1, 2])]
    assert metrics.coverage(tops, 2, 10) == pytest.approx(0.3)  # films 0, 1, 2 of 10
    assert metrics.coverage(tops, 1, 10) == pytest.approx(0.2)  # only the first of each
    popularity = np.array([0.5, 0.2, 0.1])
    assert metrics.mean_popularity(tops, 2, popularity) == pytest.approx(0.25)  # .5 .2 .2 .1
    assert metrics.rmse(np.array([3.0, 4.0]), np.array([4.0, 4.0])) == pytest.approx(0.5**0.5)
    assert math.isnan(metrics.rmse(np.array([]), np.array([])))


def test_top_k_skips_excluded_and_breaks_ties_by_index():
    scores = np.array([0.5, 0.9, 0.9, 0.1, 0.7])
    assert top_k(scores, np.array([1]), 3).tolist() == [2, 4, 0]
    assert top_k(scores, np.array([], dtype=np.intp), 2).tolist() == [1, 2]
    assert top_k(scores, np.arange(5), 3).size == 0
    assert lookup(np.array([3, 7, 9]), np.array([9, 4, 3, 10])).tolist() == [2, -1, 0, -1]


# -- the split ----------------------------------------------------------------------------------


def _synthetic(n_users: int = 60, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_users + 1):
        n = 3 if u % 10 == 0 else int(rng.integers(10, 40))  # every tenth user is too new
        films = rng.choice(200, n, replace=False)
        rows += [(u, int(f), float(rng.integers(1, 11)) / 2) for f in films]
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating"])


def test_split_holds_out_whole_users_and_folds_in_80_percent_of_each():
    ratings = _synthetic()
    split = split_users(ratings, holdout_users=0.2, foldin_fraction=0.8, seed=7)
    train_users = set(split.train["userId"])
    held = set(split.foldin["userId"])
    assert not train_users & held  # no held-out user has a single rating in training
    assert set(split.target["userId"]) <= held
    counts = ratings["userId"].value_counts()
    eligible = counts[counts >= MIN_USER_RATINGS]
    assert len(held) == round(0.2 * len(eligible))
    assert all(counts[u] >= MIN_USER_RATINGS for u in held)  # the too-new users always train
    assert len(split.train) + len(split.foldin) == len(ratings) - _dropped_targets(split, ratings)
    for u in held:
        n = int(counts[u])
        fold = split.foldin[split.foldin["userId"] == u]
        assert len(fold) == math.ceil(0.8 * n)
        target = split.target[split.target["userId"] == u]
        # Targets are the rest, less films no training user rated (no model could know them).
        assert len(target) <= n - len(fold)
        assert not set(fold["movieId"]) & set(target["movieId"])
        assert set(target["movieId"]) <= set(split.train["movieId"])


def _dropped_targets(split, ratings: pd.DataFrame) -> int:
    return int(ratings["userId"].isin(split.foldin["userId"]).sum()) - len(split.foldin)


def test_split_is_stable_for_a_seed_and_changes_with_it():
    ratings = _synthetic()
    a, b = split_users(ratings, seed=11), split_users(ratings, seed=11)
    for part in ("train", "foldin", "target"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part))
    c = split_users(ratings, seed=12)
    assert set(a.foldin["userId"]) != set(c.foldin["userId"])
    with pytest.raises(ValueError):
        split_users(ratings, holdout_users=1.0)


def test_eval_users_pairs_each_users_fold_in_with_targets_and_samples_by_seed():
    foldin = pd.DataFrame(
        {"userId": [3, 1, 3, 2, 1], "movieId": [30, 10, 31, 20, 11], "rating": [4, 5, 3, 2, 1.0]}
    )
    target = pd.DataFrame({"userId": [1, 3, 3], "movieId": [12, 32, 33], "rating": [4, 5, 1.0]})
    users = eval_users(foldin, target)
    assert [u.user_id for u in users] == [1, 3]  # user 2 has nothing left to find
    one, three = users
    assert one.ids.tolist() == [10, 11] and one.stars.tolist() == [5.0, 1.0]
    assert three.target_ids.tolist() == [32, 33] and three.relevant.tolist() == [32]
    picked = [u.user_id for u in eval_users(foldin, target, max_users=1, seed=5)]
    assert picked == [u.user_id for u in eval_users(foldin, target, max_users=1, seed=5)]
    assert len(picked) == 1


# -- the baselines -----------------------------------------------------------------------------


def test_popularity_recommends_the_most_rated_films_the_user_has_not_rated():
    train = pd.DataFrame(
        {"userId": [1, 1, 1, 2, 2, 3], "movieId": [10, 20, 30, 10, 20, 10], "rating": 4.0}
    )
    pop = Popularity(Universe.from_ratings(train))
    assert pop.top(np.array([99]), np.array([4.0]), 3).tolist() == [10, 20, 30]
    assert pop.top(np.array([10]), np.array([4.0]), 3).tolist() == [20, 30]


def test_ease_matches_its_closed_form():
    rng = np.random.default_rng(0)
    x = (rng.random((30, 8)) < 0.4).astype(np.float64)
    users, films = np.nonzero(x)
    train = pd.DataFrame({"userId": users, "movieId": films + 100, "rating": 4.0})
    items = np.arange(8) + 100
    g = gram(train, items)
    np.testing.assert_allclose(g, x.T @ x)
    lam = 2.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(8))
    expected = np.eye(8) - p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(ease_weights(g, lam), expected, rtol=1e-4, atol=1e-5)
    ease = Ease(items, ease_weights(g, lam), lam)
    top = ease.top(np.array([100, 101]), np.array([4.0, 4.0]), 8)
    assert set(top) == set(items) - {100, 101}
    scores = expected[[0, 1]].sum(axis=0)
    assert top[0] == items[2:][np.argmax(scores[2:])]


def test_gram_and_mirror_work_a_block_at_a_time():
    rng = np.random.default_rng(1)
    x = (rng.random((20, 7)) < 0.5).astype(np.float64)
    users, films = np.nonzero(x)
    train = pd.DataFrame({"userId": users, "movieId": films, "rating": 3.0})
    np.testing.assert_allclose(gram(train, np.arange(7), block=3), x.T @ x)
    full = rng.random((7, 7))
    full = full + full.T
    for lower in (True, False):
        half = np.tril(full) if lower else np.triu(full)
        _mirror(half, lower, block=3)
        np.testing.assert_array_equal(half, full)


# -- the sweep and the report ------------------------------------------------------------------


def test_grid_sweeps_components_scalings_and_the_notebook_filters():
    variants = grid(TrainConfig(), ks=(8, 16))
    labels = [v.label for v in variants]
    assert "zscore k=8" in labels and "liked-binary k=16" in labels
    assert "notebook users k=16" in labels
    notebook = next(v for v in variants if v.label == "notebook users k=16").cfg
    assert (notebook.user_min_percentile, notebook.user_max_percentile) == (0.5, 0.97)
    assert all(v.cfg.user_min_percentile == 0.0 for v in variants if v.group != "notebook users")


def test_choose_takes_the_simplest_setting_within_one_standard_error():
    def row(k: int, recall: float, policy: str = POLICY, group: str = "zscore") -> dict:
        return {"variant": f"{group} k={k}", "k": k, "policy": policy, "group": group,
                "recall@20": recall, "recall@20_se": 0.02}  # fmt: skip

    rows = [row(16, 0.30), row(64, 0.335), row(128, 0.35), row(256, 0.352), row(8, 0.9, "x")]
    assert choose(rows)["k"] == 64  # 0.335 >= 0.352 - 0.02; 16 is not
    assert choose(rows, "x")["k"] == 8
    # At equal components a single change (weighting, a film filter) must beat the noise.
    tied = [row(64, 0.34), row(64, 0.345, group="single"), row(64, 0.33, group="binary")]
    assert choose(tied)["variant"] == "zscore k=64"


def test_markdown_table_formats_floats_and_gaps():
    text = markdown_table([{"a": 0.12345, "b": None, "c": "x"}], ("a", "b", "c"))
    assert text.splitlines() == ["| a | b | c |", "| --- | --- | --- |", "| 0.123 | – | x |"]


# -- the real protocol on ml-latest-small: the CI regression test ------------------------------


@pytest.fixture(scope="module")
def evaluation(small_ratings: pd.DataFrame, letterboxd_dir: Path):
    """The evaluation as `boxdrec evaluate` runs it, less the notebook's recipe (slow) and
    with EASE at the λ the full run chooses on ml-latest-small (100) instead of tuning it."""
    from recommender.evaluation.run import EvalSettings, run_evaluation

    settings = EvalSettings(
        models=("popularity", "ease", "ours"),
        ease_lambdas=(100.0,),
        gold_dir=letterboxd_dir / "gold",
    )
    return run_evaluation(small_ratings, settings)


def _by_name(rows: list[dict]) -> dict[str, dict]:
    return {r["name"]: r for r in rows}


@pytest.mark.slow
def test_ours_beats_popularity_and_stays_near_ease(evaluation):
    rows = _by_name(evaluation.report["models"])
    for row in rows.values():
        assert set(METRIC_KEYS) <= set(row)
    ours, pop, ease = rows["ours"], rows["popularity"], rows["EASE"]
    assert ours["users"] == pop["users"] == ease["users"] > 100
    assert ours["recall@20"] >= 0.9 * ease["recall@20"]
    assert ours["recall@20"] >= POPULARITY_MULTIPLE * pop["recall@20"]
    # Floors a little under what was measured (docs/evaluation.md), so a regression shows.
    assert ours["recall@20"] >= OURS_FLOORS["recall@20"]
    assert ours["recall@50"] >= OURS_FLOORS["recall@50"]
    assert ours["ndcg@100"] >= OURS_FLOORS["ndcg@100"]
    assert ours["coverage"] > 2 * pop["coverage"]
    assert ours["mean_popularity"] < pop["mean_popularity"]
    assert ours["rmse"] < OURS_FLOORS["rmse"]  # stars, on the held-out ratings
    # Predicted stars beat the user's own mean (what popularity predicts) by a clear margin.
    assert ours["rmse"] < pop["rmse"] - 0.05
    # The list as the service shows it (blocks of ten by stars) keeps the model's hits.
    shown = rows["ours (as shown)"]
    assert shown["recall@20"] >= 0.98 * ours["recall@20"]
    assert shown["recall@20"] >= POPULARITY_MULTIPLE * pop["recall@20"]
    assert ease["recall@20"] >= 0.30 and pop["recall@20"] >= 0.15  # the baselines are sane
    targets = evaluation.report["targets"]
    assert targets["recall@20 / EASE"]["met"]


@pytest.mark.slow
def test_a_hated_film_does_not_pull_its_neighbours_up(evaluation):
    trap = evaluation.report["presence_trap"]
    assert trap["policy_in_use"] == POLICY
    gain = {(t["name"], t["stars"]): t["rank_gain"] for t in trap["trap"]}
    # The notebook's policy: a 2★ film lifts the films like it by many places...
    assert gain[("scaled", 2.0)] > 10
    assert gain[("scaled", 0.5)] > 0
    # ...ours: they do not rise (what is left is the user's average moving, a few places).
    assert gain[(POLICY, 2.0)] < 1
    assert gain[(POLICY, 0.5)] < 1
    recall = {m["name"]: m["recall@20"] for m in trap["metrics"]}
    assert recall[POLICY] >= 0.95 * recall["scaled"]  # the fix costs little or no recall


@pytest.mark.slow
def test_gold_sets_hit_rates(evaluation):
    gold = _by_name(evaluation.report["gold"])
    assert set(gold) == {"popularity", "EASE", "ours"}
    assert all(g["cases"] == gold["ours"]["cases"] > 30 for g in gold.values())
    assert gold["ours"]["hit@50"] >= gold["ours"]["hit@20"] > 0
    assert gold["ours"]["hit@50"] > gold["popularity"]["hit@50"]


@pytest.mark.slow
def test_report_text_and_files(evaluation, tmp_path: Path):
    text = format_report(evaluation.report)
    for word in ("recall@20", "popularity", "EASE", "ours", "Presence trap", "Gold sets"):
        assert word in text
    [path] = write_outputs(evaluation.report, tmp_path / "out")
    assert json.loads(path.read_text())["models"] == evaluation.report["models"]


# -- the command --------------------------------------------------------------------------------


def test_evaluate_command_prints_json_per_model(
    monkeypatch: pytest.MonkeyPatch, capsys, small_ratings, tmp_path: Path
):
    data = Path(os.environ.get("BOXDREC_TEST_DATA", REPO.parent / "shared" / "data" / "movielens"))
    monkeypatch.setenv("BOXDREC_DATA_DIR", str(data))
    code = main(["evaluate", "--models", "popularity", "--json", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    [row] = report["models"]
    assert row["name"] == "popularity"
    assert set(METRIC_KEYS) <= set(row)
    assert 0 < row["recall@20"] <= row["recall@50"] <= 1
    assert (tmp_path / "report.json").is_file()
    assert "Split (seed 0)" in err  # progress goes to stderr, the result to stdout

    code = main(["evaluate", "--models", "popularity"])
    out, _ = capsys.readouterr()
    assert code == 0 and out.splitlines()[2].split()[0] == "model"


def test_evaluate_command_refuses_an_unknown_model(capsys):
    assert main(["evaluate", "--models", "popularity,svd"]) == 1
    assert "--models" in capsys.readouterr().err


def test_across_seeds_gives_mean_error_and_each_seeds_ratio():
    from recommender.evaluation.seeds import seeds_lines, summarise

    def report(seed: int, ours: float, pop: float, ease: float) -> dict:
        rows = [
            {"name": "ours", "recall@20": ours, "rmse": 0.9},
            {"name": "popularity", "recall@20": pop, "rmse": 1.0},
            {"name": "EASE", "recall@20": ease, "rmse": None},
        ]
        return {"seed": seed, "models": rows}

    summary = summarise([report(0, 0.30, 0.15, 0.32), report(1, 0.36, 0.20, 0.40)])
    assert summary["seeds"] == [0, 1]
    ours = {r["name"]: r for r in summary["models"]}["ours"]
    assert ours["recall@20"] == pytest.approx(0.33)
    assert ours["recall@20_se"] == pytest.approx(np.std([0.30, 0.36], ddof=1) / np.sqrt(2))
    assert {r["name"]: r for r in summary["models"]}["EASE"]["rmse"] is None
    pop = summary["targets"]["recall@20 ours / popularity"]
    assert pop["per_seed"] == pytest.approx([2.0, 1.8])
    assert pop["mean"] == pytest.approx(1.9)
    assert pop["seeds_met"] == 1 and not pop["met_on_mean"]
    low, high = pop["ci95"]
    assert low < 1.9 < high
    ease = summary["targets"]["recall@20 ours / EASE"]
    assert ease["per_seed"] == pytest.approx([0.30 / 0.32, 0.36 / 0.40])
    text = "\n".join(seeds_lines(summary))
    assert "met on 1 of 2 seeds (2.00, 1.80)" in text
    assert "0.330 ± 0.030" in text


@pytest.mark.parametrize("seeds", ["0,x", "1,1", "-1,2", ""])
def test_evaluate_refuses_bad_seeds(capsys, seeds: str):
    assert main(["evaluate", f"--seeds={seeds}"]) == 1
    assert "--seeds takes" in capsys.readouterr().err

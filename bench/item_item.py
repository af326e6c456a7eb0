"""The item-item half's cost: its fit against the textbook EASE, and what it adds to a request.

Both run side by side in this process on SYNTHETIC ratings shaped like ml-32m
(``benchlib.synthetic_ratings``: power-law activity and popularity over real movieIds), so the
figures are ratios and the machine's speed cancels out.

    python bench/item_item.py            # fits at 2,000 / 5,000 / 10,000 / 20,000 films
    python bench/item_item.py --quick    # 1,000 / 2,000 / 4,000 films (seconds)

1. **Fit** (``item_item.fit_item_item``: Gram matrix a block of columns at a time, float32
   Cholesky inverse in place, top ``keep`` weights per film) against the textbook EASE
   (Steck's three lines: float64 ``np.linalg.inv`` of ``XᵀX + λI``, then ``B = I - P/diag P``),
   same ratings, same films: seconds, peak memory of each (tracemalloc: NumPy's allocations),
   and the largest difference between the weights kept and the textbook's.
2. **Request**: ``ranking.user_scores`` for users of 50, 500 and 2,000 liked films, blended
   against NMF alone (``w H``) on the same synthetic model (k=370, every film): milliseconds
   (median of repeats) and the ratio.

The last line is JSON with every figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import benchlib as bl
import numpy as np
import pandas as pd

from recommender.foldin import FoldIn
from recommender.item_item import (
    INDICES,
    INDPTR,
    WEIGHTS,
    ItemItem,
    ItemItemConfig,
    fit_item_item,
    gram,
    modelled_films,
)
from recommender.pipeline import limit_blas_threads
from recommender.ranking import UserVector, user_scores
from recommender.scaling import fit_user_scale


def textbook_ease(ratings: pd.DataFrame, item_ids: np.ndarray, lam: float) -> np.ndarray:
    """Steck (2019), as published: dense float64, a general inverse."""
    g = gram(ratings, item_ids).astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return b


def measured(fn):
    """(what fn returns, seconds, peak MiB NumPy allocated meanwhile)."""
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def fit_rows(ratings: pd.DataFrame, sizes: tuple[int, ...]) -> list[dict[str, float]]:
    item_ids = np.unique(ratings["movieId"].to_numpy()).astype(np.int64)
    counts = ratings["movieId"].value_counts().reindex(item_ids).to_numpy()
    rows = []
    for n in sizes:
        cfg = ItemItemConfig(max_films=n)
        films = item_ids[modelled_films(item_ids, counts, n, cfg.min_ratings)]
        sub = ratings[ratings["movieId"].isin(films)]
        (arrays, meta), ours_s, ours_mb = measured(lambda: fit_item_item(sub, films, cfg))  # noqa: B023
        dense, book_s, book_mb = measured(lambda: textbook_ease(sub, films, cfg.lam))  # noqa: B023
        kept = ItemItem(arrays[INDPTR], arrays[INDICES], arrays[WEIGHTS], 1.0).matrix.tocoo()
        diff = float(np.max(np.abs(kept.data - dense[kept.row, kept.col])))
        row = {
            "films": int(films.size),
            "ours_s": round(ours_s, 2),
            "textbook_s": round(book_s, 2),
            "speedup": round(book_s / ours_s, 2),
            "ours_peak_mib": round(ours_mb),
            "textbook_peak_mib": round(book_mb),
            "memory_ratio": round(book_mb / ours_mb, 2),
            "weights_kept": int(meta["weights_stored"]),
            "max_abs_diff": diff,
            "max_abs_weight": float(np.abs(dense).max()),
        }
        print(row, flush=True)
        rows.append(row)
        del dense
    return rows


def request_rows(n_films: int, k: int, repeats: int) -> list[dict[str, float]]:
    comps, _, counts = bl.synthetic_model(n_films, k)
    extras, _ = bl.synthetic_item_item(counts)
    pairs = ItemItem(extras[INDPTR], extras[INDICES], extras[WEIGHTS], 2.0)
    blended, alone = FoldIn(comps, None, pairs), FoldIn(comps)
    rng = np.random.default_rng(2)
    popular = np.argsort(-counts, kind="stable")
    rows = []
    for liked in (50, 500, 2_000):
        positions = np.sort(rng.choice(popular[:20_000], liked, replace=False))
        stars = rng.choice([3.5, 4.0, 4.5, 5.0], liked)
        user = UserVector(positions, stars, np.full(liked, 0.7), fit_user_scale(stars))
        w = alone.transform(user.positions, user.values)
        times = {}
        for name, foldin in (("nmf_alone", alone), ("blended", blended)):
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                user_scores(foldin, user, w)
                runs.append(time.perf_counter() - start)
            times[name] = 1e3 * statistics.median(runs)
        row = {
            "liked_films": liked,
            "nmf_alone_ms": round(times["nmf_alone"], 2),
            "blended_ms": round(times["blended"], 2),
            "ratio": round(times["blended"] / times["nmf_alone"], 2),
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    limit_blas_threads(2)  # training's setting: the fit uses every core it is given
    machine = bl.print_machine()
    load_start = bl.load_average("at start")
    # full size: ml-32m's users and ratings, so the 20,000-film row is what `boxdrec train` fits
    users, n_ratings = (20_000, 3_000_000) if args.quick else (bl.ML32M_USERS, bl.ML32M_RATINGS)
    sizes = (1_000, 2_000, 4_000) if args.quick else (2_000, 5_000, 10_000, 20_000)
    with bl.Timer() as t:
        ratings = pd.DataFrame(bl.synthetic_ratings(users, n_ratings))[["userId", "movieId"]]
    print(f"synthetic ratings: {users:,} users, {len(ratings):,} ratings ({t.s:.1f} s)")
    fits = fit_rows(ratings, sizes)
    limit_blas_threads(1)  # as the bot serves requests
    n_films, k = (5_000, 64) if args.quick else (bl.FULL_MODEL["films"], bl.FULL_MODEL["k"])
    requests = request_rows(n_films, k, repeats=20 if args.quick else 50)
    bl.emit(
        {
            "machine": machine,
            "load_average": [load_start, bl.load_average("at end")],
            "fit": fits,
            "request": {"films": n_films, "k": k, "rows": requests},
        }
    )


if __name__ == "__main__":
    main()

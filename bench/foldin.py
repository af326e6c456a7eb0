"""Fold-in speed: our Gram-matrix NNLS against scikit-learn's ``NMF.transform``, same model.

Both run side by side in this process on one synthetic model (k components, many films) and
the same users; the figures are ratios, so the machine's speed cancels out. BLAS is limited to
one thread for both, as the bot and the CLI run (``recommender.pipeline.limit_blas_threads``;
scikit-learn's coordinate descent is single-threaded Cython anyway).

    python bench/foldin.py            # k=370, 30,000 films
    python bench/foldin.py --quick    # k=64, 5,000 films (seconds)

The last line is JSON: speedup, max_abs_diff (the largest |W_ours - W_sklearn| over every
user and component), max_rel_diff (each user's largest |W_ours - W_sklearn| divided by their
largest |W_sklearn|, the largest over the users), the largest |W| for scale, and the per-user
milliseconds of each.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import benchlib as bl
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning

from recommender.foldin import FoldIn
from recommender.pipeline import limit_blas_threads


def build_model(n_users: int, n_films: int, k: int, seed: int) -> NMF:
    x = sp.random(n_users, n_films, density=0.01, random_state=seed, format="csr")
    x.data = np.random.default_rng(seed).random(x.nnz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NMF(n_components=k, init="nndsvd", solver="cd", max_iter=5).fit(x)
    # A short fit is enough to get realistic components; transform then runs to its tolerance.
    return model.set_params(max_iter=1_000, tol=1e-6)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()
    limit_blas_threads()
    machine = bl.print_machine()
    load_start = bl.load_average("at start")
    k, n_films = (64, 5_000) if args.quick else (370, 30_000)
    model = build_model(max(k, 1_000), n_films, k, seed=0)
    t0 = time.perf_counter()
    ours = FoldIn(model.components_.astype(np.float32))
    setup_s = time.perf_counter() - t0

    rng = np.random.default_rng(1)
    t_sk, t_ours, abs_diffs, rel_diffs, w_max = [], [], [], [], 0.0
    for _ in range(args.users):
        n_rated = int(rng.integers(20, 2_000))
        idx = np.sort(rng.choice(n_films, n_rated, replace=False))
        vals = rng.random(n_rated)
        x = sp.csr_matrix((vals, (np.zeros(n_rated, int), idx)), shape=(1, n_films))
        t = time.perf_counter()
        w_sk = model.transform(x).ravel()
        t_sk.append(time.perf_counter() - t)
        t = time.perf_counter()
        w = ours.transform(idx, vals)
        t_ours.append(time.perf_counter() - t)
        diff = float(np.abs(w - w_sk).max())
        abs_diffs.append(diff)
        rel_diffs.append(diff / max(float(np.abs(w_sk).max()), 1e-12))
        w_max = max(w_max, float(np.abs(w_sk).max()))

    sk_ms, ours_ms = 1e3 * statistics.median(t_sk), 1e3 * statistics.median(t_ours)
    print(f"model: k={k}, {n_films:,} films; {args.users} users of 20-2,000 ratings")
    print(f"one-off setup (H Hᵀ): {1e3 * setup_s:.1f} ms")
    print(f"sklearn NMF.transform: {sk_ms:9.2f} ms per user (median)")
    print(f"boxdrec FoldIn:        {ours_ms:9.2f} ms per user (median)")
    print(
        f"speedup {sk_ms / ours_ms:.0f}x; largest |ΔW| {max(abs_diffs):.2e} (largest |W| "
        f"{w_max:.3g}); largest |ΔW| relative to the user's largest |W| {max(rel_diffs):.2e}"
    )
    bl.emit(
        {
            "k": k,
            "films": n_films,
            "users": args.users,
            "sklearn_ms": round(sk_ms, 3),
            "ours_ms": round(ours_ms, 3),
            "speedup": round(sk_ms / ours_ms, 1),
            "max_abs_diff": max(abs_diffs),
            "max_rel_diff": max(rel_diffs),
            "max_abs_w": w_max,
            "setup_ms": round(1e3 * setup_s, 1),
            "loadavg": [load_start, bl.load_average("at the end")],
            "threadpools": machine["threadpools"],
        }
    )


if __name__ == "__main__":
    main()

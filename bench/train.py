"""Training at ml-32m scale: the whole pipeline on synthetic ratings, against scikit-learn's NMF.

The ratings are SYNTHETIC (``benchlib.synthetic_ratings``): 200,948 users and 32,000,204
ratings over the real ml-32m movieIds, power-law activity (at least 20 each, median about 70)
and power-law film popularity, stars spread like MovieLens's. They are written once as a
GroupLens-style ``ratings.csv`` (cached under ``--cache-dir``) and read back with the library's
own loader, so the pipeline runs exactly as ``boxdrec train`` runs it.

    python bench/train.py            # full size, k=370, 10 iterations (about an hour on 2 cores)
    python bench/train.py --quick    # 5,000 users (796,000 ratings), k=64 (under a minute)

What it measures, all in this process:

1. The pipeline, as ``recommender.training.train`` runs it: load (``read_ratings``), filter
   (``apply_filters``, set to keep every user: the full-scale model), scale and build the
   sparse matrix (``build_matrix``), fit (``fit_nmf``: nndsvd start, then a fixed number of
   coordinate-descent iterations). Seconds and peak RSS (VmHWM, reset per step) of each.
2. scikit-learn side by side on the same matrix: ``non_negative_factorization(solver="cd")``
   and our ``CoordinateDescent`` run the same iterations from the same start (the pipeline's
   result): seconds per iteration of each and the loss each reaches. scikit-learn's own
   nndsvd start is timed too (it runs one iteration with it, which is subtracted).
3. Seconds per iteration at other k on the same matrix, and on fractions of the users at one
   k (how the cost grows with ratings and k), ours and scikit-learn's: the measured ratios,
   and coordinate descent's cost model ``a·ratings·k + b·(users + films)·k² + c`` fitted to
   ours with non-negative coefficients (scipy's ``nnls``).
4. The notebook's filters (users between the 50th and 97th percentile of activity, at most 400
   users per film): ours on every rating, and the notebook's row-by-row selection against ours
   on a slice, side by side.

The last line is JSON: seconds_per_iteration, peak_rss_mb, sklearn_seconds_per_iteration and
the rest of the figures.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import benchlib as bl
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import non_negative_factorization
from sklearn.exceptions import ConvergenceWarning

from recommender.crowd import crowd_stats
from recommender.movielens import read_ratings
from recommender.nmf import CoordinateDescent, SparseProducts
from recommender.training import (
    TrainConfig,
    apply_filters,
    build_matrix,
    cap_users_per_film,
    fit_nmf,
    frobenius_loss,
)

T = TypeVar("T")
QUICK = {"users": 5_000, "k": 64, "iterations": 5, "compare": 3, "sweep_k": (32, 128)}
FULL = {"users": bl.ML32M_USERS, "k": 370, "iterations": 10, "compare": 2, "sweep_k": (64, 200)}
NOTEBOOK_FILTERS = {"user_min_percentile": 0.5, "user_max_percentile": 0.97}
NOTEBOOK_CAP = 400
SLICE_CAP = 20  # on a slice of 300-1,000 users the notebook's 400 would never bind


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 users, k=64")
    parser.add_argument("--users", type=int, help="synthetic users (ratings scale with them)")
    parser.add_argument("--k", type=int, help="components of the pipeline's fit")
    parser.add_argument("--iterations", type=int, help="iterations of the pipeline's fit")
    parser.add_argument("--compare", type=int, help="iterations run side by side with sklearn")
    parser.add_argument("--no-sklearn-start", action="store_true", help="skip sklearn's nndsvd")
    parser.add_argument("--no-sweep", action="store_true", help="skip the k and ratings sweeps")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "boxdrec-bench",
        help="where the synthetic ratings.csv is kept between runs",
    )
    parser.add_argument(
        "--sweep-iterations", type=int, help="iterations timed per sweep row (default 1; --quick 2)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    for key in ("users", "k", "iterations", "compare"):
        if getattr(args, key) is None:
            setattr(args, key, size[key])
    args.sweep_k = [k for k in size["sweep_k"] if k != args.k]
    if args.sweep_iterations is None:
        args.sweep_iterations = 2 if args.quick else 1
    # The ratings per user of ml-32m (159.2 on average) whatever the number of users.
    args.ratings = round(bl.ML32M_RATINGS * args.users / bl.ML32M_USERS)
    return args


def step(name: str, fn: Callable[[], T], figures: dict[str, dict[str, float]]) -> T:
    """Run ``fn`` and record its seconds and peak RSS (VmHWM reset first)."""
    gc.collect()
    bl.reset_peak_rss()
    with bl.Timer() as t:
        out = fn()
    peak = bl.status_mb("VmHWM")
    figures[name] = {"seconds": round(t.s, 3), "peak_rss_mb": round(peak, 1)}
    print(f"  {name:<28} {t.s:8.2f} s   peak RSS {peak:7.0f} MiB")
    return out


def synthetic_csv(args: argparse.Namespace) -> Path:
    folder = args.cache_dir / f"synthetic-ml32m-u{args.users}-r{args.ratings}-s{args.seed}"
    path = folder / "ratings.csv"
    if path.is_file():
        print(f"synthetic ratings: {path} (cached)")
        return folder
    print(f"synthetic ratings: generating {args.ratings:,} for {args.users:,} users…")
    with bl.Timer() as t:
        cols = bl.synthetic_ratings(args.users, args.ratings, seed=args.seed)
        bl.write_ratings_csv(cols, path)
    print(f"  written to {path} in {t.s:.1f} s")
    return folder


def describe(ratings) -> str:
    per_user = ratings["userId"].value_counts()
    per_film = ratings["movieId"].value_counts()
    return (
        f"{len(ratings):,} ratings, {len(per_user):,} users (median {per_user.median():.0f}, "
        f"mean {per_user.mean():.0f}, max {per_user.max():,} each), {len(per_film):,} films "
        f"(median {per_film.median():.0f}, max {per_film.max():,} each)"
    )


def quiet_sklearn(**kwargs) -> tuple[np.ndarray, np.ndarray, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return non_negative_factorization(solver="cd", tol=0.0, **kwargs)


def sklearn_iterations(x, w0, h0, iterations: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    """scikit-learn's coordinate descent from ``(w0, h0)``: wall and CPU seconds (all threads)
    per iteration, W, H. CPU time is the work done, whatever share of the machine we got."""
    w0, h0 = w0.copy(), h0.copy()
    start, cpu = time.perf_counter(), time.process_time()
    w, h, n = quiet_sklearn(
        X=x, W=w0, H=h0, n_components=h0.shape[0], init="custom", max_iter=iterations
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert n == iterations, n
    return wall / iterations, cpu / iterations, w, h


def our_iterations(
    xs: SparseProducts, w0, h0, iterations: int
) -> tuple[float, float, np.ndarray, np.ndarray]:
    cd = CoordinateDescent(xs, w0.copy(), h0.copy())
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(iterations):
        cd.step()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall / iterations, cpu / iterations, cd.w, cd.h


def random_start(x: sp.csr_matrix, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``init="random"``: |normal| scaled to the data's mean."""
    rng = np.random.default_rng(seed)
    avg = np.sqrt(x.data.sum() / (x.shape[0] * x.shape[1]) / k)
    return (
        np.abs(avg * rng.standard_normal((x.shape[0], k))),
        np.abs(avg * rng.standard_normal((k, x.shape[1]))),
    )


def pipeline(args: argparse.Namespace, folder: Path, steps: dict) -> dict:
    """load, filter, scale + matrix, fit: what ``recommender.training.train`` does, timed."""
    print(f"\n1. the pipeline (k={args.k}, {args.iterations} iterations, every user kept)")
    keep_all = TrainConfig(
        n_components=args.k,
        max_iter=args.iterations,
        tol=0.0,
        progress_every=1,
        user_min_percentile=0.0,
        user_max_percentile=1.0,
        max_users_per_film=args.users,
        min_ratings_per_film=1,
        scaling="zscore",
        user_weight=0.0,
        random_state=args.seed,
    )
    ratings = step("load (read_ratings)", lambda: read_ratings(folder), steps)
    filtered, _ = step("filter (apply_filters)", lambda: apply_filters(ratings, keep_all), steps)
    matrix = step("scale + sparse matrix", partial(build_matrix, filtered, keep_all.scaling), steps)
    del filtered  # as train() does: the fit needs only the matrix
    x = matrix.matrix
    print(f"     matrix {x.shape[0]:,} users x {x.shape[1]:,} films, {x.nnz:,} ratings")

    ticks: list[tuple[float, float]] = []
    started = time.perf_counter()

    def progress(done: int, total: int, loss: float) -> None:
        ticks.append((time.perf_counter(), loss))
        print(f"     iteration {done}/{total}: {ticks[-1][0] - started:7.1f} s, loss {loss:.4f}")

    fit = step("fit (fit_nmf)", lambda: fit_nmf(x, keep_all, progress), steps)
    per_iter = float(np.median(np.diff([started] + [t for t, _ in ticks])[1:]))
    start_s = ticks[0][0] - started - per_iter  # split X and Xᵀ + nndsvd, approximately
    print(f"     start (nndsvd) about {start_s:.1f} s, then {per_iter:.2f} s per iteration")
    return {
        "ratings": ratings,
        "x": x,
        "fit": fit,
        "seconds_per_iteration": per_iter,
        "start_seconds": start_s,
        "loss": fit.loss,
    }


def side_by_side(args: argparse.Namespace, x, fit) -> dict[str, float]:
    """The same iterations from the same start (the pipeline's W, H), sklearn's and ours."""
    n = args.compare
    print(f"\n2. scikit-learn side by side: {n} iterations from the same start, same matrix")
    w0, h0 = fit.user_factors, fit.components
    with SparseProducts(x) as xs:
        ours_s, ours_cpu, w_ours, h_ours = our_iterations(xs, w0, h0, n)
    print(f"  boxdrec CoordinateDescent  {ours_s:8.2f} s per iteration ({ours_cpu:.2f} s of CPU)")
    sk_s, sk_cpu, w_sk, h_sk = sklearn_iterations(x, w0, h0, n)
    print(
        f"  sklearn solver='cd'        {sk_s:8.2f} s per iteration ({sk_cpu:.2f} s of CPU); "
        f"{sk_s / ours_s:.1f}x the time, {sk_cpu / ours_cpu:.1f}x the CPU"
    )
    loss_ours, loss_sk = frobenius_loss(x, w_ours, h_ours), frobenius_loss(x, w_sk, h_sk)
    rel = abs(loss_ours - loss_sk) / loss_sk
    w_diff = float(np.abs(w_ours - w_sk).max() / np.abs(w_sk).max())
    h_diff = float(np.abs(h_ours - h_sk).max() / np.abs(h_sk).max())
    print(
        f"  loss after {args.iterations} + {n} iterations: ours {loss_ours:.6f}, sklearn "
        f"{loss_sk:.6f} (relative difference {rel:.1e}); largest |ΔW| {w_diff:.1e}, |ΔH| "
        f"{h_diff:.1e} of the largest entry"
    )
    out = {
        "ours_s": ours_s,
        "sklearn_s": sk_s,
        "ours_cpu_s": ours_cpu,
        "sklearn_cpu_s": sk_cpu,
        "loss_ours": loss_ours,
        "loss_sklearn": loss_sk,
        "loss_rel_diff": rel,
        "w_rel_diff": w_diff,
        "h_rel_diff": h_diff,
    }
    del w_ours, h_ours, w_sk, h_sk
    if not args.no_sklearn_start:
        gc.collect()
        start = time.perf_counter()
        quiet_sklearn(X=x, n_components=args.k, init="nndsvd", max_iter=1, random_state=args.seed)
        out["sklearn_start_s"] = time.perf_counter() - start - sk_s
        print(f"  sklearn's nndsvd start     {out['sklearn_start_s']:8.1f} s")
    return out


def sweeps(args: argparse.Namespace, x: sp.csr_matrix, main: dict) -> dict[str, list[dict]]:
    """Seconds per iteration at other k (every user), and on fractions of the users."""
    print("\n3. cost per iteration (random start; the cost does not depend on the values)")
    print("       k   users     ratings    ours s/it  sklearn s/it  ratio")
    rows_k = [
        {
            "k": args.k,
            "users": x.shape[0],
            "films": x.shape[1],
            "ratings": x.nnz,
            "ours_s": main["ours_s"],  # the side-by-side run: the same iterations as sklearn's
            "sklearn_s": main["sklearn_s"],
            "ours_cpu_s": main["ours_cpu_s"],
            "sklearn_cpu_s": main["sklearn_cpu_s"],
        }
    ]

    def measure(m: sp.csr_matrix, k: int) -> dict:
        w0, h0 = random_start(m, k, args.seed)
        with SparseProducts(m) as xs:
            our_iterations(xs, w0, h0, 1)  # warm-up: page faults of the fresh factors
            ours_s, ours_cpu, *_ = our_iterations(xs, w0, h0, args.sweep_iterations)
        sk_s, sk_cpu, *_ = sklearn_iterations(m, w0, h0, args.sweep_iterations)
        row = {
            "k": k,
            "users": m.shape[0],
            "films": m.shape[1],
            "ratings": m.nnz,
            "ours_s": ours_s,
            "sklearn_s": sk_s,
            "ours_cpu_s": ours_cpu,
            "sklearn_cpu_s": sk_cpu,
        }
        show(row)
        return row

    def show(r: dict) -> None:
        print(
            f"  {r['k']:6d} {r['users']:7,d} {r['ratings']:11,d} {r['ours_s']:12.3f} "
            f"{r['sklearn_s']:13.3f} {r['sklearn_s'] / r['ours_s']:6.1f}x"
        )

    show(rows_k[0])
    rows_k += [measure(x, k) for k in args.sweep_k]
    rows_k.sort(key=lambda r: r["k"])
    k_small = min([*args.sweep_k, args.k])
    rows_n = []
    for frac in (0.125, 0.25, 0.5):
        rows_n.append(measure(x[: round(frac * x.shape[0])], k_small))
    rows_n.append(next(r for r in rows_k if r["k"] == k_small))
    growth = growth_ratios(rows_k, rows_n)
    for g in growth:
        print(
            f"  {g['what']:<9} x{g['factor']:5.2f} ({g['from']:>11,} -> {g['to']:>11,}): "
            f"ours x{g['ours']:.2f}, sklearn x{g['sklearn']:.2f}"
        )
    model = cost_model(rows_k + rows_n[:-1])
    print(
        f"  fit (non-negative least squares on ours, {model['basis']} seconds): "
        f"{model['a_ns']:.3g} ns x ratings x k + {model['b_ns']:.3g} ns x (users + films) x k² "
        f"+ {model['c_s']:.3g} s; largest miss {100 * model['max_rel_error']:.0f}%"
    )
    return {"by_k": rows_k, "by_ratings": rows_n, "growth": growth, "cost_model": model}


def growth_ratios(rows_k: list[dict], rows_n: list[dict]) -> list[dict]:
    """Measured growth of the seconds per iteration: each k against the smallest, each share of
    the ratings against the smallest share (the ratio of the work, not a fit)."""
    out = []
    for what, rows, key in (("k", rows_k, "k"), ("ratings", rows_n, "ratings")):
        base = min(rows, key=lambda r: r[key])
        for r in sorted(rows, key=lambda r: r[key]):
            if r is base:
                continue
            out.append(
                {
                    "what": what,
                    "from": base[key],
                    "to": r[key],
                    "factor": r[key] / base[key],
                    "ours": r["ours_s"] / base["ours_s"],
                    "sklearn": r["sklearn_s"] / base["sklearn_s"],
                }
            )
    return out


def cost_model(rows: list[dict]) -> dict[str, object]:
    """Coordinate-descent NMF's cost per iteration, ``a·ratings·k + b·(users + films)·k² + c``
    (the sparse products X Hᵀ and Xᵀ W; the k × k Gram matrices and the coordinate updates of
    every row of W and column of H; a fixed overhead), fitted to our rows with a, b, c >= 0.
    On CPU seconds (the work done, which other jobs on the machine do not inflate) when the
    rows have them, else on wall seconds."""
    from scipy.optimize import nnls

    basis = "CPU" if all("ours_cpu_s" in r for r in rows) else "wall"
    t = np.array([r["ours_cpu_s" if basis == "CPU" else "ours_s"] for r in rows])
    design = np.array(
        [[r["ratings"] * r["k"], (r["users"] + r["films"]) * r["k"] ** 2, 1.0] for r in rows]
    )
    scale = design.max(axis=0)  # columns of comparable size for the solver
    coef, _ = nnls(design / scale, t)
    a, b, c = coef / scale
    predicted = design @ (coef / scale)
    return {
        "basis": basis,
        "a_ns": a * 1e9,
        "b_ns": b * 1e9,
        "c_s": c,
        "max_rel_error": float(np.max(np.abs(predicted - t) / t)),
        "rows": len(rows),
    }


def notebook_filters(args: argparse.Namespace, ratings, steps: dict) -> dict[str, float]:
    """The notebook's own filter settings: ours on every rating; the notebook's row loop on a
    slice, side by side with ours on the same slice."""
    print("\n4. the notebook's filters (50th-97th percentile of activity, 400 users per film)")
    cfg = TrainConfig(**NOTEBOOK_FILTERS, max_users_per_film=NOTEBOOK_CAP, min_ratings_per_film=1)
    kept, stats = step("ours, every rating", lambda: apply_filters(ratings, cfg), steps)
    print(f"     kept {stats.steps[-1]['users']:,} users, {len(kept):,} ratings")
    sys.path.insert(0, str(bl.REPO / "tests"))
    from test_training import select_diverse_users  # the notebook's function, verbatim

    n_users = 300 if args.quick else 1_000
    part = ratings[ratings["userId"] <= n_users]
    with bl.Timer() as t_ours:
        ours = cap_users_per_film(part, SLICE_CAP)
    with bl.Timer() as t_nb:
        theirs = select_diverse_users(part, similarity_threshold=1, max_users_per_movie=SLICE_CAP)
    assert ours.equals(theirs) and len(ours) < len(part)
    per_rating = t_nb.s / len(part)
    print(
        f"  diversity selection on {len(part):,} ratings ({n_users} users, at most "
        f"{SLICE_CAP} per film): notebook "
        f"{t_nb.s:.2f} s, ours {1e3 * t_ours.s:.1f} ms ({t_nb.s / t_ours.s:.0f}x), same rows; "
        f"the notebook's loop would take at least {per_rating * len(ratings):,.0f} s for "
        f"{len(ratings):,} ratings (linear extrapolation; its similarity loop is quadratic)"
    )
    return {
        "slice_ratings": len(part),
        "notebook_s": t_nb.s,
        "ours_s": t_ours.s,
        "notebook_extrapolated_s": per_rating * len(ratings),
        "kept_users": stats.steps[-1]["users"],
        "kept_ratings": len(kept),
    }


def main() -> None:
    args = parse_args()
    machine = bl.print_machine()
    load_before = os.getloadavg()
    print(f"load average at start: {load_before[0]:.2f} (other jobs share the machine)")
    folder = synthetic_csv(args)
    steps: dict[str, dict[str, float]] = {}
    wall = time.perf_counter()
    main_fit = pipeline(args, folder, steps)
    pipeline_s = time.perf_counter() - wall
    pipeline_peak = max(s["peak_rss_mb"] for s in steps.values())
    print(f"  whole pipeline {pipeline_s:.1f} s, peak RSS {pipeline_peak:.0f} MiB")
    ratings, x = main_fit.pop("ratings"), main_fit["x"]
    print(f"     data: {describe(ratings)}")

    main_fit.update(side_by_side(args, x, main_fit.pop("fit")))
    sweep = {} if args.no_sweep else sweeps(args, x, main_fit)
    extra: dict[str, dict[str, float]] = {}
    nb = notebook_filters(args, ratings, extra)
    step("crowd statistics (taste)", lambda: crowd_stats(ratings), extra)
    load_after = os.getloadavg()
    print(f"\nload average at the end: {load_after[0]:.2f}")
    bl.emit(
        {
            "seconds_per_iteration": round(main_fit["seconds_per_iteration"], 3),
            "peak_rss_mb": round(pipeline_peak, 1),
            "sklearn_seconds_per_iteration": round(main_fit["sklearn_s"], 3),
            "speedup_per_iteration": round(main_fit["sklearn_s"] / main_fit["ours_s"], 2),
            "side_by_side_ours_seconds_per_iteration": round(main_fit["ours_s"], 3),
            "side_by_side_ours_cpu_seconds_per_iteration": round(main_fit["ours_cpu_s"], 3),
            "sklearn_cpu_seconds_per_iteration": round(main_fit["sklearn_cpu_s"], 3),
            "loss_ours": main_fit["loss_ours"],
            "loss_sklearn": main_fit["loss_sklearn"],
            "loss_rel_diff": main_fit["loss_rel_diff"],
            "start_seconds": round(main_fit["start_seconds"], 2),
            "sklearn_start_seconds": (
                round(main_fit["sklearn_start_s"], 2) if "sklearn_start_s" in main_fit else None
            ),
            "pipeline_seconds": round(pipeline_s, 1),
            "steps": steps,
            "k": args.k,
            "iterations": args.iterations,
            "users": int(x.shape[0]),
            "films": int(x.shape[1]),
            "ratings": int(x.nnz),
            "synthetic": True,
            "sweep": sweep,
            "notebook_filters": nb,
            "other_steps": extra,
            "loadavg": [round(load_before[0], 2), round(load_after[0], 2)],
            "threadpools": machine["threadpools"],
        }
    )


if __name__ == "__main__":
    main()

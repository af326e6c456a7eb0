"""A whole /recommend request in-process, on a model the size of the full ml-32m catalogue.

One request is what the bot's job runs, then what its reply runs: parse a 2,000-row
``ratings.csv`` (``read_export``), match it to MovieLens (``user_films``), fold in, rank and
explain (``recommend_films``), and format the Discord pages (``bot.embeds.build_pages``).
The model is synthetic (``benchlib.synthetic_model``: 84,000 of the real ml-32m movieIds,
k=370, float32, saved and memory-mapped by the library's own model store); the catalogue is
the real one, the export is made of real Letterboxd films (``tests/e2e/loadgen.py``).

Side by side in this process:

* the floor: one pass over the item matrix (``w @ H``, what every request must read);
* the notebook's request: the same steps with scikit-learn's ``NMF.transform`` doing the
  fold-in (the notebook's settings, ``max_iter=300, tol=1e-4``), run once (it takes minutes
  at full size).

Matching caches its results per (title, year): a request is *cold* when that cache is emptied
first (a new user's films), *warm* otherwise (a user asking again). The headline p50/p99 are the
cold ones.

    python bench/request.py            # 84,000 films, k=370, 60 requests
    python bench/request.py --quick    # 84,000 films, k=64, 20 requests (under a minute)

The last line is JSON: p50_ms, p99_ms (cold), warm_p50_ms, the steps' p50s, floor_ms, the
baseline's seconds, the ratio of each, RSS, and whether a request allocates an item matrix's
worth of memory (``request_peak_alloc_mb``, from tracemalloc, against ``components_mb``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import benchlib as bl
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(bl.REPO / "tests" / "e2e"))
from loadgen import big_ratings_export

from bot.embeds import build_pages
from recommender.foldin import FoldIn
from recommender.pipeline import load_service

FILENAME = "ratings.csv"
COUNT = 10  # films asked for: /recommend's default


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="k=64, 20 requests")
    parser.add_argument("--films", type=int, default=bl.FULL_MODEL["films"])
    parser.add_argument("--k", type=int, help="components (default 370, --quick 64)")
    parser.add_argument("--n", type=int, help="requests timed (default 60, --quick 20)")
    parser.add_argument("--export-films", type=int, default=2_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip NMF.transform")
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the loaded service in the garbage collector's sight (the bot freezes it)",
    )
    parser.add_argument("--data-dir", type=Path, default=bl.SHARED / "movielens")
    parser.add_argument(
        "--letterboxd-dir",
        type=Path,
        default=Path(os.environ.get("BOXDREC_TEST_LETTERBOXD") or bl.SHARED / "letterboxd"),
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="where the synthetic model is written (default: a temporary folder)",
    )
    args = parser.parse_args()
    args.k = args.k or (64 if args.quick else bl.FULL_MODEL["k"])
    args.n = args.n or (20 if args.quick else 60)
    return args


class SklearnFoldIn(FoldIn):
    """Our fold-in with ``transform`` done by scikit-learn's ``NMF.transform`` (the notebook's)."""

    def __init__(self, components: np.ndarray) -> None:
        from sklearn.decomposition import NMF

        super().__init__(components)
        k, n_films = components.shape
        # A fitted NMF as the notebook saved it: its components, its max_iter and tol.
        self.nmf = NMF(n_components=k, init="nndsvd", solver="cd", max_iter=300, tol=1e-4)
        self.nmf.components_ = np.asarray(components, dtype=np.float64)
        self.nmf.n_components_ = k
        self.nmf.n_features_in_ = n_films
        self.seconds = 0.0

    def transform(self, item_index: np.ndarray, values: np.ndarray) -> np.ndarray:
        n_films = self.components.shape[1]
        rows = np.zeros(len(item_index), dtype=np.intp)
        x = sp.csr_matrix((values, (rows, item_index)), shape=(1, n_films), dtype=np.float64)
        start = time.perf_counter()
        w = self.nmf.transform(x).ravel()
        self.seconds += time.perf_counter() - start
        return w


def one_request(service, data: bytes, cold: bool) -> dict[str, float]:
    """Seconds of each step of one request."""
    if cold:
        service.matcher._cache.clear()  # a new user's films: nothing matched before
    t0 = time.perf_counter()
    export = service.read_export(data, FILENAME)
    t1 = time.perf_counter()
    films, _ = service.user_films(export)
    t2 = time.perf_counter()
    result = service.recommend_films(films, n=COUNT)
    t3 = time.perf_counter()
    pages = build_pages(result)
    t4 = time.perf_counter()
    assert len(result.items) == COUNT and pages, result.summary
    return {
        "parse": t1 - t0,
        "match": t2 - t1,
        "rank": t3 - t2,
        "format": t4 - t3,
        "total": t4 - t0,
    }


def p(values: list[float], q: float) -> float:
    return 1e3 * bl.percentile(values, q)


def main() -> None:
    args = parse_args()
    machine = bl.print_machine()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other jobs share the machine)")
    tmp = None
    if args.model_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="boxdrec-bench-request-")
        args.model_dir = Path(tmp.name)
    with bl.Timer() as t:
        name = bl.write_synthetic_model(args.model_dir, args.films, args.k)
    print(f"model: {name} in {args.model_dir} ({t.s:.1f} s)")
    rss_before = bl.status_mb("VmRSS")
    with bl.Timer() as t:
        service = load_service(args.data_dir, args.model_dir, name)
    comps = service.model.components
    comps_mb = comps.nbytes / 2**20
    print(
        f"service loaded in {t.s:.1f} s: catalogue {len(service.catalogue):,} films, model "
        f"{comps.shape[1]:,} films x k={comps.shape[0]} ({comps.dtype}, {comps_mb:.0f} MiB, "
        f"memory-mapped: {isinstance(comps, np.memmap)})"
    )
    if not args.no_freeze:  # as the bot does once it has loaded (bot/client.py)
        gc.collect()
        gc.freeze()
    export = big_ratings_export(args.letterboxd_dir, args.export_films)
    print(f"export: {export.films:,} films, {len(export.data) / 1024:.0f} KiB; {export.source}")

    warm_up = one_request(service, export.data, cold=True)
    print(f"first request (page faults of the model, cold caches): {1e3 * warm_up['total']:.0f} ms")
    runs = {"cold": [], "warm": []}
    gc.collect()
    for _ in range(args.n):
        for kind in ("cold", "warm"):
            runs[kind].append(one_request(service, export.data, cold=kind == "cold"))
    # The same with one BLAS thread (OPENBLAS_NUM_THREADS=1): the fold-in's small solves and
    # w @ H gain little from two threads, and lose a lot when the other core is busy.
    with threadpool_limits(limits=1, user_api="blas"):
        runs["cold, 1 BLAS thread"] = [
            one_request(service, export.data, cold=True) for _ in range(args.n)
        ]
    rss_after = bl.status_mb("VmRSS")

    # The floor: one pass over the item matrix, as every request makes.
    w = np.random.default_rng(0).random(comps.shape[0]).astype(np.float32)
    floor = []
    for _ in range(max(args.n, 20)):
        start = time.perf_counter()
        _ = w @ comps
        floor.append(time.perf_counter() - start)
    floor_ms = p(floor, 50)

    # No per-request copy of the item matrix: the most one request allocates.
    tracemalloc.start()
    one_request(service, export.data, cold=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak_mb = peak / 2**20

    print(f"\n{args.n} requests each, k={comps.shape[0]}, {comps.shape[1]:,} films:")
    print(f"  {'ms (p50 unless said)':<21}   parse   match fold-in  format   total   total")
    print(f"  {'':<21}                  + rank             p50     p99")
    for kind, rs in runs.items():
        steps = "".join(f"{p([r[s] for r in rs], 50):8.1f}" for s in ("parse", "match", "rank"))
        print(
            f"  {kind:<21}{steps}{p([r['format'] for r in rs], 50):8.2f}"
            f"{p([r['total'] for r in rs], 50):8.1f}{p([r['total'] for r in rs], 99):8.1f}"
        )
    cold_p50 = p([r["total"] for r in runs["cold"]], 50)
    print(f"  floor (w @ H, one pass over the item matrix): {floor_ms:.2f} ms")
    print(f"  cold p50 / floor = {cold_p50 / floor_ms:.1f}x")
    print(
        f"  RSS {rss_before:.0f} MiB before the load, {rss_after:.0f} MiB after the requests; "
        f"one request allocates at most {peak_mb:.1f} MiB (item matrix {comps_mb:.0f} MiB)"
    )

    baseline_s = float("nan")
    if not args.no_baseline:
        print("\nthe notebook's fold-in (NMF.transform), one cold request…", flush=True)
        ours = service.foldin
        service.foldin = SklearnFoldIn(comps)
        try:
            with bl.Timer() as t:
                one_request(service, export.data, cold=True)
            baseline_s = t.s
            print(
                f"  whole request {t.s:.1f} s, of which NMF.transform {service.foldin.seconds:.1f}"
                f" s: {1e3 * t.s / cold_p50:.0f}x our cold p50"
            )
        finally:
            service.foldin = ours
    rs = runs["cold"]
    bl.emit(
        {
            "p50_ms": round(cold_p50, 2),
            "p99_ms": round(p([r["total"] for r in rs], 99), 2),
            "warm_p50_ms": round(p([r["total"] for r in runs["warm"]], 50), 2),
            "warm_p99_ms": round(p([r["total"] for r in runs["warm"]], 99), 2),
            "blas1_p50_ms": round(p([r["total"] for r in runs["cold, 1 BLAS thread"]], 50), 2),
            "blas1_p99_ms": round(p([r["total"] for r in runs["cold, 1 BLAS thread"]], 99), 2),
            "parse_p50_ms": round(p([r["parse"] for r in rs], 50), 2),
            "match_p50_ms": round(p([r["match"] for r in rs], 50), 2),
            "rank_p50_ms": round(p([r["rank"] for r in rs], 50), 2),
            "format_p50_ms": round(p([r["format"] for r in rs], 50), 3),
            "floor_ms": round(floor_ms, 3),
            "p50_over_floor": round(cold_p50 / floor_ms, 1),
            "sklearn_request_s": round(baseline_s, 2),
            "speedup_vs_sklearn": round(1e3 * baseline_s / cold_p50, 1),
            "request_peak_alloc_mb": round(peak_mb, 2),
            "components_mb": round(comps_mb, 1),
            "memory_mapped": isinstance(comps, np.memmap),
            "gc_frozen": not args.no_freeze,
            "rss_mb": round(rss_after, 1),
            "n": args.n,
            "k": int(comps.shape[0]),
            "films": int(comps.shape[1]),
            "export_films": export.films,
            "catalogue_films": len(service.catalogue),
            "threadpools": machine["threadpools"],
        }
    )
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

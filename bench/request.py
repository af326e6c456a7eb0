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
cold ones, with BLAS limited to one thread as ``load_service`` leaves it for the bot and the CLI
(``recommender.pipeline.limit_blas_threads``); the same cold requests with two BLAS threads run
side by side, to check that choice.

How much of the item matrix a request reads depends on the user: the fold-in gathers the
columns of their films (a few cache lines of every row), and the scores ``w H`` read only the
rows of the components with ``w > 0`` when they are few (``FoldIn.scores``). The script prints
how many are active for this export.

    python bench/request.py            # 84,000 films, k=370, 60 requests
    python bench/request.py --quick    # 84,000 films, k=64, 20 requests (under a minute)

The last line is JSON: p50_ms, p99_ms (cold), cpu_p50_ms, warm_p50_ms, blas2_p50_ms (two BLAS
threads), the steps' p50s, floor_ms, the baseline's seconds (null with --no-baseline), the ratio
of each, RSS, and whether a request allocates an item matrix's worth of memory
(``request_peak_alloc_mb``, from tracemalloc, against ``components_mb``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import benchlib as bl
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(bl.REPO / "tests" / "e2e"))
from loadgen import big_ratings_export

from bot.embeds import build_pages
from recommender.foldin import Folded, FoldIn
from recommender.pipeline import load_service

FILENAME = "ratings.csv"
COUNT = 10  # films asked for: /recommend's default
STEPS = ("parse", "match", "rank", "format")


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
    parser.add_argument("--data-dir", type=Path, default=bl.MOVIELENS)
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

    def fold(self, item_index: np.ndarray, values: np.ndarray) -> Folded:
        """Ours, with ``w`` from ``NMF.transform`` (ranking then runs as it does for ours)."""
        ours = super().fold(item_index, values)
        n_films = self.components.shape[1]
        rows = np.zeros(len(item_index), dtype=np.intp)
        x = sp.csr_matrix((values, (rows, item_index)), shape=(1, n_films), dtype=np.float64)
        start = time.perf_counter()
        w = self.nmf.transform(x).ravel()
        self.seconds += time.perf_counter() - start
        return replace(ours, w=w)


def one_request(service, data: bytes, cold: bool) -> dict[str, float]:
    """Seconds of each step of one request, wall clock and CPU time (this process, all its
    threads: what the step costs whatever share of the machine it got)."""
    if cold:
        service.matcher._cache.clear()  # a new user's films: nothing matched before
    wall, cpu = [time.perf_counter()], [time.process_time()]

    def tick() -> None:
        wall.append(time.perf_counter())
        cpu.append(time.process_time())

    export = service.read_export(data, FILENAME)
    tick()
    films, _ = service.user_films(export)
    tick()
    result = service.recommend_films(films, n=COUNT)
    tick()
    pages = build_pages(result)
    tick()
    assert len(result.items) == COUNT and pages, result.summary
    out = {"total": wall[-1] - wall[0], "cpu": cpu[-1] - cpu[0]}
    for i, step in enumerate(STEPS):
        out[step] = wall[i + 1] - wall[i]
        out[f"{step}_cpu"] = cpu[i + 1] - cpu[i]
    return out


def p(values: list[float], q: float) -> float:
    return 1e3 * bl.percentile(values, q)


def main() -> None:
    args = parse_args()
    machine = bl.print_machine()
    load_start = os.getloadavg()[0]
    print(f"load average at start: {load_start:.2f} (other jobs share the machine)")
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

    blas = [
        {"library": i["prefix"], "version": i["version"], "threads": i["num_threads"]}
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    print(
        "BLAS threads as load_service left them: "
        + ", ".join(f"{b['library']} {b['version']}: {b['threads']}" for b in blas)
    )
    warm_up = one_request(service, export.data, cold=True)
    print(f"first request (page faults of the model, cold caches): {1e3 * warm_up['total']:.0f} ms")
    films, _ = service.user_films(service.read_export(export.data, FILENAME))
    user, _ = service.user_vector(films)
    active = int((service.foldin.transform(user.positions, user.values) > 0).sum())
    print(
        f"this user: {user.positions.size:,} films in the model, {active} of k={comps.shape[0]} "
        "components active (w > 0)"
    )
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    gc.collect()
    for _ in range(args.n):  # interleaved, so that the machine's other jobs hit both alike
        for kind in runs:
            runs[kind].append(one_request(service, export.data, cold=kind == "cold"))
    # Two BLAS threads, after the others: OpenBLAS's second thread keeps spinning for a while
    # after each product, and would slow (and bill its CPU time to) the next request.
    with threadpool_limits(limits=2, user_api="blas"):
        runs["cold, 2 BLAS threads"] = [
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
    blas2_p50 = p([r["total"] for r in runs["cold, 2 BLAS threads"]], 50)
    cpu_p50 = p([r["cpu"] for r in runs["cold"]], 50)
    cpu_steps = {s: p([r[f"{s}_cpu"] for r in runs["cold"]], 50) for s in STEPS}
    print(
        f"  cold, CPU time (ms)  {cpu_steps['parse']:8.1f}{cpu_steps['match']:8.1f}"
        f"{cpu_steps['rank']:8.1f}{cpu_steps['format']:8.2f}{cpu_p50:8.1f}"
    )
    print(
        "  (CPU time: this process, all its threads; wall time above it is time the machine's "
        "other jobs held the core)"
    )
    print(f"  two BLAS threads / one: {blas2_p50 / cold_p50:.2f}x the cold p50")
    print(f"  floor (w @ H with every component, one pass over the item matrix): {floor_ms:.2f} ms")
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
            "cpu_p50_ms": round(cpu_p50, 2),
            "cpu_steps_p50_ms": {s: round(v, 2) for s, v in cpu_steps.items()},
            "warm_p50_ms": round(p([r["total"] for r in runs["warm"]], 50), 2),
            "warm_p99_ms": round(p([r["total"] for r in runs["warm"]], 99), 2),
            "blas_threads": blas,
            "blas2_p50_ms": round(blas2_p50, 2),
            "blas2_p99_ms": round(p([r["total"] for r in runs["cold, 2 BLAS threads"]], 99), 2),
            "blas2_over_blas1": round(blas2_p50 / cold_p50, 2),
            "active_components": active,
            "user_films_in_model": int(user.positions.size),
            "parse_p50_ms": round(p([r["parse"] for r in rs], 50), 2),
            "match_p50_ms": round(p([r["match"] for r in rs], 50), 2),
            "rank_p50_ms": round(p([r["rank"] for r in rs], 50), 2),
            "format_p50_ms": round(p([r["format"] for r in rs], 50), 3),
            "floor_ms": round(floor_ms, 3),
            "p50_over_floor": round(cold_p50 / floor_ms, 1),
            "sklearn_request_s": round(baseline_s, 2),  # NaN -> null when not run
            "speedup_vs_sklearn": round(1e3 * baseline_s / cold_p50, 1),
            "loadavg": [round(load_start, 2), round(os.getloadavg()[0], 2)],
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

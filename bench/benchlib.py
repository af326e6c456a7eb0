"""Helpers the bench scripts share: machine info, memory, percentiles and synthetic data.

Scripts run as ``python bench/NAME.py``, so ``bench/`` is on ``sys.path`` and they import this
as ``benchlib``. Nothing here is used by the library or the tests.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data"
# The MovieLens folder: BOXDREC_DATA_DIR (as for boxdrec), else BOXDREC_TEST_DATA (as for the
# tests), else ../shared/data/movielens beside the repo.
MOVIELENS = Path(
    os.environ.get("BOXDREC_DATA_DIR")
    or os.environ.get("BOXDREC_TEST_DATA")
    or SHARED / "movielens"
)
ML32M_MOVIES = MOVIELENS / "ml-32m" / "movies.csv"

# ml-32m's shape (its README): 32,000,204 ratings by 200,948 users, each with at least 20.
ML32M_USERS = 200_948
ML32M_RATINGS = 32_000_204
ML32M_MIN_PER_USER = 20
# Star distribution of the real MovieLens ratings (0.5 .. 5 in half stars), roughly.
STAR_SHARES = {
    0.5: 0.016, 1.0: 0.031, 1.5: 0.017, 2.0: 0.066, 2.5: 0.052,
    3.0: 0.196, 3.5: 0.128, 4.0: 0.265, 4.5: 0.088, 5.0: 0.141,
}  # fmt: skip


def machine() -> dict[str, object]:
    """Cores, Python and library versions, and ``threadpoolctl.threadpool_info()``."""
    import scipy
    import sklearn
    import sklearn.decomposition  # loads the OpenMP runtime that threadpoolctl reports
    from threadpoolctl import threadpool_info

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "threadpools": [
            {
                k: i.get(k)
                for k in ("internal_api", "version", "num_threads", "architecture", "prefix")
            }
            for i in threadpool_info()
        ],
    }


def print_machine() -> dict[str, object]:
    info = machine()
    pools = ", ".join(
        f"{p['internal_api']} {p['version'] or ''} ({p['num_threads']} threads"
        + (f", {p['architecture']})" if p["architecture"] else ")")
        for p in info["threadpools"]  # type: ignore[union-attr]
    )
    print(
        f"machine: {info['cores']} cores, Python {info['python']}, numpy {info['numpy']}, "
        f"scipy {info['scipy']}, scikit-learn {info['scikit-learn']}; threadpools: {pools}"
    )
    return info


def load_average(when: str) -> float:
    """Print and return the 1-minute load average (other jobs share the machine: 2 cores)."""
    load = os.getloadavg()[0]
    print(f"load average {when}: {load:.2f} (2.0 means both cores busy)")
    return round(load, 2)


def json_safe(value: object) -> object:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def emit(summary: dict[str, object]) -> None:
    """The last line every bench prints: its figures as one JSON object (strict JSON: a figure
    that could not be measured is null, never NaN)."""
    print(json.dumps(json_safe(summary), allow_nan=False))


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated ``q``-th percentile (0-100); nan when empty."""
    xs = np.sort(np.fromiter(values, dtype=np.float64))
    return float(np.percentile(xs, q)) if xs.size else float("nan")


def status_mb(key: str, pid: int | str = "self") -> float:
    """``VmRSS``, ``VmHWM``, ``RssFile``… of a process from ``/proc``, in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Timer:
    """``with Timer() as t: ...`` then ``t.s`` seconds."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.start


# -- synthetic data ---------------------------------------------------------------------------


def ml32m_movie_ids() -> np.ndarray:
    """The real ml-32m movieIds (87,585), ascending, from its movies.csv."""
    import pandas as pd

    if not ML32M_MOVIES.is_file():
        raise SystemExit(
            f"bench: {ML32M_MOVIES} is missing. The benchmarks use the real ml-32m movieIds: "
            "set BOXDREC_DATA_DIR to the folder holding ml-32m/ "
            "('boxdrec data download ml-32m' fetches it)."
        )
    ids = pd.read_csv(ML32M_MOVIES, usecols=["movieId"], dtype={"movieId": "int64"})
    return np.unique(ids["movieId"].to_numpy())


def power_law_counts(
    n_users: int, total: int, rng: np.random.Generator, cap: int, lo: int = ML32M_MIN_PER_USER
) -> np.ndarray:
    """Ratings per user: ``lo`` plus a Lomax (Pareto II, tail exponent 1.63) draw, at most
    ``cap``, rescaled so that they sum to ``total`` (ml-32m: median about 73, mean 159)."""
    raw = lo + 100.0 * ((1.0 - rng.random(n_users)) ** (-1 / 1.63) - 1.0)
    raw = np.minimum(raw, cap)
    extra = (raw - lo) * (total - lo * n_users) / (raw - lo).sum()
    counts = np.minimum(lo + np.floor(extra).astype(np.int64), cap)
    short = total - int(counts.sum())
    while short > 0:  # hand out the rounding remainder one rating at a time, below the cap
        room = np.flatnonzero(counts < cap)
        pick = rng.choice(room, min(short, room.size), replace=False)
        counts[pick] += 1
        short = total - int(counts.sum())
    return counts


def film_popularity(n_films: int, rng: np.random.Generator) -> np.ndarray:
    """Power-law popularity ``(rank + 300) ** -1.5`` over films in a random order (sums to 1)."""
    p = (np.arange(n_films) + 300.0) ** -1.5
    p = p[rng.permutation(n_films)]
    return p / p.sum()


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` by sorting: numpy 2.4's hash-based ``np.unique`` is 20x slower here."""
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))] if a.size else a


def _distinct_films(
    counts: np.ndarray, p: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(user, film) pairs, ``counts[u]`` distinct films per user, films drawn by ``p``.

    Light users: draw with replacement, drop repeats, redraw what is missing (a few rounds).
    Heavy users (over 2,000 films): weighted sampling without replacement by exponential keys
    (Efraimidis-Spirakis), one user at a time.
    """
    n_films = p.size
    heavy = np.flatnonzero(counts > 2_000)
    light = np.flatnonzero(counts <= 2_000)
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    done: list[np.ndarray] = []  # keys (user * n_films + film) of users with all their films
    keys = np.empty(0, dtype=np.int64)  # keys of the users still short of films, sorted
    complete = counts > 2_000  # the heavy users are done below
    users, need = light, counts[light]
    while users.size:
        draws = np.repeat(users, need).astype(np.int64)
        films = np.minimum(np.searchsorted(cdf, rng.random(draws.size)), n_films - 1)
        keys = _sorted_unique(np.concatenate([keys, draws * n_films + films]))
        owner = keys // n_films
        have = np.bincount(owner, minlength=counts.size)
        now_full = (have >= counts) & ~complete
        moved = now_full[owner]
        done.append(keys[moved])
        keys = keys[~moved]
        complete |= now_full
        users = np.flatnonzero(~complete)
        need = counts[users] - have[users]
    log_p = np.log(p)
    for u in heavy:
        score = log_p - np.log(-np.log(rng.random(n_films)))  # Gumbel top-k == weighted w/o repl.
        chosen = np.argpartition(-score, counts[u] - 1)[: counts[u]]
        done.append(u * n_films + chosen.astype(np.int64))
    keys = np.sort(np.concatenate(done))
    return keys // n_films, keys % n_films


def synthetic_ratings(
    n_users: int = ML32M_USERS,
    n_ratings: int = ML32M_RATINGS,
    seed: int = 0,
    movie_ids: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Ratings shaped like ml-32m: real movieIds, power-law activity and popularity.

    Returns columns userId (int32, 1..n_users), movieId (int32), rating (float32, half stars:
    a user bias plus a film quality plus noise, with roughly MovieLens's star distribution) and
    timestamp (int64), sorted by user then movieId, as the real ratings.csv is.
    """
    rng = np.random.default_rng(seed)
    ids = ml32m_movie_ids() if movie_ids is None else np.asarray(movie_ids)
    cap = min(ids.size // 3, 33_000)  # ml-32m's most active user rated 33,332 films
    counts = power_law_counts(n_users, n_ratings, rng, cap)
    p = film_popularity(ids.size, rng)
    users, films = _distinct_films(counts, p, rng)
    # Stars: quantiles of a latent score mapped onto the MovieLens star distribution.
    latent = (
        rng.normal(0.0, 0.5, n_users)[users]
        + rng.normal(0.0, 0.6, ids.size)[films]
        + rng.normal(0.0, 1.0, users.size)
    )
    edges = np.quantile(latent, np.cumsum(list(STAR_SHARES.values()))[:-1])
    stars = np.array(list(STAR_SHARES), dtype=np.float32)[np.searchsorted(edges, latent)]
    return {
        "userId": (users + 1).astype(np.int32),
        "movieId": ids[films].astype(np.int32),
        "rating": stars,
        "timestamp": rng.integers(789_652_009, 1_697_164_162, users.size),
    }


def _digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative ints as right-aligned ASCII digits (n × width uint8) and their lengths."""
    v = values.astype(np.int64)
    width = len(str(int(v.max()))) if v.size else 1
    out = np.empty((v.size, width), dtype=np.uint8)
    lengths = np.ones(v.size, dtype=np.int64)
    for col in range(width - 1, -1, -1):
        out[:, col] = 48 + v % 10
        v //= 10
        lengths += v > 0
    return out, lengths


def _csv_chunk(columns: list[np.ndarray]) -> bytes:
    """Rows of comma-separated ints/one-decimal floats, each ending in a newline."""
    fields = []
    for col in columns:
        if col.dtype.kind == "f":  # ratings: one decimal, as GroupLens writes them ("4.0")
            d, n = _digits(np.rint(col.astype(np.float64) * 10).astype(np.int64))
            dot = np.full((col.size, 1), 46, np.uint8)
            text = np.concatenate([d[:, :-1], dot, d[:, -1:]], axis=1)
            fields.append((text, np.maximum(n, 2) + 1))
        else:
            fields.append(_digits(col))
    widths = sum(n for _, n in fields) + len(fields)  # + separators and newline
    ends = np.cumsum(widths)
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    pos = ends - widths
    for i, (text, n) in enumerate(fields):
        w = text.shape[1]
        for j in range(w):  # digit j of a field of length n goes to pos + j - (w - n)
            rows = np.flatnonzero(n >= w - j)
            out[pos[rows] + (j - w) + n[rows]] = text[rows, j]
        pos = pos + n
        out[pos] = 10 if i == len(fields) - 1 else 44
        pos = pos + 1
    return out.tobytes()


def write_ratings_csv(columns: dict[str, np.ndarray], path: Path, chunk: int = 2_000_000) -> Path:
    """``ratings.csv`` as GroupLens writes it (userId,movieId,rating,timestamp), atomically.

    Formatted with numpy: pandas' ``to_csv`` takes minutes for 32 million rows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ratings-", suffix=".csv", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write((",".join(columns) + "\n").encode())
        n = len(next(iter(columns.values())))
        for lo in range(0, n, chunk):
            out.write(_csv_chunk([c[lo : lo + chunk] for c in columns.values()]))
    os.replace(tmp, path)
    return path


def synthetic_model(
    n_films: int, k: int, seed: int = 0, movie_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(components k × films float32, item_ids, item_counts) shaped like a trained model:
    sparse-ish non-negative factors whose column norms follow film popularity."""
    rng = np.random.default_rng(seed)
    ids = ml32m_movie_ids()[:n_films] if movie_ids is None else np.asarray(movie_ids)[:n_films]
    if ids.size < n_films:
        raise ValueError(f"only {ids.size} movieIds for {n_films} films")
    p = film_popularity(n_films, rng)
    comps = rng.gamma(0.3, 1.0, (k, n_films)).astype(np.float32)
    comps *= (np.sqrt(p / p.max()) * 0.5).astype(np.float32)
    counts = np.maximum(1, np.round(p * ML32M_RATINGS)).astype(np.int32)
    return comps, ids.astype(np.int64), counts


FULL_MODEL = {"films": 84_000, "k": 370}  # the size of a model trained on all of ml-32m


def synthetic_item_item(
    counts: np.ndarray, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """An item-item half shaped like ``item_item.fit_item_item``'s at its default settings:
    the most-rated films (at most ``max_films``) each keep ``keep`` weights among themselves.
    At ml-32m size that is 20,000 films × 1,000 weights, what a request gathers from."""
    from recommender.item_item import INDICES, INDPTR, WEIGHTS, ItemItemConfig

    cfg = ItemItemConfig()
    rng = np.random.default_rng(seed + 1)
    n = counts.size
    films = np.sort(np.argsort(-counts, kind="stable")[: min(cfg.max_films, n)])
    keep = min(cfg.keep, films.size - 1)
    lengths = np.zeros(n, dtype=np.int64)
    lengths[films] = keep
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = films[rng.integers(0, films.size, films.size * keep)].astype(np.int32)
    weights = (rng.standard_normal(indices.size) * 0.01 + 0.005).astype(np.float32)
    meta = {**asdict(cfg), "lambda": cfg.lam, "films": int(films.size)}
    meta["weights_stored"] = int(indices.size)
    return {INDPTR: indptr, INDICES: indices, WEIGHTS: weights}, meta


def write_synthetic_model(root: Path, n_films: int, k: int, seed: int = 0) -> str:
    """A model folder as ``save_model`` writes it (float32, checksummed) holding
    :func:`synthetic_model`'s factors over the first ``n_films`` ml-32m movieIds and
    :func:`synthetic_item_item`'s half; its name."""
    from recommender.item_item import META
    from recommender.model_store import save_model

    name = f"synthetic-{n_films}-k{k}-s{seed}-ii"
    if not (root / name / "metadata.json").is_file():
        comps, ids, counts = synthetic_model(n_films, k, seed)
        extras, pairs = synthetic_item_item(counts, seed)
        meta = {"dataset": "ml-32m", "synthetic": True, "note": "bench/benchlib.py", META: pairs}
        save_model(root / name, comps, ids, counts, meta, extras)
    return name

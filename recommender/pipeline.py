"""Getting a service ready: find or train the model, download data on first use.

This is where "the first run trains the default model" lives, so the CLI and the bot behave
the same way on a fresh machine.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender import config, item_item
from recommender import film_bias as bias_mod
from recommender.config import ImportLimits
from recommender.crowd import crowd_stats
from recommender.dimensions import name_components, read_tags
from recommender.download import ensure_dataset
from recommender.errors import ModelError
from recommender.film_bias import film_bias
from recommender.hashing import sha256_file
from recommender.model_store import NMFModel, check_model_name, load_model, save_model
from recommender.movielens import DEFAULT_DATASET, load_catalogue, read_movies, read_ratings
from recommender.taste_data import taste_extras

if TYPE_CHECKING:
    from recommender.training import TrainConfig

log = logging.getLogger(__name__)

DEFAULT_MODEL = DEFAULT_DATASET
# BLAS threads for serving requests. A request's products are small (the fold-in's k × k solves,
# a pass over the item matrix) and OpenBLAS's second thread mostly waits: one thread was 2-4x
# faster in bench/request.py (docs/benchmarks.md), and the bot runs two requests at once anyway.
REQUEST_BLAS_THREADS = 1

Say = Callable[[str], None]


def model_name() -> str:
    """The model to serve: ``BOXDREC_MODEL`` or the default trained on ml-latest-small."""
    return os.environ.get("BOXDREC_MODEL", "").strip() or DEFAULT_MODEL


def train_and_save(
    cfg: TrainConfig,
    data_root: Path,
    model_root: Path,
    name: str | None = None,
    say: Say | None = None,
) -> Path:
    """Train on ``data_root/cfg.dataset`` and write the model to ``model_root/name``."""
    # scikit-learn takes seconds to import; only training needs it.
    from recommender.training import config_dict, train

    target = model_root / check_model_name(name or cfg.dataset)
    folder = data_root / cfg.dataset
    ratings = read_ratings(folder)
    progress = None
    if say:

        def progress(done: int, total: int, loss: float) -> None:
            say(f"  iteration {done}/{total}  loss {loss:.4f}")

    # Crowd statistics for taste profiles come from every rating, before training filters them.
    crowd = crowd_stats(ratings)
    fit, matrix, stats = train(ratings, cfg, progress)
    movies = read_movies(folder)
    dims = name_components(
        fit.components,
        matrix.item_ids,
        matrix.item_counts,
        movies["genres"],
        read_tags(folder),
        movies=movies,  # years and titles: decades in names, and films to tell twins apart
    )
    extras, taste_meta = taste_extras(crowd, dims)
    # Predicted stars start from each film's bias, from every rating like the crowd's (the
    # arrays are stored against the sorted item ids, as save_model sorts the columns).
    extras[bias_mod.ARRAY] = film_bias(ratings, np.sort(matrix.item_ids))
    # The item-item half (item_item.py): EASE over the model's most-rated films, from every
    # rating of them (as the film bias).
    # Weight 0 is recorded too: NMF alone by choice, not a model from before the half.
    pairs_meta: dict[str, object] = {"weight": 0.0}
    if cfg.item_item_weight > 0:
        if say:
            say("Fitting the item-item half (EASE)…")
        pairs, pairs_meta = item_item.fit_item_item(
            ratings, np.sort(matrix.item_ids), cfg.item_item()
        )
        extras.update(pairs)
    meta = {
        "dataset": cfg.dataset,
        "config": config_dict(cfg),
        "data_sha256": {
            f.name: sha256_file(f) for f in (folder / "ratings.csv", folder / "movies.csv")
        },
        "filters": stats.steps,
        "matrix": {
            "users": matrix.matrix.shape[0],
            "films": matrix.matrix.shape[1],
            "ratings": int(matrix.matrix.nnz),
        },
        "training_seconds": round(fit.seconds, 3),
        "n_iter": fit.n_iter,
        "final_loss": fit.loss,
        "loss_history": fit.loss_history,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **taste_meta,
    }
    meta[item_item.META] = pairs_meta
    return save_model(target, fit.components, matrix.item_ids, matrix.item_counts, meta, extras)


def ensure_model(
    data_root: Path | None = None,
    model_root: Path | None = None,
    name: str | None = None,
    say: Say | None = None,
) -> NMFModel:
    """Load the named model; for the default one, download data and train it on first use."""
    data_root = data_root or config.data_dir()
    model_root = model_root or config.model_dir()
    name = check_model_name(name or model_name())
    path = model_root / name
    if (path / "metadata.json").is_file():
        return load_model(path)
    if name != DEFAULT_MODEL:
        raise ModelError(
            f"No model named {name!r} in {model_root}. Train it with 'boxdrec train --name "
            f"{name}', or unset BOXDREC_MODEL to use the default."
        )
    say = say or log.info
    if not (data_root / DEFAULT_DATASET / "ratings.csv").is_file():
        say(f"No MovieLens data in {data_root}: downloading {DEFAULT_DATASET} (about 1 MB)…")
        ensure_dataset(DEFAULT_DATASET, data_root)
    say(
        f"No model yet: training the default model on {DEFAULT_DATASET} "
        f"(first run only, under a minute); it will be cached in {path}"
    )
    from recommender.training import TrainConfig

    train_and_save(TrainConfig(dataset=DEFAULT_DATASET), data_root, model_root, name, say)
    return load_model(path)


def limit_blas_threads(threads: int = REQUEST_BLAS_THREADS) -> list[dict[str, object]]:
    """Limit the BLAS libraries of this process (numpy's and scipy's OpenBLAS) to ``threads``
    threads, process-wide and until changed; returns threadpoolctl's view of them.

    Call it once at start-up, not around each request: threadpoolctl's limits are
    process-wide, so a per-request context in one worker thread would change (and on exit
    restore) the limit under a request running in another.
    """
    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS, so that the limit covers it)
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    log.info(
        "BLAS limited to %d thread(s): %s",
        threads,
        ", ".join(f"{i.get('internal_api')} {i.get('version')}" for i in blas) or "none loaded",
    )
    return blas


def load_service(
    data_root: Path | None = None,
    model_root: Path | None = None,
    name: str | None = None,
    say: Say | None = None,
    limits: ImportLimits | None = None,
    blas_threads: int | None = REQUEST_BLAS_THREADS,
):  # -> RecommenderService (imported lazily: the service pulls in the matcher)
    """Catalogue + model + service, ready for requests (limits default to the environment's).

    Once the model is there (a first run's training keeps its own threads), the process's
    BLAS is limited to ``blas_threads`` (see :func:`limit_blas_threads`); None leaves it.
    """
    from recommender.service import RecommenderService

    data_root = data_root or config.data_dir()
    model = ensure_model(data_root, model_root, name, say)
    if blas_threads is not None:
        limit_blas_threads(blas_threads)
    return RecommenderService(load_catalogue(data_root), model, limits, data_root=data_root)

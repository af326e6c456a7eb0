"""The reference data taste profiles need: crowd statistics and named taste dimensions.

Training stores both in the model folder (:func:`taste_extras`). A model trained before that
lacks them: :class:`TasteData` then computes them once from the data folder on first use and
logs it. For ml-latest-small that takes well under a second; for a model trained on ml-32m it
reads the 32M-row ratings.csv (about half a minute, 2.5 GB peak), which is why training
stores them and why the bot warms this up in its job pool rather than at start-up.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender import crowd as crowd_mod
from recommender import dimensions as dims_mod
from recommender.crowd import CrowdStats, crowd_stats
from recommender.dimensions import Dimensions, component_scale, name_components, read_tags
from recommender.model_store import NMFModel
from recommender.movielens import Catalogue, read_ratings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TasteReference:
    crowd: CrowdStats | None  # None: no ratings.csv to compute it from
    dimensions: Dimensions
    scale: np.ndarray  # each component's norm (see dimensions.component_scale)


def taste_extras(
    stats: CrowdStats, dims: Dimensions
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """What training adds to a model folder: extra arrays and metadata entries."""
    arrays = {**stats.arrays(), dims_mod.EXAMPLES_ARRAY: dims.examples}
    return arrays, {crowd_mod.META_KEY: stats.meta(), dims_mod.META_KEY: dims.meta()}


class TasteData:
    """Loads (or, for older models, computes) the :class:`TasteReference` once, thread-safely."""

    def __init__(self, model: NMFModel, catalogue: Catalogue, data_root: Path | None) -> None:
        self.model = model
        self.catalogue = catalogue
        self.data_root = data_root
        self._lock = threading.Lock()
        self._value: TasteReference | None = None

    def get(self) -> TasteReference:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._load()
        return self._value

    def _load(self) -> TasteReference:
        model = self.model
        extras, meta = dict(model.extras), model.metadata
        start = time.perf_counter()
        stats = CrowdStats.from_stored(extras, meta)
        dims = Dimensions.from_stored(extras, meta, model.n_components)
        if dims is not None and not dims.current:
            log.warning(
                "model %s has dimension names from older rules or without release years: "
                "naming them again; train it again to store the new names",
                model.name,
            )
        folder = self._folder()
        if stats is None:
            if folder is not None and (folder / "ratings.csv").is_file():
                log.warning(
                    "model %s has no crowd statistics (trained before taste profiles): "
                    "computing them from %s; train it again to store them",
                    model.name,
                    folder / "ratings.csv",
                )
                stats = crowd_stats(read_ratings(folder))
            else:
                log.warning(
                    "model %s has no crowd statistics and no ratings.csv to compute them "
                    "from: profiles will show no generosity percentile",
                    model.name,
                )
        if dims is None:
            log.warning("model %s has no dimension names: naming them now", model.name)
        if dims is None or not dims.current:
            tags = read_tags(folder) if folder is not None else None
            dims = name_components(
                model.components,
                model.item_ids,
                model.item_counts,
                self.catalogue.movies["genres"],
                tags,
                movies=self.catalogue.movies,
            )
        scale = component_scale(model.components)
        log.info("taste reference data ready in %.2f s", time.perf_counter() - start)
        return TasteReference(crowd=stats, dimensions=dims, scale=scale)

    def _folder(self) -> Path | None:
        dataset = self.model.metadata.get("dataset")
        # The name comes from the model's own metadata; still, never leave the data folder.
        if self.data_root is None or not isinstance(dataset, str) or Path(dataset).name != dataset:
            return None
        return self.data_root / dataset

"""Save and load trained models: .npy factor matrices (never pickle) plus a JSON metadata file.

A model folder holds ``components.npy`` (k × films, float32), ``item_ids.npy`` (MovieLens ids of
the columns), ``item_counts.npy`` (training ratings per film) and ``metadata.json`` with every
setting, the input data's checksums, library versions, training time, final loss and the sha256
of each array file. Loading verifies those checksums and memory-maps the arrays read-only, so
several processes share one copy and a request never copies the item matrix.

A model may carry extra arrays (``metadata["extra_arrays"]`` names them, e.g. the crowd
statistics taste profiles use): saved, checksummed and loaded the same way. A model without
them is still valid; whoever uses them falls back when they are absent.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from recommender.errors import ModelError
from recommender.hashing import sha256_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARRAYS = ("components", "item_ids", "item_counts")
# Extra array names are file names inside the model folder: plain words only.
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LIBRARIES = ("boxdrec", "numpy", "scipy", "scikit-learn", "pandas", "joblib")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            versions[lib] = importlib_metadata.version(lib)
        except importlib_metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return versions


_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_model_name(name: str) -> str:
    """A model name is one plain folder name: no paths, so models stay in the model folder."""
    if not _MODEL_NAME.fullmatch(name):
        raise ModelError(
            f"{name!r} is not a valid model name: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


@dataclass(frozen=True)
class NMFModel:
    """A trained model as the request path uses it."""

    path: Path
    components: np.ndarray  # k × films, float32 (memory-mapped when loaded)
    item_ids: np.ndarray  # movieId of each column, int64, ascending
    item_counts: np.ndarray  # training ratings per film
    metadata: dict[str, Any]
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)  # optional extra arrays

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.path.name))

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def positions(self, movie_ids: np.ndarray) -> np.ndarray:
        """Column of each movieId, or -1 when the model does not know the film."""
        return lookup(self.item_ids, movie_ids)


def lookup(sorted_ids: np.ndarray, movie_ids: np.ndarray) -> np.ndarray:
    """Position of each of ``movie_ids`` in ``sorted_ids`` (ascending), -1 when absent."""
    movie_ids = np.asarray(movie_ids, dtype=np.int64)
    if sorted_ids.size == 0:
        return np.full(movie_ids.shape, -1, dtype=np.intp)
    pos = np.minimum(np.searchsorted(sorted_ids, movie_ids), sorted_ids.size - 1)
    return np.where(sorted_ids[pos] == movie_ids, pos, -1)


def save_model(
    target: Path,
    components: np.ndarray,
    item_ids: np.ndarray,
    item_counts: np.ndarray,
    metadata: dict[str, Any],
    extras: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write a model folder atomically: a complete folder appears at ``target`` or nothing does.

    ``extras`` are stored as they are (not reordered with the item columns)."""
    order = np.argsort(item_ids)
    arrays = {
        "components": np.ascontiguousarray(components[:, order], dtype=np.float32),
        "item_ids": np.asarray(item_ids, dtype=np.int64)[order],
        "item_counts": np.asarray(item_counts, dtype=np.int32)[order],
    }
    extras = dict(extras or {})
    for key in extras:
        if key in ARRAYS or not _EXTRA_NAME.fullmatch(key):
            raise ValueError(f"invalid extra array name {key!r}")
    arrays.update({key: np.ascontiguousarray(arr) for key, arr in extras.items()})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        files = {}
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", arr, allow_pickle=False)
            files[f"{key}.npy"] = sha256_file(tmp / f"{key}.npy")
        meta = {
            **metadata,
            "format_version": FORMAT_VERSION,
            "name": target.name,
            "shape": list(arrays["components"].shape),
            "extra_arrays": sorted(extras),
            "files": files,
            "libraries": library_versions(),
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; a bot running as another user must read it
        if target.exists():
            aside = target.with_name(f".{target.name}-old")
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(target, aside)
            os.replace(tmp, target)
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("saved model %s (%d components, %d films)", target, *arrays["components"].shape)
    return target


def load_model(path: Path, verify: bool = True) -> NMFModel:
    """Load a model folder from the configured model directory, checking it is whole and untouched.

    Only ``.npy`` files are read, with ``allow_pickle=False``: nothing here can execute code.
    """
    meta_path = path / "metadata.json"
    if not meta_path.is_file():
        raise ModelError(
            f"No model at {path}. Train one with 'boxdrec train', or set BOXDREC_MODEL_DIR to "
            "the folder that holds your models."
        )
    if meta_path.is_symlink():
        raise ModelError(f"{meta_path} is a link, not a file of the model; train the model again.")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise ModelError(
            f"{meta_path} is not valid JSON ({type(exc).__name__}); train the model again."
        ) from None
    if not isinstance(meta, dict):
        raise ModelError(f"{meta_path} does not hold a JSON object; train the model again.")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{path} has model format {meta.get('format_version')!r}, this boxdrec reads "
            f"{FORMAT_VERSION}; train the model again with 'boxdrec train'."
        )
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ModelError(f"{meta_path} lists no file checksums; train the model again.")
    extra_names = meta.get("extra_arrays", [])
    if not isinstance(extra_names, list) or not all(
        isinstance(k, str) and _EXTRA_NAME.fullmatch(k) and k not in ARRAYS for k in extra_names
    ):
        raise ModelError(f"{meta_path} lists invalid extra arrays; train the model again.")
    arrays: dict[str, np.ndarray] = {}
    for key in (*ARRAYS, *extra_names):
        file = path / f"{key}.npy"
        if not file.is_file():
            raise ModelError(f"{file} is missing; train the model again with 'boxdrec train'.")
        if file.is_symlink():  # arrays load from the model folder itself, nowhere else
            raise ModelError(f"{file} is a link, not a file of the model; train the model again.")
        if verify and sha256_file(file) != files.get(file.name):
            raise ModelError(
                f"{file} does not match the checksum in {meta_path}: the model is damaged or "
                "was changed. Train it again with 'boxdrec train'."
            )
        try:
            arrays[key] = np.load(file, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # ValueError, EOFError, OSError… on a damaged or odd file
            raise ModelError(
                f"{file} is not a valid array file ({type(exc).__name__}); train the model again."
            ) from None
    comps, ids = arrays["components"], arrays["item_ids"]
    counts = arrays["item_counts"]
    if comps.ndim != 2 or comps.shape[1] != ids.shape[0] or ids.shape != counts.shape:
        raise ModelError(f"{path} holds arrays of mismatched shapes; train the model again.")
    if not np.issubdtype(comps.dtype, np.floating) or not np.issubdtype(ids.dtype, np.integer):
        raise ModelError(f"{path} holds arrays of the wrong type; train the model again.")
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        # Films are looked up by binary search: unsorted or repeated ids would mislead it.
        raise ModelError(f"{path} holds film ids out of order; train the model again.")
    written = meta.get("libraries")
    written = written if isinstance(written, dict) else {}
    now = library_versions()
    if written.get("scikit-learn") != now["scikit-learn"]:
        log.info(
            "model %s was trained with scikit-learn %s, running %s (arrays only: safe)",
            path.name,
            written.get("scikit-learn"),
            now["scikit-learn"],
        )
    return NMFModel(
        path=path,
        components=comps,
        item_ids=ids,
        item_counts=arrays["item_counts"],
        metadata=meta,
        extras={key: arrays[key] for key in extra_names},
    )

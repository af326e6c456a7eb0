"""Model folders: the round trip, memory maps, checksums, refusing pickles, atomic replacement."""

from __future__ import annotations

import hashlib
import json
import pathlib
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pytest

from recommender.errors import ModelError
from recommender.model_store import FORMAT_VERSION, load_model, save_model

ML_SMALL_RATINGS_SHA256 = "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components (float64, 3 × 5), unsorted movieIds and counts, as training might hand them."""
    rng = np.random.default_rng(0)
    components = rng.uniform(0, 1, (3, 5))
    item_ids = np.array([50, 3, 1000, 7, 21], dtype=np.int32)
    counts = np.array([5, 1, 9, 2, 4])
    return components, item_ids, counts


@pytest.fixture
def saved(tmp_path: Path, arrays) -> Path:
    return save_model(tmp_path / "models" / "tiny", *arrays, {"dataset": "unit", "note": "x"})


def rewrite_metadata(model: Path, **changes: object) -> None:
    meta_path = model / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta.update(changes)
    meta_path.write_text(json.dumps(meta))


def test_round_trip(saved: Path, arrays):
    components, item_ids, _counts = arrays
    model = load_model(saved)
    order = np.argsort(item_ids)  # 3, 7, 21, 50, 1000
    np.testing.assert_array_equal(model.item_ids, [3, 7, 21, 50, 1000])
    assert model.item_ids.dtype == np.int64
    assert model.components.dtype == np.float32
    np.testing.assert_array_equal(model.components, components[:, order].astype(np.float32))
    np.testing.assert_array_equal(model.item_counts, [1, 2, 4, 5, 9])
    # Column j still belongs to film item_ids[j]: movieId 1000 kept its own factors.
    col = int(np.flatnonzero(model.item_ids == 1000)[0])
    np.testing.assert_array_equal(model.components[:, col], components[:, 2].astype(np.float32))
    assert model.n_components == 3
    assert model.name == "tiny"
    np.testing.assert_array_equal(
        model.positions(np.array([21, 4, 1000, 1, 2000])), [2, -1, 4, -1, -1]
    )


def test_metadata_contents(saved: Path):
    meta = load_model(saved).metadata
    assert meta["dataset"] == "unit" and meta["note"] == "x"  # the caller's metadata is kept
    assert meta["format_version"] == FORMAT_VERSION == 1
    assert meta["name"] == "tiny"
    assert meta["shape"] == [3, 5]
    assert meta["libraries"]["scikit-learn"] == importlib_metadata.version("scikit-learn")
    assert meta["libraries"]["numpy"] == np.__version__
    assert set(meta["files"]) == {"components.npy", "item_ids.npy", "item_counts.npy"}
    for name, digest in meta["files"].items():
        assert digest == sha256(saved / name), name
    assert sorted(p.name for p in saved.iterdir()) == [
        "components.npy",
        "item_counts.npy",
        "item_ids.npy",
        "metadata.json",
    ]


def test_load_is_memory_mapped_and_read_only(saved: Path):
    model = load_model(saved)
    for arr in (model.components, model.item_ids, model.item_counts):
        assert isinstance(arr, np.memmap)
        assert not arr.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        model.components[0, 0] = 1.0


def test_changed_byte_fails_the_checksum(saved: Path):
    path = saved / "components.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # the last byte of the float data: still a valid .npy file
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum") as info:
        load_model(saved)
    assert "components.npy" in str(info.value)
    # Without verification the (now different) array loads.
    assert load_model(saved, verify=False).components.shape == (3, 5)


def test_missing_array_file(saved: Path):
    (saved / "item_counts.npy").unlink()
    with pytest.raises(ModelError, match=r"item_counts\.npy is missing"):
        load_model(saved)


def test_missing_model_folder(tmp_path: Path):
    with pytest.raises(ModelError, match="No model at") as info:
        load_model(tmp_path / "nothing")
    assert "boxdrec train" in str(info.value)


def test_garbage_metadata(saved: Path):
    (saved / "metadata.json").write_bytes(b"{not json\x00\xff")
    with pytest.raises(ModelError, match="is not valid JSON"):
        load_model(saved)


# BUG (recommender/model_store.py, load_model): metadata.json that is valid JSON but not an
# object ("[]", "null", "123") reaches `meta.get("format_version")` (line 130) and raises
# AttributeError: 'list' object has no attribute 'get'; a "files" entry that is not an object
# fails the same way at `files.get(file.name)` (line 141). Expected ModelError (the CLI then
# prints one line and exits 1); got AttributeError (the CLI reports "unexpected error", exit 2).
@pytest.mark.parametrize("text", ["[]", "null", "123", '"metadata"'])
def test_metadata_that_is_not_an_object(saved: Path, text: str):
    (saved / "metadata.json").write_text(text)
    with pytest.raises(ModelError):
        load_model(saved)


def test_metadata_files_that_is_not_an_object(saved: Path):
    rewrite_metadata(saved, files=["components.npy"])
    with pytest.raises(ModelError):
        load_model(saved)


def test_wrong_format_version(saved: Path):
    rewrite_metadata(saved, format_version=99)
    with pytest.raises(ModelError, match="has model format 99"):
        load_model(saved)


def test_mismatched_shapes(saved: Path):
    np.save(saved / "item_ids.npy", np.array([1, 2, 3], dtype=np.int64))
    meta = json.loads((saved / "metadata.json").read_text())
    rewrite_metadata(saved, files={**meta["files"], "item_ids.npy": sha256(saved / "item_ids.npy")})
    with pytest.raises(ModelError, match="mismatched shapes"):
        load_model(saved)


class _Payload:
    """Unpickling this touches a marker file: proof that loading ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_pickled_object_array_is_refused_without_unpickling(saved: Path, tmp_path: Path):
    marker = tmp_path / "pwned"
    evil = np.empty((3, 5), dtype=object)
    evil[:] = _Payload(marker)
    np.save(saved / "components.npy", evil, allow_pickle=True)
    # Make the checksum pass, so only the refusal to unpickle stands in the way.
    meta = json.loads((saved / "metadata.json").read_text())
    meta["files"]["components.npy"] = sha256(saved / "components.npy")
    (saved / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"components\.npy is not a valid array file"):
        load_model(saved)
    assert not marker.exists()
    # The file really is a pickle bomb: loading it the unsafe way runs the payload.
    np.load(saved / "components.npy", allow_pickle=True)
    assert marker.exists()


def test_existing_model_is_replaced_atomically(saved: Path):
    parent = saved.parent
    new = np.full((2, 4), 0.25)
    save_model(saved, new, np.array([4, 3, 2, 1]), np.array([1, 1, 1, 1]), {"dataset": "v2"})
    model = load_model(saved)
    assert model.metadata["dataset"] == "v2"
    assert model.metadata["shape"] == [2, 4]
    np.testing.assert_array_equal(model.item_ids, [1, 2, 3, 4])
    # No temporary or set-aside folders are left next to it.
    assert [p.name for p in parent.iterdir()] == ["tiny"]


def test_failed_save_leaves_nothing_behind(tmp_path: Path):
    target = tmp_path / "models" / "broken"
    with pytest.raises(TypeError):
        # A metadata value json cannot write: the save fails after the arrays are written.
        save_model(target, np.ones((1, 2)), np.array([1, 2]), np.array([1, 1]), {"x": object()})
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_session_model_metadata(small_model_dir: Path):
    model = load_model(small_model_dir / "ml-latest-small")
    meta = model.metadata
    assert meta["dataset"] == "ml-latest-small"
    assert meta["config"]["n_components"] == 16
    assert meta["config"]["max_iter"] == 40
    assert meta["config"]["dataset"] == "ml-latest-small"
    assert set(meta["config"]) >= {
        "tol",
        "user_min_percentile",
        "user_max_percentile",
        "max_users_per_film",
        "min_ratings_per_film",
        "random_state",
    }
    assert meta["data_sha256"]["ratings.csv"] == ML_SMALL_RATINGS_SHA256
    assert len(meta["data_sha256"]["movies.csv"]) == 64
    assert isinstance(meta["final_loss"], float) and meta["final_loss"] > 0
    assert meta["final_loss"] == meta["loss_history"][-1]
    assert meta["training_seconds"] > 0
    assert 0 < meta["n_iter"] <= 40
    assert [s["step"] for s in meta["filters"]] == [
        "all ratings",
        "user activity",
        "users per film cap",
        "min ratings per film",
    ]
    # ml-latest-small: 610 users, 9,724 films, 100,836 ratings before any filter.
    assert meta["filters"][0] == {
        "step": "all ratings",
        "users": 610,
        "films": 9724,
        "ratings": 100836,
    }
    last = meta["filters"][-1]
    assert meta["matrix"] == {
        "users": last["users"],
        "films": last["films"],
        "ratings": last["ratings"],
    }
    assert model.components.shape == (16, last["films"])
    assert model.item_counts.sum() == last["ratings"]


def _rehash(model: Path, name: str) -> None:
    """Record ``name``'s current checksum, as someone tampering carefully would."""
    meta = json.loads((model / "metadata.json").read_text())
    meta["files"][name] = sha256(model / name)
    (model / "metadata.json").write_text(json.dumps(meta))


def test_an_empty_array_file_with_its_checksum_is_refused_clearly(saved: Path):
    (saved / "item_counts.npy").write_bytes(b"")
    _rehash(saved, "item_counts.npy")
    with pytest.raises(ModelError, match=r"item_counts\.npy is not a valid array file"):
        load_model(saved)


def test_libraries_that_are_not_an_object_still_load(saved: Path):
    rewrite_metadata(saved, libraries=[])
    assert load_model(saved).components.shape == (3, 5)


def test_absurdly_nested_metadata_is_refused_clearly(saved: Path):
    (saved / "metadata.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match="is not valid JSON"):
        load_model(saved)


def test_an_array_linked_from_outside_the_model_folder_is_refused(saved: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere.npy"
    (saved / "components.npy").rename(outside)
    (saved / "components.npy").symlink_to(outside)
    with pytest.raises(ModelError, match=r"components\.npy is a link"):
        load_model(saved)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (np.array([7.0, 3.0, 21.0, 50.0, 1000.0]), "wrong type"),
        (np.array([3, 7, 7, 50, 1000]), "out of order"),
        (np.array([50, 3, 7, 21, 1000]), "out of order"),
    ],
)
def test_film_ids_that_binary_search_cannot_use_are_refused(saved: Path, ids, message: str):
    np.save(saved / "item_ids.npy", ids, allow_pickle=False)
    _rehash(saved, "item_ids.npy")
    with pytest.raises(ModelError, match=message):
        load_model(saved)

"""Shared fixtures. Real data comes from ../shared (CI sets BOXDREC_TEST_DATA to it).

Tests that need MovieLens or the real Letterboxd exports fail loudly in CI when the folder is
missing; on a developer's machine without it they are skipped with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def _need(path: Path, what: str, env: str) -> Path:
    if path.is_dir():
        return path
    message = f"{what} not found at {path}; set {env} to the folder"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def movielens_dir() -> Path:
    """Folder with ml-latest-small/ (complete) and the ml-32m and ml-latest catalogues."""
    path = Path(os.environ.get("BOXDREC_TEST_DATA", SHARED_DATA / "movielens"))
    return _need(path, "MovieLens test data", "BOXDREC_TEST_DATA")


@pytest.fixture(scope="session")
def letterboxd_dir() -> Path:
    """Folder with the real exports (real/) and gold sets (gold/)."""
    path = Path(os.environ.get("BOXDREC_TEST_LETTERBOXD", SHARED_DATA / "letterboxd"))
    return _need(path, "Letterboxd test exports", "BOXDREC_TEST_LETTERBOXD")


@pytest.fixture(scope="session")
def catalogue(movielens_dir: Path):
    """The largest catalogue in the test data (ml-32m here), loaded once per session."""
    from recommender.movielens import load_catalogue

    return load_catalogue(movielens_dir)


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory: pytest.TempPathFactory, movielens_dir: Path) -> Path:
    """A model folder holding ``ml-latest-small`` trained once per session on the real data.

    Fewer components and iterations than the default keep the suite fast; the pipeline is the
    one ``boxdrec train`` runs.
    """
    from recommender.pipeline import train_and_save
    from recommender.training import TrainConfig

    root = tmp_path_factory.mktemp("models")
    cfg = TrainConfig(dataset="ml-latest-small", n_components=16, max_iter=40)
    train_and_save(cfg, movielens_dir, root, "ml-latest-small")
    return root


@pytest.fixture(scope="session")
def service(movielens_dir: Path, small_model_dir: Path):
    """A RecommenderService over the ml-32m catalogue and the session's small model."""
    from recommender.pipeline import load_service

    return load_service(movielens_dir, small_model_dir, "ml-latest-small")

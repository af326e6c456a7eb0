"""The Dockerfile cannot be built here (no Docker engine); it is linted and checked instead."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


def test_hadolint_finds_nothing() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: install the test extras (pip install -e '.[test]')")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (0, "")


def test_runs_the_bot_as_a_non_root_user_with_data_mounted() -> None:
    lines = [ln.strip() for ln in DOCKERFILE.read_text().splitlines()]
    assert "USER 10001" in lines
    assert lines.index("USER 10001") < lines.index('ENTRYPOINT ["python", "-m", "bot"]')
    assert 'VOLUME ["/data"]' in lines
    assert any("BOXDREC_MODEL_DIR=/data/models" in ln for ln in lines)
    # Only the code goes in: no MovieLens data, no models, no .env.
    copied = [ln.split()[1] for ln in lines if ln.startswith("COPY ")]
    assert copied == ["pyproject.toml", "recommender", "bot"]

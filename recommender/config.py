"""Where data and models live, and the limits on what a user may upload.

Every value comes from the environment (``BOXDREC_*``) with a default that needs no setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "boxdrec"


def data_dir() -> Path:
    """Folder holding one sub-folder per MovieLens dataset (``ml-latest-small/``, ``ml-32m/``)."""
    env = os.environ.get("BOXDREC_DATA_DIR")
    base = Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME)) / "movielens"
    return base.expanduser()


def model_dir() -> Path:
    """Folder holding one sub-folder per trained model."""
    env = os.environ.get("BOXDREC_MODEL_DIR")
    base = Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME)) / "models"
    return base.expanduser()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class ImportLimits:
    """Limits on one uploaded export. A Letterboxd export of 10,000 films is about 1 MB.

    ``max_compression_ratio`` applies to each zip member once it has unpacked more than 1 MiB
    (real exports compress 4 to 15 times). ``max_import_memory_bytes`` bounds what one import
    holds at once: the upload, the unpacked files, their decoded text and the parsed films.
    """

    max_upload_bytes: int = 10 * 1024 * 1024
    max_uncompressed_bytes: int = 32 * 1024 * 1024
    max_rows: int = 50_000
    max_zip_members: int = 2_000
    max_compression_ratio: int = 100
    max_import_memory_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_env(cls) -> ImportLimits:
        d = cls()
        return cls(
            max_upload_bytes=_env_int("BOXDREC_MAX_UPLOAD_BYTES", d.max_upload_bytes),
            max_uncompressed_bytes=_env_int(
                "BOXDREC_MAX_UNCOMPRESSED_BYTES", d.max_uncompressed_bytes
            ),
            max_rows=_env_int("BOXDREC_MAX_ROWS", d.max_rows),
            max_zip_members=_env_int("BOXDREC_MAX_ZIP_MEMBERS", d.max_zip_members),
            max_compression_ratio=_env_int(
                "BOXDREC_MAX_COMPRESSION_RATIO", d.max_compression_ratio
            ),
            max_import_memory_bytes=_env_int(
                "BOXDREC_MAX_IMPORT_MEMORY_BYTES", d.max_import_memory_bytes
            ),
        )

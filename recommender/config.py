"""Where data and models live, and the limits on what a user may upload.

Every value comes from the environment (``BOXDREC_*``) with a default that needs no setup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
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
    """A whole number above 0 from the environment; a bad value is a ``ValueError`` whose
    message is one line naming the variable (the CLI and the bot print it as it is)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        shown = raw.strip() if len(raw) <= 40 else raw.strip()[:40] + "…"
        raise ValueError(
            f"{name} must be a whole number above 0, not {shown!r}; fix it in the environment "
            f"or .env, or unset it to use the default ({default:,})."
        )
    return value


def _env_name(field_name: str) -> str:
    return f"BOXDREC_{field_name.upper()}"


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

    def __post_init__(self) -> None:
        # A zero or negative limit would refuse every upload with a nonsense size in its message.
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"ImportLimits.{field.name} must be a whole number above 0, not {value!r} "
                    f"(the environment sets it as {_env_name(field.name)})."
                )

    @classmethod
    def from_env(cls) -> ImportLimits:
        """The limits from ``BOXDREC_MAX_*``, each unset or empty one at its default.

        Raises:
            ValueError: a variable is not a whole number above 0; the message names it.
        """
        d = cls()
        return cls(**{f.name: _env_int(_env_name(f.name), getattr(d, f.name)) for f in fields(cls)})

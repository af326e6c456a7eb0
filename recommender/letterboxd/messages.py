"""The words of the importer's errors: hints, clipped names, sizes, shared messages.

Every message is one line saying what is wrong and what to do.
"""

from __future__ import annotations

import re

from recommender.config import ImportLimits
from recommender.errors import ExportError

EXPORT_PATH = "Settings → Data → Export your data"
_UPLOAD_HINT = f"Upload ratings.csv or the whole export zip from Letterboxd ({EXPORT_PATH})."
_ZIP_HINT = (
    f"Upload the zip exactly as Letterboxd made it ({EXPORT_PATH}), or just its ratings.csv."
)

# C0 control characters never appear in a CSV; tab, LF, VT, FF and CR may.
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _clip(text: str, limit: int = 80) -> str:
    """``text`` on one line and at most ``limit`` characters, for an error message."""
    one_line = " ".join(_BINARY_CHARS.sub(" ", text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _upload_label(filename: str) -> str:
    base = re.split(r"[\\/]", filename or "")[-1].strip()
    return _clip(base) or "The file"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n < 10 * 1024 * 1024 else f"{n // (1024 * 1024)} MB"


def _check_upload_size(label: str, size: int, limits: ImportLimits) -> None:
    if size > limits.max_upload_bytes:
        raise ExportError(
            f"{label} is {_mb(size)}, more than the {_mb(limits.max_upload_bytes)} limit "
            f"(a Letterboxd export of 10,000 films is about 1 MB). {_UPLOAD_HINT}"
        )


def _corrupt_zip_message(label: str) -> str:
    return (
        f"{label} is not a readable zip file (it is damaged or incomplete). Download your "
        f"export again from Letterboxd ({EXPORT_PATH}) and upload the new zip, "
        "or just its ratings.csv."
    )


def _no_films_message(label: str) -> str:
    return (
        f"{label} has no films: it has column names but no film rows. Rate or log some films on "
        f"Letterboxd, export again ({EXPORT_PATH}) and upload ratings.csv or the whole zip."
    )


def _row_error(label: str, row: int, name: str, problem: str, fix: str) -> ExportError:
    return ExportError(f'{label}, row {row} ("{_clip(name, 60)}"): {problem}. {fix}')


def _bomb_message(label: str, budget: int) -> str:
    return (
        f"{label} would unpack to more than {_mb(budget)}, the limit (a Letterboxd export of "
        f"10,000 films is about 1 MB). {_ZIP_HINT}"
    )


def _ratio_message(label: str, name: str, ratio: int) -> str:
    return (
        f"{label} unpacks {_clip(name, 60)} to more than {ratio} times its packed size, the "
        "limit; Letterboxd exports pack only 4 to 15 times, so this is not one. "
        f"{_ZIP_HINT}"
    )


def _memory_message(label: str, need: int, limit: int) -> str:
    return (
        f"{label} is too big to read: its text and films would take about {_mb(need)} of "
        f"memory, more than the {_mb(limit)} limit (a Letterboxd export needs a few MB). Upload "
        "your own Letterboxd export, or ask the bot's admin to raise "
        "BOXDREC_MAX_IMPORT_MEMORY_BYTES."
    )

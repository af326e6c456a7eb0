"""The words of the importer's errors: hints, clipped names, sizes, shared messages.

Every message is one line saying what is wrong and what to do.
"""

from __future__ import annotations

import re
import unicodedata

from recommender.config import ImportLimits
from recommender.errors import ExportError

EXPORT_PATH = "Settings → Data → Export your data"
_UPLOAD_HINT = f"Upload ratings.csv or the whole export zip from Letterboxd ({EXPORT_PATH})."
_ZIP_HINT = (
    f"Upload the zip exactly as Letterboxd made it ({EXPORT_PATH}), or just its ratings.csv."
)

# C0 control characters never appear in a CSV; tab, LF, VT, FF and CR may.
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# Format characters a message keeps: ZWNJ and ZWJ shape Persian words and join emoji.
_JOINERS = frozenset("\u200c\u200d")
_MIB = 1024 * 1024


def _visible(text: str) -> str:
    """``text`` with control characters as spaces and without invisible format characters
    (bidi overrides that reverse the text after them, zero-width spaces, BOMs, tags)."""
    if text.isprintable():  # the common case: nothing to look at one by one
        return text
    kept: list[str] = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            kept.append(" ")
        elif category != "Cf" or char in _JOINERS:
            kept.append(char)
    return "".join(kept)


def _clip(text: str, limit: int = 80) -> str:
    """``text`` on one line and at most ``limit`` characters, for an error message.

    File names and cells come from the user: a message quoting them must look like what it
    says, so controls become spaces and invisible format characters go.
    """
    one_line = " ".join(_visible(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _upload_label(filename: str) -> str:
    base = re.split(r"[\\/]", filename or "")[-1].strip()
    return _clip(base) or "The file"


def _mb(n: int) -> str:
    """A size in MB: one decimal below 10 MB, whole MB above, more decimals rather than 0."""
    return _over(n, n)[1]


def _over(size: int, limit: int) -> tuple[str, str]:
    """``size`` and ``limit`` in MB for "{size}, more than the {limit} limit".

    Both are rounded; where that makes a size over the limit read as no more than it ("24 MB,
    more than the 24 MB limit"), the size is rounded up, then both get more decimals. No size
    above 0 reads as 0.
    """
    decimals = 1 if limit < 10 * _MIB else 0
    while True:
        scale = 10**decimals
        shown_limit = round(limit * scale / _MIB)
        for shown_size in (round(size * scale / _MIB), -(-size * scale // _MIB)):
            clear = shown_size > shown_limit or size <= limit
            if (clear and (shown_limit > 0 or limit <= 0)) or decimals >= 6:
                return (
                    f"{shown_size / scale:.{decimals}f} MB",
                    f"{shown_limit / scale:.{decimals}f} MB",
                )
        decimals += 1


def _check_upload_size(label: str, size: int, limits: ImportLimits) -> None:
    if size > limits.max_upload_bytes:
        shown, limit = _over(size, limits.max_upload_bytes)
        raise ExportError(
            f"{label} is {shown}, more than the {limit} limit "
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


def _memory_message(label: str, need: int, limit: int, what: str = "its text and films") -> str:
    shown, limit_shown = _over(need, limit)
    return (
        f"{label} is too big to read: {what} would take about {shown} of memory, more than the "
        f"{limit_shown} limit (a Letterboxd export needs a few MB). Upload your own Letterboxd "
        "export, or ask the bot's admin to raise BOXDREC_MAX_IMPORT_MEMORY_BYTES."
    )


def _zip_memory_message(label: str, need: int, limit: int) -> str:
    """The memory limit passed by a zip as a whole: its files together, not the one being read."""
    return _memory_message(label, need, limit, "its files and their films")


def _memory_error(
    label: str, zip_label: str | None, held: int, need: int, limit: int
) -> ExportError:
    """The memory limit passed while reading ``label``: blamed on the zip it came from when the
    upload and its other files (``held`` of ``need``) take most of the memory."""
    if zip_label is not None and 2 * held >= need:
        return ExportError(_zip_memory_message(zip_label, need, limit))
    return ExportError(_memory_message(label, need, limit))

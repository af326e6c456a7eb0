"""The entry points: an upload's bytes or a file on disk to a LetterboxdExport."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.export import LetterboxdExport
from recommender.letterboxd.csv_files import _read_single_csv
from recommender.letterboxd.decoding import _looks_binary
from recommender.letterboxd.merge import _merge
from recommender.letterboxd.messages import (
    EXPORT_PATH,
    _check_upload_size,
    _clip,
    _corrupt_zip_message,
    _no_films_message,
    _upload_label,
)
from recommender.letterboxd.zip_files import _ZIP_SIGNATURES, _read_zip

# One logger, "recommender.letterboxd", for the whole importer (its name as a single module).
log = logging.getLogger(__package__)


def read_export(data: bytes, filename: str, limits: ImportLimits | None = None) -> LetterboxdExport:
    """Read an uploaded Letterboxd export: a single export CSV or the whole export zip.

    ``filename`` is the name the file was uploaded under. The bytes decide zip or CSV (a zip
    starts with ``PK\\x03\\x04``); the name decides which CSV it is where the columns cannot
    (watchlist.csv has the same columns as watched.csv, likes/films.csv arrives as films.csv).

    Raises:
        ExportError: the upload is not an export we can read; the message is one line for the
            user saying what is wrong and what to do.
    """
    limits = limits if limits is not None else ImportLimits.from_env()
    label = _upload_label(filename)
    data = bytes(data)
    _check_upload_size(label, len(data), limits)

    if data[:4] in _ZIP_SIGNATURES:
        files = _read_zip(data, label, limits)
        source = f"zip {label}"
    else:
        if label.casefold().endswith(".zip") and _looks_binary(data):
            raise ExportError(_corrupt_zip_message(label))
        files = [_read_single_csv(data, label, limits)]
        source = label

    export = _merge(files)
    if not export.films:
        if len(files) == 1:
            raise ExportError(_no_films_message(files[0].label))
        names = ", ".join(f.label for f in files)
        raise ExportError(
            f"{label} has no films: {names} hold no film rows. Log or rate some films on "
            f"Letterboxd, export again ({EXPORT_PATH}) and upload the new zip."
        )
    log.info(
        "Read %d films (%d rated) from %s: %s",
        len(export.films),
        len(export.rated),
        source,
        ", ".join(export.files_read),
    )
    return export


def read_export_file(
    path: str | os.PathLike[str], limits: ImportLimits | None = None
) -> LetterboxdExport:
    """Read a Letterboxd export (a CSV or the export zip) from a file; see :func:`read_export`.

    Raises:
        ExportError: the file is missing, too large or not an export we can read.
    """
    limits = limits if limits is not None else ImportLimits.from_env()
    p = Path(path)
    label = _clip(p.name or str(p))
    try:
        if p.is_dir():
            raise ExportError(
                f"{_clip(str(p), 200)} is a folder. Give the export zip or its ratings.csv instead."
            )
        if p.exists() and not p.is_file():  # a device or a pipe: it could never end
            raise ExportError(
                f"{_clip(str(p), 200)} is not a regular file. Give the export zip or its "
                "ratings.csv instead."
            )
        _check_upload_size(label, p.stat().st_size, limits)
        with p.open("rb") as fh:
            # st_size can lie (a file still growing); read at most one byte past the limit.
            data = fh.read(limits.max_upload_bytes + 1)
        _check_upload_size(label, len(data), limits)
    except FileNotFoundError:
        raise ExportError(f"There is no file at {_clip(str(p), 200)}. Check the path.") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"Could not read {_clip(str(p), 200)} ({reason}). Check the path and its permissions."
        ) from None
    return read_export(data, p.name, limits)

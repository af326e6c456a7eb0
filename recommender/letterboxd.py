"""Read a Letterboxd export: ``ratings.csv``, any single export CSV, or the whole export zip.

The result is a :class:`~recommender.export.LetterboxdExport`: one :class:`ExportFilm` per film,
merged across ratings.csv, watched.csv, watchlist.csv, diary.csv and likes/films.csv.

Everything a user uploads is untrusted. Any problem with the upload becomes an
:class:`~recommender.errors.ExportError` whose message is one line saying what is wrong and what
to do; no other exception type leaves :func:`read_export`.

What is never read: ``profile.csv`` (it holds the user's email), reviews, comments, lists and the
``deleted/`` and ``orphaned/`` folders of the zip, and zips nested inside the zip.

Files re-saved by a spreadsheet are accepted: ``;`` or tab delimiters, a UTF-8 BOM, CRLF line
ends, UTF-16 with a BOM, cp1252 bytes, and UTF-8 that was read as cp1252 and saved again
("AmÃ©lie", repaired to "Amélie" with ftfy).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NamedTuple

import ftfy
from ftfy import badness

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.export import ExportFilm, LetterboxdExport

log = logging.getLogger(__name__)

__all__ = ["read_export", "read_export_file"]

EXPORT_PATH = "Settings → Data → Export your data"
_UPLOAD_HINT = f"Upload ratings.csv or the whole export zip from Letterboxd ({EXPORT_PATH})."
_ZIP_HINT = (
    f"Upload the zip exactly as Letterboxd made it ({EXPORT_PATH}), or just its ratings.csv."
)

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_READ_CHUNK = 64 * 1024

# Only mojibake repair: names keep their curly quotes, dashes, no-break spaces and widths.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)

# C0 control characters never appear in a CSV; tab, LF, VT, FF and CR may.
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_YEAR = re.compile(r"(\d{4})(?:\.0*)?")
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DRIVE = re.compile(r"[A-Za-z]:")

# Dashes and quotes that differ between exports and spreadsheet re-saves of the same name.
_NAME_PUNCT = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
    }
)


class FileKind(Enum):
    """Which export file a CSV is; it decides what its rows say about a film."""

    RATINGS = "ratings"
    WATCHED = "watched"
    WATCHLIST = "watchlist"
    DIARY = "diary"
    LIKES = "likes"


# Zip members read by base name, from the export's own folder (likes only as likes/films.csv).
_ZIP_FILES: dict[str, FileKind] = {
    "ratings.csv": FileKind.RATINGS,
    "watched.csv": FileKind.WATCHED,
    "watchlist.csv": FileKind.WATCHLIST,
    "diary.csv": FileKind.DIARY,
}
_LIKES_PATH = ("likes", "films.csv")
# Diary last: it joins by name and year, so it must see every other film first.
_MERGE_ORDER = (
    FileKind.RATINGS,
    FileKind.WATCHED,
    FileKind.LIKES,
    FileKind.WATCHLIST,
    FileKind.DIARY,
)
# Folders of the zip whose CSVs share names with the main files but are not the user's films.
_SKIPPED_DIRS = frozenset({"deleted", "orphaned", "lists", "likes", "__macosx"})

# Export files that hold no films; refused by name without being parsed.
_NOT_FILMS = {
    "profile.csv": "holds your account details (including your email), not your films",
    "comments.csv": "holds your comments, not your films",
}

# Normalised column name -> field. "Letterboxd URI" is "URL" in some files.
_COLUMNS = {
    "name": "name",
    "year": "year",
    "letterboxduri": "uri",
    "letterboxdurl": "uri",
    "uri": "uri",
    "url": "uri",
    "rating": "rating",
    "rewatch": "rewatch",
    "watcheddate": "watched_date",
    "date": "date",
}
_REQUIRED = ("name", "year", "uri")


class _Row(NamedTuple):
    """One film row of one export CSV, already checked (a tuple: cheap to make 50,000 of)."""

    number: int  # the row number a spreadsheet shows: the header is row 1
    name: str
    key: str  # the name folded for matching, see _name_key
    year: int | None
    uri: str
    rating: float | None
    watched_date: str  # as written; parsed only where diary order needs it
    date: str


@dataclass(frozen=True, slots=True)
class _CsvFile:
    label: str  # what messages call the file: "ratings.csv", "likes/films.csv"
    kind: FileKind
    rows: tuple[_Row, ...]


# --------------------------------------------------------------------------------------------
# Public API


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
        size = p.stat().st_size
        _check_upload_size(label, size, limits)
        data = p.read_bytes()
    except FileNotFoundError:
        raise ExportError(f"There is no file at {_clip(str(p), 200)}. Check the path.") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"Could not read {_clip(str(p), 200)} ({reason}). Check the path and its permissions."
        ) from None
    return read_export(data, p.name, limits)


# --------------------------------------------------------------------------------------------
# Messages and small helpers


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


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" in head or _BINARY_CHARS.search(head.decode("latin-1")) is not None


# --------------------------------------------------------------------------------------------
# Bytes to text


def _decode(data: bytes, label: str) -> str:
    """Decode a CSV's bytes: BOMs first, then UTF-16 without BOM, UTF-8, and cp1252."""
    if not data.strip():
        raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
    if not data.strip(b"\x00 \t\r\n"):
        raise ExportError(
            f"{label} holds only NUL bytes, no text: it is blank or was damaged in download. "
            f"{_UPLOAD_HINT}"
        )

    encoding: str | None = None
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(data) >= 4 and len(data) % 2 == 0:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        head = data[:512]
        if head[1::2].count(0) > 0.9 * len(head[1::2]) and not head[0::2].count(0):
            encoding = "utf-16-le"
        elif head[0::2].count(0) > 0.9 * len(head[0::2]) and not head[1::2].count(0):
            encoding = "utf-16-be"

    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            if encoding != "utf-8-sig":
                raise ExportError(
                    f"{label} is not readable text (its {encoding.upper()} encoding is broken). "
                    "Save it again as CSV UTF-8 and upload it again."
                ) from None
            text = _decode_8bit(data[len(codecs.BOM_UTF8) :])
    else:
        text = _decode_8bit(data)

    text = text.lstrip("\ufeff").rstrip("\x1a")  # a second BOM; a DOS end-of-file mark
    if "\x00" in text or _BINARY_CHARS.search(text):
        raise ExportError(f"{label} is not a CSV file: it holds binary data. {_UPLOAD_HINT}")
    if not text.strip():
        raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1")


def _repair_name(name: str) -> str:
    """Undo UTF-8 read as cp1252 and saved again ("AmÃ©lie" -> "Amélie"); else unchanged."""
    if name.isascii() or not badness.is_bad(name):
        return name
    fixed = ftfy.fix_text(name, _FTFY_CONFIG)
    if fixed != name:
        log.debug("Repaired mojibake in a film name: %r -> %r", name, fixed)
    return fixed


# --------------------------------------------------------------------------------------------
# One CSV


def _column_key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.replace("\ufeff", "")).casefold()


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _kind_for_upload(label: str, fields: Iterable[str]) -> FileKind:
    """Which file a single uploaded CSV is: by name where columns cannot tell, else by columns."""
    name = label.casefold()
    present = set(fields)
    if "watchlist" in name:
        return FileKind.WATCHLIST
    if "like" in name or name == "films.csv":
        return FileKind.LIKES
    if "diary" in name or "review" in name or {"watched_date", "rewatch"} & present:
        return FileKind.DIARY
    if "rating" in present:
        return FileKind.RATINGS
    return FileKind.WATCHED


def _read_single_csv(data: bytes, label: str, limits: ImportLimits) -> _CsvFile:
    reason = _NOT_FILMS.get(label.casefold())
    if reason:
        raise ExportError(f"{label} {reason}. {_UPLOAD_HINT}")
    parsed = _parse_csv(data, label, None, limits)
    if not parsed.rows:
        raise ExportError(_no_films_message(label))
    return parsed


def _not_letterboxd_message(label: str, headers: list[str]) -> str:
    shown = ", ".join(_clip(h, 30) for h in headers[:8] if h.strip())
    if len(headers) > 8:
        shown += ", …"
    keys = {_column_key(h) for h in headers}
    if {"userid", "movieid"} <= keys:
        what = " (it looks like a MovieLens ratings file)"
    elif "imdbid" in keys or "const" in keys or "yourrating" in keys:
        what = " (it looks like an IMDb export)"
    else:
        what = ""
    columns = f"its columns are {shown}" if shown else "it has no column names"
    return (
        f"{label} is not a Letterboxd export{what}: {columns}, but Letterboxd files have "
        f"Date, Name, Year, Letterboxd URI. {_UPLOAD_HINT}"
    )


def _parse_csv(data: bytes, label: str, kind: FileKind | None, limits: ImportLimits) -> _CsvFile:
    """Parse one export CSV into checked rows. ``kind=None``: decide from name and columns."""
    text = _decode(data, label)
    first_line = text.lstrip().split("\n", 1)[0]
    if first_line.strip().strip('"').casefold().startswith("letterboxd list export"):
        raise ExportError(
            f"{label} is a Letterboxd list export, not your films. Upload ratings.csv or the "
            f"whole export zip from Letterboxd ({EXPORT_PATH})."
        )
    delimiter = _sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        number = 0
        header: list[str] | None = None
        for record in reader:
            number += 1
            if any(cell.strip() for cell in record):
                header = record
                break
        if header is None:
            raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
        columns = _map_columns(header, label)
        if kind is None:
            kind = _kind_for_upload(label, columns)
        rows = _parse_rows(reader, number, columns, kind, label, limits.max_rows)
    except csv.Error as exc:
        raise ExportError(
            f"{label} is not a readable CSV file (line {reader.line_num}: {_clip(str(exc), 60)}). "
            "Upload the file as Letterboxd made it, or save it again as CSV."
        ) from None
    log.debug("Parsed %s as %s: %d film rows", label, kind.value, len(rows))
    return _CsvFile(label=label, kind=kind, rows=tuple(rows))


def _parse_rows(
    records: Iterator[list[str]],
    number: int,
    columns: dict[str, int],
    kind: FileKind,
    label: str,
    max_rows: int,
) -> list[_Row]:
    """The film rows after the header (row ``number``), checked; blank rows are skipped.

    The hot loop of an import: plain indexing and fast paths for the common values.
    """
    i_name, i_year, i_uri, i_rating, i_watched, i_date = (
        columns.get(f, -1) for f in ("name", "year", "uri", "rating", "watched_date", "date")
    )
    if kind is not FileKind.DIARY:  # only the diary's order needs dates
        i_watched = i_date = -1
    width = max(columns.values()) + 1
    stars = _STARS
    rows: list[_Row] = []
    append = rows.append
    for record in records:
        number += 1
        # Pad short records; index -1 (a column the file lacks) is always "".
        if len(record) < width:
            record += [""] * (width - len(record))
        record.append("")
        name = record[i_name].strip()
        if not name:
            if any(c.strip() for c in record):
                log.debug("%s row %d has no film name; skipped", label, number)
            continue
        if name.isascii():
            key = " ".join(name.casefold().split())
        else:
            name = _repair_name(name)
            key = _name_key(name)
        year = record[i_year].strip()
        rating = record[i_rating].strip()
        append(
            _Row(
                number,
                name,
                key,
                int(year)
                if len(year) == 4 and year.isdigit()
                else _parse_year(year, number, name, label),
                record[i_uri].strip(),
                (stars.get(rating) or _parse_rating(rating, number, name, label))
                if rating
                else None,
                record[i_watched].strip(),
                record[i_date].strip(),
            )
        )
        if len(rows) > max_rows:
            raise ExportError(
                f"{label} has more than {max_rows:,} film rows, the limit for one file. Upload "
                "your own Letterboxd export, or ask the bot's admin to raise BOXDREC_MAX_ROWS."
            )
    return rows


def _map_columns(header: list[str], label: str) -> dict[str, int]:
    """Field -> column index, by name (case and spaces ignored); refuse non-Letterboxd CSVs."""
    columns: dict[str, int] = {}
    for index, raw in enumerate(header):
        key = _column_key(raw)
        if key == "position":
            raise ExportError(
                f"{label} is a Letterboxd list export, not your films. Upload ratings.csv or "
                f"the whole export zip from Letterboxd ({EXPORT_PATH})."
            )
        field = _COLUMNS.get(key)
        if field is not None and field not in columns:
            columns[field] = index
    if any(f not in columns for f in _REQUIRED):
        raise ExportError(_not_letterboxd_message(label, header))
    return columns


def _parse_year(raw: str, number: int, name: str, label: str) -> int | None:
    if not raw:
        return None
    match = _YEAR.fullmatch(raw)
    if match is None:
        raise _row_error(
            label,
            number,
            name,
            f'year "{_clip(raw, 20)}" is not a four-digit year',
            "Fix or clear the year and upload again.",
        )
    return int(match.group(1))


_STARS = {str(n / 2).removesuffix(".0"): n / 2 for n in range(1, 11)} | {
    str(n / 2): n / 2 for n in range(1, 11)
}


def _parse_rating(raw: str, number: int, name: str, label: str) -> float | None:
    """Stars from 0.5 to 5 in half stars; empty is "watched, unrated" (``None``), never 0."""
    if not raw:
        return None
    fix = "Fix or remove the rating and upload again."
    text = raw.replace(",", ".", 1) if raw.count(",") == 1 and "." not in raw else raw
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    shown = _clip(raw, 20)
    if not math.isfinite(value):
        raise _row_error(
            label, number, name, f'rating "{shown}" is not a number of stars (0.5 to 5)', fix
        )
    if not 0.5 <= value <= 5:
        raise _row_error(label, number, name, f"rating {shown} is outside 0.5–5 stars", fix)
    if value * 2 != int(value * 2):
        raise _row_error(
            label,
            number,
            name,
            f"rating {shown} is not a whole or half star (0.5, 1, 1.5 … 5)",
            fix,
        )
    return value


def _parse_date(raw: str) -> tuple[int, int, int] | None:
    """``YYYY-MM-DD`` (also with / or .) as a sortable tuple; other formats are ignored."""
    match = _DATE.match(raw)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


# --------------------------------------------------------------------------------------------
# The zip


def _unsafe_member(name: str) -> bool:
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def _declared_size(infos: Iterable[zipfile.ZipInfo]) -> int:
    """Sum of the uncompressed sizes the zip claims for ``infos`` (a zip bomb may lie)."""
    return sum(info.file_size for info in infos)


def _select_members(
    infos: list[zipfile.ZipInfo], label: str
) -> list[tuple[str, FileKind, zipfile.ZipInfo]]:
    """The export files of the zip: (label, kind, member), from its shallowest export folder."""
    candidates: list[tuple[tuple[str, ...], str, zipfile.ZipInfo]] = []
    for info in infos:
        if info.is_dir():
            continue
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            continue
        folders = tuple(p.casefold() for p in parts[:-1])
        candidates.append((folders, parts[-1].casefold(), info))

    main = [
        (folders, base)
        for folders, base, _ in candidates
        if base in _ZIP_FILES and base != "watchlist.csv" and not _SKIPPED_DIRS & set(folders)
    ]
    if not main:
        raise ExportError(
            f"{label} has no ratings.csv, watched.csv or diary.csv, so it is not a Letterboxd "
            f"export. {_ZIP_HINT}"
        )
    depth = min(len(folders) for folders, _ in main)
    roots = sorted({folders for folders, _ in main if len(folders) == depth})
    if len(roots) > 1:
        shown = " and ".join(_clip("/".join(r), 40) + "/" for r in roots[:2])
        raise ExportError(
            f"{label} holds more than one export ({shown}). Upload one export at a time."
        )
    root = roots[0]

    chosen: dict[str, tuple[FileKind, zipfile.ZipInfo]] = {}
    for folders, base, info in candidates:
        if folders == root and base in _ZIP_FILES:
            chosen.setdefault(base, (_ZIP_FILES[base], info))
        elif folders == (*root, _LIKES_PATH[0]) and base == _LIKES_PATH[1]:
            chosen.setdefault("/".join(_LIKES_PATH), (FileKind.LIKES, info))
    return [(name, kind, info) for name, (kind, info) in chosen.items()]


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, read_so_far: int, label: str, budget: int
) -> bytes:
    """Stream one member, counting real bytes against ``budget`` whatever its header says."""
    chunks: list[bytes] = []
    total = read_so_far
    with zf.open(info) as handle:
        while chunk := handle.read(_READ_CHUNK):
            total += len(chunk)
            if total > budget:
                raise ExportError(_bomb_message(label, budget))
            chunks.append(chunk)
    return b"".join(chunks)


def _bomb_message(label: str, budget: int) -> str:
    return (
        f"{label} would unpack to more than {_mb(budget)}, the limit (a Letterboxd export of "
        f"10,000 films is about 1 MB). {_ZIP_HINT}"
    )


def _read_zip(data: bytes, label: str, limits: ImportLimits) -> list[_CsvFile]:
    """The export CSVs of a zip, parsed. Refuses unsafe, encrypted, corrupt and bomb zips."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_zip_members:
                raise ExportError(
                    f"{label} holds {len(infos):,} files, more than the {limits.max_zip_members:,}"
                    f" allowed. {_ZIP_HINT}"
                )
            for info in infos:
                if _unsafe_member(info.filename):
                    raise ExportError(
                        f"{label} holds a file whose path leaves its folder "
                        f'("{_clip(info.filename, 60)}"), so Letterboxd did not make it and it '
                        f"will not be opened. {_ZIP_HINT}"
                    )
            members = _select_members(infos, label)
            budget = limits.max_uncompressed_bytes
            if _declared_size(info for _, _, info in members) > budget:
                raise ExportError(_bomb_message(label, budget))
            raw: list[tuple[str, FileKind, bytes]] = []
            read = 0
            for name, kind, info in members:
                if info.flag_bits & 0x1:
                    raise ExportError(
                        f"{label} is password-protected ({name} is encrypted). Upload the zip "
                        f"as Letterboxd made it, without a password, or just its ratings.csv."
                    )
                content = _read_member(zf, info, read, label, budget)
                read += len(content)
                raw.append((name, kind, content))
    except ExportError:
        raise
    except Exception as exc:  # zipfile raises many types on crafted or damaged archives
        log.debug("Could not read zip %s: %s: %s", label, type(exc).__name__, exc)
        raise ExportError(_corrupt_zip_message(label)) from None

    files: list[_CsvFile] = []
    for name, kind, content in raw:
        if not content.strip():  # all NUL bytes is damage, and _parse_csv says so
            log.debug("%s in %s is empty", name, label)
            files.append(_CsvFile(label=name, kind=kind, rows=()))
        else:
            files.append(_parse_csv(content, name, kind, limits))
    return files


# --------------------------------------------------------------------------------------------
# Merging the files into films


def _name_key(name: str) -> str:
    """A name for matching within one export: case, width, dash, quote and spacing folded."""
    if name.isascii():
        return " ".join(name.casefold().split())
    folded = unicodedata.normalize("NFKC", name).translate(_NAME_PUNCT).casefold()
    return " ".join(folded.split())


def _uri_key(uri: str) -> str:
    """The film's identity in a URI: scheme, ``www.``, host case and trailing slash ignored."""
    if not uri:
        return ""
    if uri.startswith("https://boxd.it/") and not uri.endswith("/"):
        return uri[8:]
    scheme = uri.find("://")
    rest = uri[scheme + 3 :] if scheme >= 0 else uri
    slash = rest.find("/")
    host, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    host = host.casefold().removeprefix("www.")
    return host + path.rstrip("/")


_Date = tuple[int, int, int]
_NO_DATE: _Date = (0, 0, 0)


class _Film:
    """A film being merged. A plain class with class defaults: cheap to create by thousands."""

    rating: float | None = None  # from ratings.csv
    diary_rating: float | None = None
    diary_order: tuple[_Date, _Date, int] = (_NO_DATE, _NO_DATE, -1)
    watched: bool = False
    in_watchlist: bool = False
    liked: bool = False

    def __init__(self, name: str, year: int | None, uri: str, origin: str) -> None:
        self.name = name
        self.year = year
        self.uri = uri
        self.origin = origin  # label of the file whose row created it

    def export(self) -> ExportFilm:
        return ExportFilm(
            self.name,
            self.year,
            self.uri,
            self.rating if self.rating is not None else self.diary_rating,
            self.watched,
            self.in_watchlist,
            self.liked,
        )


class _Merger:
    """Collects films in order of first appearance, keyed by URI, else by name and year."""

    def __init__(self) -> None:
        self.films: list[_Film] = []
        self.by_uri: dict[str, _Film] = {}
        self.by_name: dict[tuple[str, int | None], list[_Film]] = {}

    def _new(self, row: _Row, uri: str, key: str, origin: str) -> _Film:
        film = _Film(row.name, row.year, uri, origin)
        self.films.append(film)
        if key:
            self.by_uri[key] = film
        named = self.by_name.get((row.key, row.year))
        if named is None:
            self.by_name[row.key, row.year] = [film]
        else:
            named.append(film)
        return film

    def _find_by_name(self, row: _Row, key: str, label: str) -> _Film | bool | None:
        """The film a row without a known URI names: ``None`` for a new film, ``False`` when
        the row has no URI and its name and year fit several films.

        Rows of the same file are never merged by name: two "Cinderella" (1922) rows with
        different URIs are two films.
        """
        others = [
            f
            for f in self.by_name.get((row.key, row.year), ())
            if f.origin != label and not (key and f.uri)
        ]
        if len(others) == 1:
            film = others[0]
            if key and not film.uri:  # e.g. a diary-only film, now found in likes
                film.uri = row.uri
                self.by_uri[key] = film
            return film
        if others and not key:
            return False
        return None

    def add(self, file: _CsvFile) -> None:
        """Merge one file's rows: by URI, else by name and year (diary: by name and year)."""
        kind = file.kind
        if kind is FileKind.DIARY:
            self._add_diary(file)
            return
        watched = kind is not FileKind.WATCHLIST
        by_uri, by_name, label = self.by_uri, self.by_name, file.label
        for row in file.rows:
            key = _uri_key(row.uri)
            found: _Film | bool | None = by_uri.get(key) if key else None
            if found is None and (row.key, row.year) in by_name:
                found = self._find_by_name(row, key, label)
                if found is False:
                    log.debug("%s row %d fits several films; skipped", label, row.number)
                    continue
            film = found if isinstance(found, _Film) else self._new(row, row.uri, key, label)
            if film.year is None:
                film.year = row.year
            if watched:
                film.watched = True
            if kind is FileKind.RATINGS:
                if film.rating is None:
                    film.rating = row.rating
            elif kind is FileKind.WATCHLIST:
                film.in_watchlist = True
            elif kind is FileKind.LIKES:
                film.liked = True

    def _add_diary(self, file: _CsvFile) -> None:
        """Diary URIs name the log entry, not the film: join by name and year, when unique."""
        for row in file.rows:
            matches = self.by_name.get((row.key, row.year), [])
            if len(matches) > 1:
                log.debug(
                    "%s row %d names %d films with the same name and year; skipped",
                    file.label,
                    row.number,
                    len(matches),
                )
                continue
            film = matches[0] if matches else self._new(row, "", "", file.label)
            film.watched = True
            if row.rating is not None:
                order = (
                    _parse_date(row.watched_date) or _NO_DATE,
                    _parse_date(row.date) or _NO_DATE,
                    row.number,
                )
                if order > film.diary_order:
                    film.diary_order = order
                    film.diary_rating = row.rating

    def result(self) -> tuple[ExportFilm, ...]:
        return tuple(f.export() for f in self.films)


def _merge(files: list[_CsvFile]) -> LetterboxdExport:
    order = {kind: i for i, kind in enumerate(_MERGE_ORDER)}
    ordered = sorted(files, key=lambda f: order[f.kind])
    merger = _Merger()
    for file in ordered:
        merger.add(file)
    return LetterboxdExport(films=merger.result(), files_read=tuple(f.label for f in ordered))

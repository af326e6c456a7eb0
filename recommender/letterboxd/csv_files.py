"""One export CSV: delimiter, header, column mapping, which file it is, and its film rows."""

from __future__ import annotations

import codecs
import csv
import logging
import re
import sys
from collections.abc import Iterable, Iterator

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.letterboxd.decoding import (
    _decode,
    _encoding_of,
    _may_be_mojibake,
    _repair_name,
    _text_size_bound,
)
from recommender.letterboxd.messages import (
    _UPLOAD_HINT,
    EXPORT_PATH,
    _clip,
    _corrupt_zip_message,
    _memory_error,
    _no_films_message,
    _row_error,
)
from recommender.letterboxd.parsed import FileKind, _CsvFile, _Row
from recommender.letterboxd.values import (
    _STARS,
    _YEARS,
    _clean_name,
    _name_key,
    _parse_rating,
    _parse_year,
    _tidy_name,
)

# One logger, "recommender.letterboxd", for the whole importer (its name as a single module).
log = logging.getLogger(__package__)

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

# Letterboxd files have at most 9 columns and diary tags are one quoted cell; a line with more
# delimiters than this is not an export, and parsing it would make one huge record.
_MAX_CELLS = 20_000
# Real titles are under 300 characters; longer names are refused before any repair (ftfy takes
# seconds over a few megabytes of one name). Also the most a name may become once NFKC writes
# out its ligatures and symbols ("\ufdfa" is 18 characters): matching reads every one.
_MAX_NAME_CHARS = 1_000
# Characters NFKC may add to the names of one file: real exports add a few ("…" is "...", "½"
# is "1⁄2"); 3,300 names of 999 "\ufdfa" each would add 56 million, 10 s of folding and more
# of matching.
_MAX_NAME_GROWTH = 100_000
# Characters of names that might be mojibake that ftfy checks and repairs in one file (about
# 0.4 s of ftfy); a real export of 10,000 films read as cp1252 has about 200,000. Past it names
# are kept as written.
_MAX_REPAIRED_CHARS = 500_000
_SEP_LINE = re.compile(r"sep=([,;\t|])", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n?|\n")  # the line ends io.StringIO(newline="") keeps
_COUNT_CHUNK = 1 << 18  # bytes of UTF-16 or UTF-32 decoded at a time to count line ends
_FIRST_LINE = re.compile(r"\S[^\r\n]*")  # the header, or a list export's banner
# Memory one kept row costs until the import ends, besides its share of the text: the row and
# its strings (380 bytes measured) and its film at the merge's peak (700), with a margin.
_ROW_BYTES = 1_500


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
    parsed = _parse_csv(data, label, None, limits, 0)
    if not parsed.rows:
        raise ExportError(_no_films_message(label))
    return parsed


def _not_letterboxd_message(label: str, headers: list[str]) -> str:
    if label.casefold().endswith(".zip"):
        # Text named .zip that is no export CSV either: a damaged download, not a CSV's columns.
        return _corrupt_zip_message(label)
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


def _parse_csv(
    data: bytes,
    label: str,
    kind: FileKind | None,
    limits: ImportLimits,
    spent: int,
    zip_label: str | None = None,
) -> _CsvFile:
    """Parse one export CSV into checked rows. ``kind=None``: decide from name and columns.

    ``spent``: memory the import holds besides ``data`` (the upload, other unpacked files, the
    rows of files parsed before). A file whose text and rows would pass
    ``limits.max_import_memory_bytes`` is refused before it is decoded; the message blames the
    zip ``zip_label`` it came from when ``spent`` is most of it.
    """
    encoding = _encoding_of(data, label)
    # The text may take 4 bytes a character; the rows keep slices of it and names folded for
    # matching (at most two more copies); decoding briefly needs the raw bytes once more.
    text_bytes = _text_size_bound(data, encoding)
    rows = min(limits.max_rows, _byte_line_count(data, encoding) + 1)
    need = spent + len(data) + 3 * text_bytes + rows * _ROW_BYTES
    if need > limits.max_import_memory_bytes:
        raise _memory_error(label, zip_label, spent, need, limits.max_import_memory_bytes)
    text = _decode(data, label, encoding)

    found = _FIRST_LINE.search(text)  # not text.split(): that copies the whole file
    first_line = found.group() if found else ""
    if first_line.strip().strip('"').casefold().startswith("letterboxd list export"):
        raise ExportError(
            f"{label} is a Letterboxd list export, not your films. Upload ratings.csv or the "
            f"whole export zip from Letterboxd ({EXPORT_PATH})."
        )
    # Excel writes "sep=;" above the header when told which delimiter a CSV uses: honour it
    # and read the header from the next line.
    sep = _SEP_LINE.fullmatch(first_line.rstrip(" ").strip('"'))  # not strip(): "sep=\t"
    if sep and found:
        delimiter = sep.group(1)
        found = _FIRST_LINE.search(text, found.end())
        first_line = found.group() if found else ""
    else:
        delimiter = _sniff_delimiter(first_line)
    # Blank lines before the header are skipped at C speed, but count against the same limit
    # as blank rows after it: millions of them fit in the size limit.
    at = found.start() if found else len(text)
    start = max(text.rfind("\r", 0, at), text.rfind("\n", 0, at)) + 1
    skipped = number = _line_count(text, start)
    if skipped > limits.max_rows:
        raise ExportError(_blank_rows_message(label, limits.max_rows))
    lines = _checked_lines(text, delimiter, label, start, skipped)
    # strict: a quote that never closes is an error, not the rest of the file read as one name.
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        blank = number
        header: list[str] | None = None
        for record in reader:
            number += 1
            if any(cell.strip() for cell in record):
                header = record
                break
            blank += 1
            if blank > limits.max_rows:
                raise ExportError(_blank_rows_message(label, limits.max_rows))
        if header is None:
            raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
        columns = _map_columns(header, label)
        if kind is None:
            kind = _kind_for_upload(label, columns)
        slack = limits.max_import_memory_bytes - need
        parsed, grown = _parse_rows(
            reader, number, blank, columns, kind, label, limits, slack, (zip_label, spent)
        )
    except csv.Error as exc:
        if str(exc) == "unexpected end of data":
            raise ExportError(
                f'{label}, line {_unclosed_quote_line(text)}: a quote (") opens here and never '
                "closes, so the rest of the file would be read as one value. Save the file again "
                "as CSV from your spreadsheet, or upload the file Letterboxd made."
            ) from None
        raise ExportError(
            f"{label} is not a readable CSV file (line {skipped + reader.line_num}: "
            f"{_clip(str(exc), 60)}). Upload the file as Letterboxd made it, or save it again as "
            "CSV."
        ) from None
    log.debug("Parsed %s as %s: %d film rows", label, kind.value, len(parsed))
    # What the rows keep for later files' budgets: their strings (at most two text copies of the
    # actual width), the rows themselves and names that NFKC made longer.
    held = 2 * sys.getsizeof(text) + len(parsed) * _ROW_BYTES + grown
    return _CsvFile(label=label, kind=kind, rows=tuple(parsed), held_bytes=held)


def _line_count(data: str | bytes, end: int | None = None) -> int:
    """Line ends in ``data[:end]`` (CR, LF or CRLF), without copying it; bytes in an encoding
    where each is one byte (UTF-8, cp1252)."""
    if isinstance(data, str):
        return data.count("\n", 0, end) + data.count("\r", 0, end) - data.count("\r\n", 0, end)
    return data.count(b"\n", 0, end) + data.count(b"\r", 0, end) - data.count(b"\r\n", 0, end)


def _byte_line_count(data: bytes, encoding: str | None) -> int:
    """Line ends in ``data``, raw bytes in ``encoding`` (from :func:`_encoding_of`).

    In UTF-16 and UTF-32 a line end is a whole code unit: counting 0x0A bytes would count every
    character with such a byte ("上" is U+4E0A) as a line. Those are decoded a slice at a time
    to count them (1 MB at most, let go at once; about 1 ms a MB).
    """
    if encoding is None or not encoding.startswith(("utf-16", "utf-32")):
        return _line_count(data)
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    view = memoryview(data)
    count = 0
    after_cr = False  # the slice before ended with CR: an LF starting this one ends no line
    for start in range(0, len(data), _COUNT_CHUNK):
        end = start + _COUNT_CHUNK
        text = decoder.decode(view[start:end], final=end >= len(data))
        count += _line_count(text)
        if after_cr and text.startswith("\n"):
            count -= 1
        if text:
            after_cr = text.endswith("\r")
    return count


def _unclosed_quote_line(text: str) -> int:
    """The line of the quote still open at the end of ``text``: the first of the last run of an
    odd number of quotes, since after it quotes only come in escaped pairs ("")."""
    end = len(text)
    while (last := text.rfind('"', 0, end)) >= 0:
        first = last
        while first and text[first - 1] == '"':
            first -= 1
        if (last - first) % 2 == 0:
            return _line_count(text, first) + 1
        end = first
    return _line_count(text) + 1


def _blank_rows_message(label: str, max_rows: int) -> str:
    return (
        f"{label} has more than {max_rows:,} rows without a film name, so it is not a file "
        "Letterboxd made. Upload the file as Letterboxd made it, or delete the empty rows and "
        "upload it again."
    )


def _checked_lines(text: str, delimiter: str, label: str, start: int, number: int) -> Iterator[str]:
    """The lines of ``text`` from ``start`` (after line ``number``) with their ends for the CSV
    reader, one at a time (io.StringIO would hold a copy of four bytes a character); a line
    with thousands of columns is refused."""
    for line_number, end in enumerate(_line_ends(text, start), number + 1):
        line = text[start:end]
        start = end
        if line.count(delimiter) >= _MAX_CELLS:
            raise ExportError(
                f"{label}, line {line_number} has more than {_MAX_CELLS:,} columns, so it is not a "
                f"Letterboxd export. {_UPLOAD_HINT}"
            )
        yield line


def _line_ends(text: str, start: int) -> Iterator[int]:
    for match in _LINE_END.finditer(text, start):
        yield match.end()
    if not text.endswith(("\n", "\r")):
        yield len(text)


def _parse_rows(
    records: Iterator[list[str]],
    number: int,
    skipped: int,
    columns: dict[str, int],
    kind: FileKind,
    label: str,
    limits: ImportLimits,
    slack: int,
    held_by: tuple[str | None, int] = (None, 0),
) -> tuple[list[_Row], int]:
    """The film rows after the header (row ``number``), checked, and the bytes names folded
    for matching grew by (refused past ``slack``, see :func:`_memory_error` for ``held_by``).
    Blank rows are skipped and counted on from ``skipped``, the blank lines before the header.

    The hot loop of an import: plain indexing and fast paths for the common values.
    """
    i_name, i_year, i_uri, i_rating, i_watched, i_date = (
        columns.get(f, -1) for f in ("name", "year", "uri", "rating", "watched_date", "date")
    )
    if kind is not FileKind.DIARY:  # only the diary's order needs dates
        i_watched = i_date = -1
    width = max(columns.values()) + 1
    stars = _STARS
    max_rows = limits.max_rows
    rows: list[_Row] = []
    append = rows.append
    grown = 0  # bytes of keys longer than their names
    growth = 0  # characters NFKC added to names
    repair_left = _MAX_REPAIRED_CHARS
    for record in records:
        number += 1
        # Pad short records; index -1 (a column the file lacks) is always "".
        if len(record) < width:
            record += [""] * (width - len(record))
        record.append("")
        name = record[i_name].strip()
        if len(name) > _MAX_NAME_CHARS:
            raise _row_error(
                label,
                number,
                name,
                f"the film name is {len(name):,} characters long, but no film's name is longer "
                f"than {_MAX_NAME_CHARS:,}, so this is not a file Letterboxd made",
                _UPLOAD_HINT,
            )
        if name and not name.isascii():
            if repair_left > 0 and _may_be_mojibake(name):
                repair_left -= len(name)
                name = _repair_name(name)
                if repair_left <= 0:
                    log.info("%s: mojibake repair stops at row %d, its limit", label, number)
            name = _tidy_name(name)
        if not name.isprintable():  # also true of no-break spaces; rarely needs cleaning
            name = _clean_name(name)
        if not name:
            if any(c.strip() for c in record):
                log.debug("%s row %d has no film name; skipped", label, number)
            skipped += 1
            if skipped > max_rows:  # blank rows cost time too: millions fit in the size limit
                raise ExportError(_blank_rows_message(label, max_rows))
            continue
        if name.isascii():
            key = " ".join(name.casefold().split())
        else:
            key = _name_key(name)
            if len(key) > len(name):  # NFKC makes one character up to 18 ("\ufdfa")
                if len(key) > _MAX_NAME_CHARS:
                    raise _row_error(
                        label,
                        number,
                        name,
                        f"the film name is {len(key):,} characters long once its ligatures and "
                        f"symbols are written out, but no film's name is longer than "
                        f"{_MAX_NAME_CHARS:,}, so this is not a file Letterboxd made",
                        _UPLOAD_HINT,
                    )
                growth += len(key) - len(name)
                if growth > _MAX_NAME_GROWTH:
                    raise _row_error(
                        label,
                        number,
                        name,
                        f"written out, the ligatures and symbols of the film names up to here add "
                        f"more than {_MAX_NAME_GROWTH:,} characters, but those of a Letterboxd "
                        "export add a few, so this is not a file Letterboxd made",
                        _UPLOAD_HINT,
                    )
                grown += sys.getsizeof(key)
                if grown > slack:
                    need = limits.max_import_memory_bytes - slack + grown
                    limit = limits.max_import_memory_bytes
                    raise _memory_error(label, held_by[0], held_by[1], need, limit)
        year = record[i_year].strip()
        year_number = int(year) if len(year) == 4 and year.isascii() and year.isdigit() else 0
        rating = record[i_rating].strip()
        append(
            _Row(
                number,
                name,
                key,
                year_number if year_number in _YEARS else _parse_year(year, number, name, label),
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
    return rows, grown


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

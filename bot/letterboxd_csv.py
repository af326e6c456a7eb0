"""The recommendations as a CSV that Letterboxd's list importer reads.

letterboxd.com → new list → Import: the importer matches on tmdbID first, then imdbID, then
Title and Year, so every row carries all four it has.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable

from recommender.service import Recommendation

FILENAME = "boxdrec-recommendations.csv"
HEADER = ("Title", "Year", "tmdbID", "imdbID")

# A cell starting with one of these is a formula to a spreadsheet (CSV injection). Spreadsheets
# skip leading spaces and invisible characters before looking, and some read the full-width and
# small forms (＝ ﹦ ＋ ﹢ － ﹣ ＠ ﹫) as the ASCII ones: NFKC folds those to ASCII first.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# Spaces (Zs), format characters (Cf: bidi marks, zero-width) and controls (Cc) before the first
# visible character.
_SKIPPED_CATEGORIES = ("Zs", "Cf", "Cc")


def safe_cell(value: str) -> str:
    """Prefix a single quote to anything a spreadsheet would run as a formula."""
    if value.startswith(_FORMULA_START):
        return "'" + value
    for char in value:
        if char in "\t\r\n" or unicodedata.category(char) not in _SKIPPED_CATEGORIES:
            if unicodedata.normalize("NFKC", char).startswith(_FORMULA_START):
                return "'" + value
            break
    return value


def recommendations_csv(items: Iterable[Recommendation]) -> bytes:
    """UTF-8 (no BOM), comma-separated, ``\\n`` line ends, quoted only where needed."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for rec in items:
        row = (
            rec.title,
            "" if rec.year is None else str(rec.year),
            "" if rec.tmdb_id is None else str(rec.tmdb_id),
            "" if rec.imdb_id is None else f"tt{rec.imdb_id:07d}",
        )
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8")

"""The recommendations as a CSV that Letterboxd's list importer reads.

letterboxd.com → new list → Import: the importer matches on tmdbID first, then imdbID, then
Title and Year, so every row carries all four it has.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from recommender.service import Recommendation

FILENAME = "boxdrec-recommendations.csv"
HEADER = ("Title", "Year", "tmdbID", "imdbID")

# A cell starting with one of these is a formula to a spreadsheet (CSV injection). Spreadsheets
# skip leading spaces and invisible characters before looking, and some read the full-width
# forms (＝ ＋ － ＠) as the ASCII ones.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_SKIPPED_FIRST = " \u00a0\u200b\u200c\u200d\u2060\ufeff"


def safe_cell(value: str) -> str:
    """Prefix a single quote to anything a spreadsheet would run as a formula."""
    if value.startswith(_FORMULA_START) or value.lstrip(_SKIPPED_FIRST).startswith(_FORMULA_START):
        return "'" + value
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

"""What one parsed export CSV is: its kind, its label and its checked film rows."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple


class FileKind(Enum):
    """Which export file a CSV is; it decides what its rows say about a film."""

    RATINGS = "ratings"
    WATCHED = "watched"
    WATCHLIST = "watchlist"
    DIARY = "diary"
    LIKES = "likes"


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
    held_bytes: int = 0  # memory its rows hold until the merge ends: an estimate, see _parse_csv

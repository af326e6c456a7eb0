"""The Download CSV file: exact bytes Letterboxd's list importer reads, formulas defused."""

from __future__ import annotations

import csv
import io

import pytest
from bot_helpers import rec

from bot.letterboxd_csv import FILENAME, recommendations_csv, safe_cell


def test_exact_bytes():
    items = [
        rec(1, title="Toy Story", year=1995, tmdb_id=862, imdb_id=114709),
        rec(2, title="Crouching Tiger, Hidden Dragon", year=2000, tmdb_id=146, imdb_id=190332),
        rec(3, title='The "Unknown"', year=None, tmdb_id=None, imdb_id=None),
        rec(4, title='=HYPERLINK("http://x")', year=2001, tmdb_id=7, imdb_id=None),
        rec(5, title="-1 Degrees", year=2002, tmdb_id=None, imdb_id=1234567),
        rec(6, title="@home", year=2003, tmdb_id=8, imdb_id=8),
        rec(7, title="+1", year=2013, tmdb_id=9, imdb_id=2395385),
        rec(8, title="Amélie", year=2001, tmdb_id=194, imdb_id=211915),
    ]
    assert recommendations_csv(items) == (
        b"Title,Year,tmdbID,imdbID\n"
        b"Toy Story,1995,862,tt0114709\n"
        b'"Crouching Tiger, Hidden Dragon",2000,146,tt0190332\n'
        b'"The ""Unknown""",,,\n'
        b'"\'=HYPERLINK(""http://x"")",2001,7,\n'
        b"'-1 Degrees,2002,,tt1234567\n"
        b"'@home,2003,8,tt0000008\n"
        b"'+1,2013,9,tt2395385\n"
        b"Am\xc3\xa9lie,2001,194,tt0211915\n"
    )
    assert FILENAME == "boxdrec-recommendations.csv"


def test_round_trips_through_a_csv_reader():
    items = [rec(i) for i in range(1, 11)]
    rows = list(csv.reader(io.StringIO(recommendations_csv(items).decode("utf-8"))))
    assert rows[0] == ["Title", "Year", "tmdbID", "imdbID"]
    assert rows[1] == ["Film 1", "2001", "501", "tt0100001"]
    assert len(rows) == 11


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\r=1", "'\r=1"),
        ("\n@x", "'\n@x"),
        (" =1+1", "' =1+1"),
        ("\u200b=HYPERLINK(1)", "'\u200b=HYPERLINK(1)"),
        ("\u00a0 -2", "'\u00a0 -2"),
        ("＝1+1", "'＝1+1"),
        # Found by a hostile review: ideographic space, bidi marks, vertical tab, small forms.
        ("\u3000=1", "'\u3000=1"),
        ("\u200e=1", "'\u200e=1"),
        ("\u2066=1", "'\u2066=1"),
        ("\x0b=1", "'\x0b=1"),
        ("﹦x", "'﹦x"),
        ("﹢x", "'﹢x"),
        ("﹫x", "'﹫x"),
        ("Amélie", "Amélie"),
        ("(500) Days of Summer", "(500) Days of Summer"),
        (" Heat", " Heat"),
        ("Se7en", "Se7en"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_safe_cell(cell: str, safe: str):
    assert safe_cell(cell) == safe

"""Build Letterboxd export files for tests: CSV text and zips, made at run time."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

RATINGS_HEADER = "Date,Name,Year,Letterboxd URI,Rating"
WATCHED_HEADER = "Date,Name,Year,Letterboxd URI"
DIARY_HEADER = "Date,Name,Year,Letterboxd URI,Rating,Rewatch,Tags,Watched Date"

# The sample from the issue: a comma in a name, an empty year, a no-break space after an en
# dash, an empty URI, and two different films both called "Cinderella" (1922).
ISSUE_SAMPLE = (
    "Date,Name,Year,Letterboxd URI,Rating\n"
    '2024-01-01,"Monsters, Inc.",2001,https://boxd.it/aaa1,4\n'
    "2024-01-01,Some Upcoming Film,,https://boxd.it/aaa7,4\n"
    "2024-01-01,Heat,1995,https://boxd.it/aaa8,3.5\n"
    "2024-01-01,Star Wars: Episode III –\u00a0Revenge of the Sith,2005,https://boxd.it/ab10,3\n"
    "2024-01-01,Yí (Endless River),2019,,4\n"
    "2024-01-01,Cinderella,1922,https://boxd.it/ab13,3\n"
    "2024-01-01,Cinderella,1922,https://boxd.it/ab14,3.5\n"
)


def csv_text(header: str, *rows: str, newline: str = "\n") -> str:
    """A CSV file: the header line, then each row line, each ended by ``newline``."""
    return "".join(line + newline for line in (header, *rows))


def make_zip(
    members: Mapping[str, str | bytes],
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A zip holding ``members`` (path -> text or bytes); text is written as UTF-8."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, content in members.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 12, 0, 0))
            info.compress_type = compression
            zf.writestr(info, data)
    return buffer.getvalue()


def mark_encrypted(zip_bytes: bytes) -> bytes:
    """Set the "encrypted" flag of every member in both its local and central headers."""
    data = bytearray(zip_bytes)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (pos := data.find(signature, start)) >= 0:
            data[pos + flag_offset] |= 0x01
            start = pos + 4
    return bytes(data)


def full_export(prefix: str = "") -> dict[str, str | bytes]:
    """The files of a whole export zip, each path under ``prefix`` (e.g. ``"user-2026/"``).

    Films: Heat and Alien rated; Alien rewatched in the diary with a different rating (ratings.csv
    wins); Tenet only in the diary, twice, its later watch rated 4; Dune in watched and liked;
    Nope only in the watchlist; Heat also on the watchlist; profile, reviews, comments, lists,
    deleted/ and orphaned/ hold names that must never appear.
    """
    files: dict[str, str | bytes] = {
        "ratings.csv": csv_text(
            RATINGS_HEADER,
            "2024-01-02,Heat,1995,https://boxd.it/aaa8,4.5",
            "2024-01-03,Alien,1979,https://boxd.it/2b0k,4",
        ),
        "watched.csv": csv_text(
            WATCHED_HEADER,
            "2024-01-01,Alien,1979,https://boxd.it/2b0k",
            "2024-01-02,Heat,1995,https://boxd.it/aaa8",
            "2024-01-04,Dune,2021,https://boxd.it/fA7G",
            "2024-01-05,Tenet,2020,https://boxd.it/kHsA",
        ),
        "watchlist.csv": csv_text(
            WATCHED_HEADER,
            "2024-02-01,Nope,2022,https://boxd.it/uj0Q",
            "2024-02-02,Heat,1995,https://boxd.it/aaa8",
        ),
        "diary.csv": csv_text(
            DIARY_HEADER,
            # Diary URIs name the log entry, not the film.
            "2024-01-03,Alien,1979,https://boxd.it/1xAAA,2,,,2024-01-03",
            "2024-03-01,Alien,1979,https://boxd.it/1xBBB,3,Yes,,2024-03-01",
            "2024-04-01,Tenet,2020,https://boxd.it/1xCCC,4,Yes,,2024-04-01",
            "2024-04-02,Tenet,2020,https://boxd.it/1xDDD,2,,,2024-01-05",
        ),
        "likes/films.csv": csv_text(WATCHED_HEADER, "2024-01-06,Dune,2021,https://boxd.it/fA7G"),
        "profile.csv": (
            "Date Joined,Username,Given Name,Family Name,Email Address\n"
            "2020-01-01,secretuser,Secret,Person,secret@example.com\n"
        ),
        "reviews.csv": csv_text(
            DIARY_HEADER + ",Review",
            "2024-01-03,Review Only Film,1999,https://boxd.it/1xEEE,5,,,2024-01-03,Great",
        ),
        "comments.csv": "Date,Content,Comment\n2024-01-01,Comment Only Film,nice\n",
        "lists/favourites.csv": (
            "Letterboxd list export v7\nDate,Name,Tags,URL,Description\n\n"
            "Position,Name,Year,URL,Description\n1,List Only Film,2001,https://boxd.it/1q08,\n"
        ),
        "deleted/diary.csv": csv_text(
            DIARY_HEADER, "2024-01-03,Deleted Film,1990,https://boxd.it/1xFFF,1,,,2024-01-03"
        ),
        "orphaned/ratings.csv": csv_text(
            RATINGS_HEADER, "2024-01-03,Orphaned Film,1990,https://boxd.it/1xGGG,1"
        ),
    }
    return {prefix + name: content for name, content in files.items()}

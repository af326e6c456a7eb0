"""Hostile uploads: whatever a user sends, the import returns films or raises our own error.

The contract: :func:`read_export` either returns a :class:`LetterboxdExport` whose films are sane
(names non-empty one-line text, ratings in half stars from 0.5 to 5 or ``None``, plausible years
or ``None``) or raises a :class:`BoxdrecError` whose message is one line saying what is wrong and
what to do. Never another exception; never memory beyond the configured limits; never unpickling.
"""

from __future__ import annotations

import ast
import codecs
import csv
import dataclasses
import gc
import io
import pickle
import re
import stat
import string
import time
import tracemalloc
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ftfy.bad_codecs  # noqa: F401  (registers sloppy-windows-1252)
import pytest
from hostile_factories import (
    BZIP2,
    GIB,
    LZMA,
    STORED,
    Member,
    deflated,
    link,
    raw_zip,
    zero_bomb,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lb_factories import (
    RATINGS_HEADER,
    WATCHED_HEADER,
    csv_text,
    full_export,
    make_zip,
)

from recommender.config import ImportLimits
from recommender.errors import BoxdrecError, ExportError
from recommender.export import ExportFilm, LetterboxdExport
from recommender.letterboxd import read_export, read_export_file
from recommender.letterboxd.merge import _merge
from recommender.letterboxd.parsed import FileKind, _CsvFile, _Row

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = ImportLimits()
SMALL = ImportLimits(
    max_upload_bytes=200_000, max_uncompressed_bytes=400_000, max_rows=500, max_zip_members=50
)
STARS = {n / 2 for n in range(1, 11)}
ZIP_HINT = "Upload the zip exactly as Letterboxd made it"
HYPOTHESIS = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
VALID_RATINGS = csv_text(RATINGS_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8,4.5")
HEAT = (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 4.5),)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


# Format characters a name may keep: ZWNJ and ZWJ (Persian, emoji) and the signs that span the
# digits after them, which are seen. Every other one hides text or reorders it (bidi controls,
# zero-width space, word joiner, BOM...), and so do tags outside the flag of a region.
SEEN_FORMAT = frozenset("\u200c\u200d\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f")
SEEN_FORMAT |= frozenset("\u0890\u0891\u08e2\U000110bd\U000110cd")
REGION_FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
HIDDEN = [
    "\u00ad",  # soft hyphen
    "\u061c",  # Arabic letter mark
    "\u200b",  # zero-width space
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    *map(chr, range(0x202A, 0x202F)),  # embeddings, pop, overrides
    "\u2060",  # word joiner
    "\u2062",  # invisible times
    *map(chr, range(0x2066, 0x206A)),  # isolates
    "\ufeff",  # BOM
    "\U000e0041",  # tag letter A
]


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) == "Cf" and char not in SEEN_FORMAT


def holds_contract(
    data: bytes, filename: str, limits: ImportLimits = SMALL
) -> LetterboxdExport | None:
    """Import ``data``: sane films, or ``None`` after our own error with a one-line message.

    Any other exception propagates and fails the test.
    """
    try:
        export = read_export(data, filename, limits)
    except BoxdrecError as exc:
        message = str(exc)
        assert message.strip() == message and message, "an error must say something"
        assert "\n" not in message and len(message) < 500, message
        return None
    assert isinstance(export, LetterboxdExport) and export.films
    for film in export.films:
        assert isinstance(film.name, str) and film.name == film.name.strip() and film.name
        assert not any(_is_control(c) for c in film.name), repr(film.name)
        hidden = [c for c in REGION_FLAG.sub("", film.name) if _is_hidden(c)]
        assert not hidden, f"{hidden!r} hidden in {film.name!r}"
        assert film.rating is None or film.rating in STARS, film.rating
        assert film.year is None or 1800 <= film.year <= 2199, film.year
        assert isinstance(film.uri, str)
    return export


def error_of(data: bytes | str, filename: str = "export.zip", limits: ImportLimits = SMALL) -> str:
    """The message of the ExportError that importing ``data`` must raise."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(ExportError) as info:
        read_export(raw, filename, limits)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def assert_says(message: str, *words: str) -> None:
    """``message`` holds every one of ``words``: what is wrong and what to do."""
    missing = [w for w in words if w not in message]
    assert not missing, f"{missing} not in: {message}"


def peak_bytes(action: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``action`` returned or the BoxdrecError it raised, peak traced allocation)."""
    gc.collect()
    tracemalloc.start()
    try:
        outcome = action()
    except BoxdrecError as exc:
        outcome = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


def rows_csv(header: list[str], rows: list[list[str]], delimiter: str = ",", newline: str = "\n"):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# Property tests: random bytes, random titles, shuffled and extra columns

FILENAMES = st.one_of(
    st.sampled_from(["ratings.csv", "diary.csv", "watchlist.csv", "films.csv", "export.zip", ""]),
    st.text(max_size=40),
)
ZIPPED_EXPORT = make_zip(full_export())


@HYPOTHESIS
@given(
    data=st.one_of(
        st.binary(max_size=3000),
        st.binary(max_size=3000).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=3000).map(lambda b: RATINGS_HEADER.encode() + b"\n" + b),
        st.binary(max_size=3000).map(lambda b: codecs.BOM_UTF16_LE + b),
        st.binary(max_size=300).map(lambda b: ZIPPED_EXPORT[: len(ZIPPED_EXPORT) // 2] + b),
    ),
    filename=FILENAMES,
)
def test_random_bytes_return_films_or_our_error(data: bytes, filename: str) -> None:
    holds_contract(data, filename)


ODD_YEARS = ["", "0000", "0999", "9999", "¹⁹⁹⁵", "١٩٩٥", "1995.0", " 2001 ", "19 95", "-1995"]
ODD_RATINGS = ["", "0.5", "4", "5.0", "3,5", "0", "6", "nan", "inf", "1e999", "4.3", "٤", "½"]
REAL_NAMES = [
    "Amélie",
    "Dìdi (弟弟)",
    "Star Wars: Episode III –\u00a0Revenge of the Sith",
    "Monsters, Inc.",
    'Hello; "Goodbye"',
    "L’argent",
    "WALL·E",
    "8½",
    "AmÃ©lie",
    "Black Mirror: White Bear",
    "👨\u200d👩\u200d👧 Family",
    "می\u200cخواهم",
    "Braveheart 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
]


@st.composite
def hidden_in(draw: st.DrawFn, names: st.SearchStrategy[str]) -> str:
    """A name with hidden characters put anywhere in it, or made only of them."""
    name = list(draw(names))
    for char in draw(st.lists(st.sampled_from(HIDDEN), min_size=1, max_size=6)):
        name.insert(draw(st.integers(0, len(name))), char)
    return "".join(name)


# Random titles: any text, real names, and both with hidden characters (for _tidy_name).
TITLES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(REAL_NAMES),
    hidden_in(st.one_of(st.sampled_from(REAL_NAMES), st.text(max_size=20))),
)
SHORT_TITLES = st.one_of(
    st.text(max_size=20), st.sampled_from(REAL_NAMES), hidden_in(st.sampled_from(REAL_NAMES))
)

ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"])
DELIMITERS = st.sampled_from([",", ";", "\t"])
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])
DIARY_COLUMNS = ["Date", "Name", "Year", "Letterboxd URI", "Rating", "Watched Date"]


def _diary_bytes(rows: list[list[str]], encoding: str, delimiter: str, newline: str) -> bytes:
    records = [["2024-01-01", *row, "2024-01-02"] for row in rows]
    return rows_csv(DIARY_COLUMNS, records, delimiter, newline).encode(encoding, "replace")


@HYPOTHESIS
@given(
    names=st.lists(TITLES, max_size=10),
    encoding=ENCODINGS,
    delimiter=DELIMITERS,
    newline=NEWLINES,
    filename=st.sampled_from(["ratings.csv", "diary.csv", "watched.csv", "likes.csv"]),
)
def test_random_unicode_titles_become_clean_names(
    names: list[str], encoding: str, delimiter: str, newline: str, filename: str
) -> None:
    rows = [[name, "2001", f"https://boxd.it/{i}", "4.5"] for i, name in enumerate(names)]
    holds_contract(_diary_bytes(rows, encoding, delimiter, newline), filename)


@HYPOTHESIS
@given(
    rows=st.lists(
        st.tuples(
            SHORT_TITLES,
            st.one_of(
                st.integers(1800, 2199).map(str), st.sampled_from(ODD_YEARS), st.text(max_size=6)
            ),
            st.text(max_size=30),
            st.one_of(st.sampled_from(ODD_RATINGS), st.text(max_size=5)),
        ).map(list),
        max_size=4,
    ),
    encoding=ENCODINGS,
    delimiter=DELIMITERS,
    newline=NEWLINES,
)
def test_random_cells_return_sane_films_or_our_error(
    rows: list[list[str]], encoding: str, delimiter: str, newline: str
) -> None:
    holds_contract(_diary_bytes(rows, encoding, delimiter, newline), "ratings.csv")


SPELLINGS = {
    "Date": ["Date", "date"],
    "Name": ["Name", "NAME", " name "],
    "Year": ["Year", "year"],
    "Letterboxd URI": ["Letterboxd URI", "letterboxd_uri", "URL", "Letterboxd-URI"],
    "Rating": ["Rating", "RATING "],
}
ASCII_NAMES = st.text(alphabet=string.ascii_letters + string.digits + " ,;'\"!?&()-.:", max_size=30)


@HYPOTHESIS
@given(
    films=st.lists(
        st.tuples(
            st.one_of(st.sampled_from(REAL_NAMES[:8]), ASCII_NAMES.map(str.strip).filter(bool)),
            st.one_of(st.none(), st.integers(1874, 2115)),
            st.one_of(st.none(), st.sampled_from(sorted(STARS))),
        ),
        min_size=1,
        max_size=15,
    ),
    spellings=st.fixed_dictionaries({k: st.sampled_from(v) for k, v in SPELLINGS.items()}),
    extras=st.lists(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8), max_size=4),
    order=st.randoms(use_true_random=False),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_shuffled_and_extra_columns_keep_every_film(
    films: list[tuple[str, int | None, float | None]],
    spellings: dict[str, str],
    extras: list[str],
    order: Any,
    delimiter: str,
) -> None:
    expected = tuple(
        ExportFilm(name, year, f"https://boxd.it/f{i}", rating)
        for i, (name, year, rating) in enumerate(films)
    )
    columns = [*spellings, *(f"Extra {e}" for e in extras)]
    order.shuffle(columns)
    rows = []
    for film in expected:
        cells = {
            "Date": "2024-01-01",
            "Name": film.name,
            "Year": "" if film.year is None else str(film.year),
            "Letterboxd URI": film.uri,
            "Rating": "" if film.rating is None else str(film.rating),
        }
        rows.append([cells.get(c, "extra value") for c in columns])
    text = rows_csv([spellings.get(c, c) for c in columns], rows, delimiter)
    export = holds_contract(text.encode("utf-8"), "ratings.csv")
    assert export is not None and export.films == expected


# --------------------------------------------------------------------------------------------
# Huge fields, many rows, names and years no export holds


@pytest.mark.parametrize("column", ["Letterboxd URI", "Extra"])
def test_huge_field_under_the_csv_field_limit_is_read(column: str) -> None:
    huge = "é" * 100_000
    cells = {"Date": "2024-01-01", "Name": "Heat", "Year": "1995", "Letterboxd URI": "u"}
    cells[column] = huge
    header = [*cells, "Rating"]
    text = rows_csv(header, [[*cells.values(), "4"]])
    (film,) = holds_contract(text.encode("utf-8"), "ratings.csv", DEFAULTS).films
    assert huge in (film.name, film.uri) or column == "Extra"


@pytest.mark.parametrize(
    ("column", "words"),
    [
        ("Rating", ['ratings.csv, row 2 ("Heat"): rating "ééé', "is not a number of stars"]),
        ("Year", ['ratings.csv, row 2 ("Heat"): year "ééé', "is not a four-digit year"]),
    ],
)
def test_huge_field_in_a_checked_column_is_refused_with_a_short_message(
    column: str, words: list[str]
) -> None:
    cells = {"Date": "2024-01-01", "Name": "Heat", "Year": "1995", "Letterboxd URI": "u"}
    cells["Rating"] = "4"
    cells[column] = "é" * 100_000
    message = error_of(rows_csv([*cells], [[*cells.values()]]), "ratings.csv", DEFAULTS)
    assert_says(message, *words, "upload again")
    assert len(message) < 300


def test_field_over_the_csv_field_limit_is_refused() -> None:
    text = RATINGS_HEADER + "\n2024-01-01,Heat,1995,https://boxd.it/" + "a" * 200_000 + ",4\n"
    assert_says(
        error_of(text, "ratings.csv", DEFAULTS),
        "ratings.csv is not a readable CSV file (line 2",
        "field larger than field limit",
        "Upload the file as Letterboxd made it, or save it again as CSV.",
    )


def test_hundred_thousand_rows_stop_at_the_default_row_limit() -> None:
    rows = [f"2024-01-01,Film {i},2000,https://boxd.it/f{i},4" for i in range(100_000)]
    data = csv_text(RATINGS_HEADER, *rows).encode()
    assert len(data) < DEFAULTS.max_upload_bytes and DEFAULTS.max_rows == 50_000
    started = time.perf_counter()
    message = error_of(data, "ratings.csv", DEFAULTS)
    assert time.perf_counter() - started < 5
    assert message == (
        "ratings.csv has more than 50,000 film rows, the limit for one file. Upload your own "
        "Letterboxd export, or ask the bot's admin to raise BOXDREC_MAX_ROWS."
    )
    # The same file inside the export zip stops at the same limit.
    zipped = make_zip({"ratings.csv": data, "watched.csv": WATCHED_HEADER + "\n"})
    assert error_of(zipped, "export.zip", DEFAULTS) == message
    # At the limit it is read whole.
    at_limit = csv_text(RATINGS_HEADER, *rows[:50_000]).encode()
    assert len(read_export(at_limit, "ratings.csv", DEFAULTS).films) == 50_000


def test_millions_of_blank_rows_are_refused_quickly() -> None:
    data = (RATINGS_HEADER + "\n" + ",,,,\n" * 1_500_000).encode()  # 7.5 MB, under the limit
    started = time.perf_counter()
    message = error_of(data, "ratings.csv", DEFAULTS)
    assert time.perf_counter() - started < 3
    assert_says(
        message,
        "ratings.csv has more than 50,000 rows without a film name",
        "Upload the file as Letterboxd made it, or delete the empty rows",
    )


def test_line_of_a_million_columns_is_refused_within_memory() -> None:
    data = (RATINGS_HEADER + "\n2024-01-01,Heat" + "," * 9_000_000 + "\n").encode()
    outcome, peak = peak_bytes(lambda: read_export(data, "ratings.csv", DEFAULTS))
    assert isinstance(outcome, ExportError)
    assert_says(
        str(outcome),
        "ratings.csv, line 2 has more than 20,000 columns, so it is not a Letterboxd export",
        "Upload ratings.csv or the whole export zip",
    )
    assert peak < 4 * len(data), f"{peak:,} bytes traced for a {len(data):,}-byte upload"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('"Heat\r\nPart 2"', "Heat Part 2"),
        ('"Heat\tPart\x0b2\x0c"', "Heat Part 2"),
        ('"Amélie\u2028Poulain\u2029"', "Amélie Poulain"),
        ('"A\x85B"', "A…B"),  # C1 NEL from cp1252 re-saves: ftfy reads it as its cp1252 "…"
    ],
)
def test_control_characters_and_line_breaks_leave_names(raw: str, clean: str) -> None:
    export = holds_contract(
        f"{RATINGS_HEADER}\n2024-01-01,{raw},1995,u,4\n".encode(), "ratings.csv"
    )
    assert export is not None and [f.name for f in export.films] == [clean]


def test_name_of_only_line_breaks_is_a_blank_row() -> None:
    text = f'{RATINGS_HEADER}\n2024-01-01,"\r\n\u2028",1995,u,4\n2024-01-01,Heat,1995,u2,4\n'
    assert [f.name for f in read_export(text.encode(), "ratings.csv", SMALL).films] == ["Heat"]


@pytest.mark.parametrize("year", ["0000", "1066", "1799.0", "9999"])
def test_years_no_film_has_are_read_as_unknown(year: str) -> None:
    text = f"{RATINGS_HEADER}\n2024-01-01,Heat,{year},u,4\n"
    assert read_export(text.encode(), "ratings.csv", SMALL).films == (
        ExportFilm("Heat", None, "u", 4),
    )


def test_year_in_superscript_digits_is_refused() -> None:
    message = error_of(f"{RATINGS_HEADER}\n2024-01-01,Heat,¹⁹⁹⁵,u,4\n", "ratings.csv")
    assert message == (
        'ratings.csv, row 2 ("Heat"): year "¹⁹⁹⁵" is not a four-digit year. '
        "Fix or clear the year and upload again."
    )


def test_years_in_other_digits_are_read() -> None:
    export = read_export(f"{RATINGS_HEADER}\n2024-01-01,Heat,١٩٩٥,u,4\n".encode(), "r.csv", SMALL)
    assert export.films[0].year == 1995


def test_many_films_of_one_name_merge_in_linear_time() -> None:
    # Same name and year, without a URI or each with its own: every row used to be compared
    # with every earlier film of that name (12,000 of each took 8 s; now milliseconds).
    def rows(uri: Callable[[int], str]) -> tuple[_Row, ...]:
        return tuple(_Row(i + 2, "X", "x", 2000, uri(i), 4.0, "", "") for i in range(12_000))

    files = [
        _CsvFile("ratings.csv", FileKind.RATINGS, rows(lambda i: "")),
        _CsvFile("watched.csv", FileKind.WATCHED, rows(lambda i: f"https://boxd.it/{i}")),
        _CsvFile("likes/films.csv", FileKind.LIKES, rows(lambda i: "")),
    ]
    started = time.perf_counter()
    export = _merge(files)
    assert time.perf_counter() - started < 3
    assert len(export.films) == 24_000  # likes rows fit several films: skipped


# --------------------------------------------------------------------------------------------
# Encodings and spreadsheet re-saves of real exports


def _resave(text: str, delimiter: str, quoting: int = csv.QUOTE_MINIMAL, comma: bool = False):
    """``text`` as a spreadsheet writes it back: its delimiter, quoting, CRLF, decimal commas."""
    records = list(csv.reader(io.StringIO(text, newline="")))
    rating = records[0].index("Rating")
    if comma:
        for record in records[1:]:
            record[rating] = record[rating].replace(".", ",")
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator="\r\n").writerows(
        records
    )
    return buffer.getvalue()


RESAVES: dict[str, Callable[[str], bytes]] = {
    "excel-unicode-text": lambda t: _resave(t, "\t").encode("utf-16"),
    "utf-16-le-bom": lambda t: codecs.BOM_UTF16_LE + _resave(t, ",").encode("utf-16-le"),
    "utf-16-be-bom": lambda t: codecs.BOM_UTF16_BE + _resave(t, ",").encode("utf-16-be"),
    "libreoffice-semicolon-quoted-bom": lambda t: (
        codecs.BOM_UTF8 + _resave(t, ";", csv.QUOTE_ALL).encode("utf-8")
    ),
    "excel-europe-cp1252": lambda t: _resave(t, ";", comma=True).encode("cp1252"),
    "utf-8-read-as-cp1252": lambda t: t.encode().decode("sloppy-windows-1252").encode(),
}


REAL_FILES = [
    "ratings_small_crlf.csv",
    "ratings_2017_slug_uris_crlf.csv",
    "ratings_2026_spanish.csv",
]
CP1252_ONLY = {"excel-europe-cp1252"}  # the Spanish export holds "ō", which cp1252 cannot


@pytest.mark.parametrize(
    ("name", "style"),
    [(n, s) for n in REAL_FILES for s in RESAVES if not (s in CP1252_ONLY and "spanish" in n)],
)
def test_spreadsheet_resaves_of_real_exports_read_the_same(
    letterboxd_dir: Path, name: str, style: str
) -> None:
    path = letterboxd_dir / "real" / name
    original = read_export_file(path, DEFAULTS)
    data = RESAVES[style](path.read_bytes().decode("utf-8-sig"))
    assert read_export(data, name, DEFAULTS).films == original.films


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (VALID_RATINGS.encode("utf-16")[:-1], ["UTF-16 encoding is broken", "Save it again"]),
        (codecs.BOM_UTF16_LE + "\ud800".encode("utf-16-le", "surrogatepass"), ["UTF-16"]),
        (VALID_RATINGS.encode("utf-32-le"), ["holds binary data", "Upload ratings.csv"]),
        (codecs.BOM_UTF32_LE + b"abc", ["UTF-32 encoding is broken", "Save it again as CSV"]),
        (codecs.BOM_UTF32_BE, ["is empty", "Upload ratings.csv or the whole export zip"]),
    ],
    ids=["utf-16-odd", "utf-16-lone-surrogate", "utf-32-no-bom", "utf-32-broken", "bom-only"],
)
def test_broken_unicode_files_are_refused(data: bytes, words: list[str]) -> None:
    assert_says(error_of(data, "ratings.csv"), "ratings.csv", *words)


def test_cp1252_undefined_bytes_still_read() -> None:
    data = f"{RATINGS_HEADER}\n2024-01-01,Caf\x81\x8d\x8f\x90\x9d Film,1995,u,4\n".encode("latin-1")
    export = holds_contract(data, "ratings.csv")
    assert export is not None and export.films[0].name.startswith("Caf")


# --------------------------------------------------------------------------------------------
# Zip bombs: one huge member, lying headers, many members, odd compressions


def test_gigabyte_of_zeros_is_refused_from_its_header() -> None:
    bomb = raw_zip([Member("ratings.csv", zero_bomb(), method=8, file_size=GIB)])
    assert len(bomb) < 2 * 1024 * 1024 < DEFAULTS.max_upload_bytes  # a ratio above 1000:1
    outcome, peak = peak_bytes(lambda: read_export(bomb, "export.zip", DEFAULTS))
    assert isinstance(outcome, ExportError)
    assert str(outcome) == (
        "export.zip would unpack to more than 32 MB, the limit (a Letterboxd export of 10,000 "
        f"films is about 1 MB). {ZIP_HINT} (Settings → Data → Export your data), or just its "
        "ratings.csv."
    )
    assert peak < 256 * 1024


def test_gigabyte_of_zeros_under_a_lying_header_stops_at_the_limit() -> None:
    limits = ImportLimits(max_uncompressed_bytes=2 * 1024 * 1024)
    budget = limits.max_uncompressed_bytes
    head = RATINGS_HEADER.encode() + b"\n"
    bomb = raw_zip([Member("ratings.csv", zero_bomb(head=head), method=8, file_size=budget - 1)])
    outcome, peak = peak_bytes(lambda: read_export(bomb, "export.zip", limits))
    assert isinstance(outcome, ExportError)
    assert_says(str(outcome), "export.zip is not a readable zip file", "Download your export again")
    assert peak < budget + 512 * 1024, f"{peak:,} bytes traced for a {budget:,}-byte limit"


def test_lying_header_with_the_right_checksum_reads_only_what_it_claims() -> None:
    content = VALID_RATINGS.encode()
    payload = zero_bomb(head=content)
    member = Member("ratings.csv", payload, 8, file_size=len(content), crc=zlib.crc32(content))
    data = raw_zip([member])
    outcome, peak = peak_bytes(lambda: read_export(data, "export.zip", DEFAULTS))
    assert isinstance(outcome, LetterboxdExport) and outcome.films == HEAT
    assert peak < 512 * 1024


def test_members_that_together_pass_the_limit_are_refused() -> None:
    third = " " * (SMALL.max_uncompressed_bytes // 3 + 1)
    members = {
        "ratings.csv": VALID_RATINGS + third,
        "watched.csv": WATCHED_HEADER + "\n" + third,
        "diary.csv": "Date,Name,Year,Letterboxd URI\n" + third,
    }
    assert_says(
        error_of(make_zip(members)),
        "export.zip would unpack to more than 0.4 MB, the limit",
        ZIP_HINT,
    )


def test_hundred_thousand_members_are_refused_before_they_are_listed() -> None:
    members = [Member(f"{i:x}") for i in range(100_000)]
    data = raw_zip([deflated("ratings.csv", VALID_RATINGS.encode()), *members])
    assert len(data) < DEFAULTS.max_upload_bytes
    started = time.perf_counter()
    outcome, peak = peak_bytes(lambda: read_export(data, "export.zip", DEFAULTS))
    assert time.perf_counter() - started < 2
    assert isinstance(outcome, ExportError)
    assert str(outcome).startswith("export.zip holds 100,001 files, more than the 2,000 allowed.")
    assert_says(str(outcome), ZIP_HINT)
    assert peak < 256 * 1024


@pytest.mark.parametrize(
    ("method", "label"), [(BZIP2, "bzip2"), (LZMA, "LZMA"), (9, "Deflate64"), (77, "method 77")]
)
def test_compressions_letterboxd_never_uses_are_refused_before_reading(
    method: int, label: str
) -> None:
    # bzip2 and LZMA inflate a whole compressed chunk at once: 113 bytes of bzip2 are 100 MB.
    buffer = io.BytesIO()
    if method in (BZIP2, LZMA):
        with zipfile.ZipFile(buffer, "w", compression=method) as zf:
            zf.writestr("ratings.csv", VALID_RATINGS.encode() + bytes(10 * 1024 * 1024))
        data = _claim_size(buffer.getvalue(), 100)
    else:
        data = raw_zip([Member("ratings.csv", b"\x00" * 64, method=method, file_size=100)])
    outcome, peak = peak_bytes(lambda: read_export(data, "export.zip", DEFAULTS))
    assert isinstance(outcome, ExportError)
    assert str(outcome) == (
        f"export.zip compresses ratings.csv with {label}, which Letterboxd never uses. "
        f"{ZIP_HINT} (Settings → Data → Export your data), or just its ratings.csv."
    )
    assert peak < 256 * 1024


def _claim_size(zip_bytes: bytes, size: int) -> bytes:
    """The zip with every member's uncompressed size in both headers set to ``size``."""
    data = bytearray(zip_bytes)
    for signature, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        position = data.find(signature)
        data[position + at : position + at + 4] = size.to_bytes(4, "little")
    return bytes(data)


def test_odd_compression_of_a_file_never_read_is_ignored() -> None:
    members = [
        deflated("ratings.csv", VALID_RATINGS.encode()),
        Member("lists/x.csv", b"\x00" * 64, method=BZIP2, file_size=10**9),
    ]
    assert read_export(raw_zip(members), "export.zip", SMALL).films == HEAT


# --------------------------------------------------------------------------------------------
# Nested zips, paths leaving the folder, links, encryption


def test_zip_inside_the_zip_says_so_and_what_to_upload() -> None:
    inner = make_zip(full_export("letterboxd-user-2026-01-01-12-00-utc/"))
    for outer_members in (
        {"letterboxd-user-2026-01-01-12-00-utc.zip": inner},
        {"Downloads/letterboxd-user-2026-01-01-12-00-utc.zip": make_zip({"again.zip": inner})},
    ):
        message = error_of(make_zip(outer_members))
        assert_says(
            message,
            "export.zip holds a zip inside the zip",
            "letterboxd-user-2026-01-01-12-00-utc.zip",
            "no ratings.csv, watched.csv or diary.csv of its own",
            "upload the export zip itself, or just its ratings.csv",
        )


def test_zip_inside_a_real_export_is_never_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    members = full_export()
    members["nested.zip"] = make_zip({"ratings.csv": csv_text(RATINGS_HEADER, "x,Nested,2000,y,5")})
    data = make_zip(members)
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    export = read_export(data, "export.zip", SMALL)
    assert "Nested" not in {f.name for f in export.films}
    assert not any(name.endswith(".zip") for name in opened)


@pytest.mark.parametrize(
    "path",
    [
        "../ratings.csv",
        "..\\..\\ratings.csv",
        "export/../../ratings.csv",
        "/etc/ratings.csv",
        "\\\\server\\share\\ratings.csv",
        "//server/share/ratings.csv",
        "C:\\Users\\x\\ratings.csv",
        "c:ratings.csv",
        "lists/../../../home/x/.ssh/authorized_keys",
    ],
)
def test_paths_leaving_the_folder_are_refused(path: str) -> None:
    data = raw_zip([deflated("ratings.csv", VALID_RATINGS.encode()), Member(path, b"x")])
    assert_says(
        error_of(data),
        "export.zip holds a file whose path leaves its folder",
        "so Letterboxd did not make it and it will not be opened",
        ZIP_HINT,
    )


@pytest.mark.parametrize(
    "member",
    [
        link("ratings.csv"),
        link("lists/favourites.csv", "../../../../etc/shadow"),
        Member("ratings.csv", b"", mode=stat.S_IFIFO | 0o644),
        Member("diary.csv", b"", mode=stat.S_IFCHR | 0o644),
    ],
    ids=["link-as-ratings", "link-elsewhere", "pipe", "device"],
)
def test_links_and_special_files_are_refused_unread(
    member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [member, deflated("watched.csv", csv_text(WATCHED_HEADER, "x,Heat,1995,u").encode())]

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", never)
    message = error_of(raw_zip(members))
    assert_says(
        message,
        f'export.zip holds a link or special file ("{member.name}"), not a plain file',
        "will not be opened",
        ZIP_HINT,
    )


def test_plain_files_and_folders_with_unix_modes_are_read() -> None:
    members = [
        Member("export/", mode=stat.S_IFDIR | 0o755),
        deflated("export/ratings.csv", VALID_RATINGS.encode()),
    ]
    members[1] = dataclasses.replace(members[1], mode=stat.S_IFREG | 0o644)
    assert read_export(raw_zip(members), "export.zip", SMALL).films == HEAT


@pytest.mark.parametrize(
    "member",
    [
        Member("ratings.csv", b"\x8f" * 60, flags=0x1),  # ZipCrypto
        Member("ratings.csv", b"\x8f" * 60, method=99, flags=0x1),  # WinZip AES
        Member("ratings.csv", b"\x8f" * 60, method=STORED, flags=0x41),  # strong encryption
    ],
    ids=["zipcrypto", "aes", "strong"],
)
def test_encrypted_zips_are_refused(member: Member) -> None:
    assert error_of(raw_zip([member])) == (
        "export.zip is password-protected (ratings.csv is encrypted). Upload the zip as "
        "Letterboxd made it, without a password, or just its ratings.csv."
    )


def test_encrypted_file_never_read_is_ignored() -> None:
    members = [
        deflated("ratings.csv", VALID_RATINGS.encode()),
        Member("profile.csv", b"\x8f" * 60, flags=0x1),
    ]
    assert read_export(raw_zip(members), "export.zip", SMALL).films == HEAT


EXPORT_MEMBERS = ["ratings.csv", "watched.csv", "diary.csv", "watchlist.csv", "likes/films.csv"]
OTHER_MEMBERS = [
    "user/ratings.csv",
    "profile.csv",
    "lists/a.csv",
    "deleted/ratings.csv",
    "inner.zip",
]
MEMBER_NAMES = st.sampled_from([*EXPORT_MEMBERS, *OTHER_MEMBERS, "../x", "/abs", "a/"])
MEMBER_CONTENT = st.one_of(
    st.just(VALID_RATINGS.encode()),
    st.just(make_zip({"ratings.csv": VALID_RATINGS})),
    st.binary(max_size=200),
    st.integers(0, 5000).map(bytes),
)


@st.composite
def hostile_members(draw: st.DrawFn) -> Member:
    name, content = draw(MEMBER_NAMES), draw(MEMBER_CONTENT)
    return draw(
        st.sampled_from(
            [
                deflated(name, content),
                Member(name, content),
                deflated(name, content, file_size=draw(st.integers(0, 2**32 - 1))),
                deflated(name, content, crc=draw(st.integers(0, 2**32 - 1))),
                Member(name, content, flags=0x1),
                Member(name, content, method=draw(st.sampled_from([BZIP2, LZMA, 9, 99, 3]))),
                link(name),
            ]
        )
    )


@HYPOTHESIS
@given(members=st.lists(hostile_members(), max_size=6), filename=FILENAMES)
def test_random_hostile_zips_return_films_or_our_error(
    members: list[Member], filename: str
) -> None:
    holds_contract(raw_zip(members), filename)


# --------------------------------------------------------------------------------------------
# Nothing a user sends is ever unpickled

# Calls that can run code while loading, by the module they come from.
UNPICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal"}
UNPICKLING_NAMES = {"read_pickle", "Unpickler"}
SAFE_ONLY = {  # loaders that are safe only with this keyword set to this value
    ("np", "load"): ("allow_pickle", False),
    ("numpy", "load"): ("allow_pickle", False),
    ("torch", "load"): ("weights_only", True),
}


def unpickling_calls(source: str, filename: str) -> list[str]:
    """Every place in ``source`` that could unpickle: imports and calls, with line numbers."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [
                f"{where} import {a.name}" for a in node.names if a.name in UNPICKLING_MODULES
            ]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = {a.name for a in node.names}
            if module.split(".")[0] in UNPICKLING_MODULES | {"joblib"} or names & UNPICKLING_NAMES:
                found.append(f"{where} from {module} import {', '.join(sorted(names))}")
            elif module in ("numpy", "torch") and "load" in names:
                found.append(f"{where} from {module} import load")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else ""
                loader = func.attr in ("load", "loads") and owner in UNPICKLING_MODULES | {"joblib"}
                if func.attr in UNPICKLING_NAMES or loader:
                    found.append(f"{where} {owner}.{func.attr}()")
                rule = SAFE_ONLY.get((owner, func.attr))
                if rule and not any(
                    k.arg == rule[0]
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is rule[1]
                    for k in node.keywords
                ):
                    found.append(f"{where} {owner}.{func.attr}() without {rule[0]}={rule[1]}")
    return found


def test_the_scanner_finds_every_kind_of_unpickling() -> None:
    sample = (
        "import pickle\nfrom joblib import load\nimport numpy as np\nimport pandas as pd\n"
        "pickle.loads(b'')\nnp.load('a.npy')\nnp.load('a.npy', allow_pickle=True)\n"
        "pd.read_pickle('a')\njoblib.load('m')\ntorch.load('m')\n"
        "np.load('a.npy', allow_pickle=False)\ntorch.load('m', weights_only=True)\n"
    )
    assert len(unpickling_calls(sample, "sample.py")) == 8


def test_no_code_reads_pickles() -> None:
    files = sorted((REPO / "recommender").rglob("*.py")) + sorted((REPO / "bot").rglob("*.py"))
    assert len(files) > 20
    found = [
        hit for f in files for hit in unpickling_calls(f.read_text(), str(f.relative_to(REPO)))
    ]
    assert found == []
    # The model loader is scanned too, and loads its arrays with allow_pickle=False.
    assert "allow_pickle=False" in (REPO / "recommender" / "model_store.py").read_text()


_RAN: list[str] = []


def _mark_ran() -> None:
    _RAN.append("code from the upload ran")


class _Payload:
    def __reduce__(self) -> tuple[Callable[[], None], tuple[()]]:
        return _mark_ran, ()


def test_uploaded_pickles_are_refused_and_never_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = pickle.dumps(_Payload())

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the importer unpickled an upload")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    uploads = [
        (payload, "ratings.csv"),
        (payload, "model.pkl"),
        (make_zip({"ratings.csv": payload}), "export.zip"),
        (make_zip({"ratings.csv": VALID_RATINGS, "ratings.pkl": payload}), "export.zip"),
    ]
    for data, filename in uploads:
        holds_contract(data, filename)
    assert _RAN == []

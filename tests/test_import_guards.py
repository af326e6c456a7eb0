"""The importer's guards against uploads no Letterboxd export looks like: compression ratio,
the memory budget of one import, the limits' own values, absurd names (also once NFKC writes
them out), unclosed quotes, hidden characters and stacked combining marks. Each either cleans the
name or refuses with a message saying what to do; none lets an upload cost more than its limits.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import re
import sys
import tracemalloc
import unicodedata
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from lb_factories import (
    DIARY_HEADER,
    RATINGS_HEADER,
    WATCHED_HEADER,
    csv_text,
    full_export,
    make_zip,
)

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.export import LetterboxdExport
from recommender.letterboxd import csv_files, read_export, zip_files
from recommender.letterboxd.csv_files import _byte_line_count, _line_count, _parse_csv
from recommender.letterboxd.messages import _over
from recommender.letterboxd.values import _HIDDEN
from recommender.titles import fold, split_parts, title_parts

DEFAULTS = ImportLimits()
ZIP_HINT = "Upload the zip exactly as Letterboxd made it"


def names_of(text: str, limits: ImportLimits = DEFAULTS) -> list[str]:
    return [film.name for film in read_export(text.encode("utf-8"), "ratings.csv", limits).films]


def refusal(data: bytes, filename: str, limits: ImportLimits | None = DEFAULTS) -> str:
    with pytest.raises(ExportError) as info:
        read_export(data, filename, limits)
    return str(info.value)


def repeated_rows(count: int) -> str:
    return csv_text(RATINGS_HEADER, *[f"2024-01-01,Heat,1995,https://boxd.it/aaa8,{4}"] * count)


# --------------------------------------------------------------------------------------------
# Compression ratio


def test_member_packed_more_than_the_ratio_limit_is_refused() -> None:
    text = repeated_rows(120_000)  # 4.5 MB of one line: deflate packs it ~300:1
    data = make_zip({"ratings.csv": text})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("ratings.csv")
        assert info.file_size / info.compress_size > 100
    # The absolute limit is not what stops it.
    assert info.file_size < DEFAULTS.max_uncompressed_bytes
    assert refusal(data, "export.zip") == (
        "export.zip unpacks ratings.csv to more than 100 times its packed size, the limit; "
        f"Letterboxd exports pack only 4 to 15 times, so this is not one. {ZIP_HINT} "
        "(Settings → Data → Export your data), or just its ratings.csv."
    )


def test_small_member_that_packs_well_is_read_below_the_ratio_threshold() -> None:
    text = repeated_rows(20_000)  # 0.75 MB: under the 1 MiB a member unpacks before the check
    data = make_zip({"ratings.csv": text})
    export = read_export(data, "export.zip", DEFAULTS)
    assert [(f.name, f.year, f.rating) for f in export.films] == [("Heat", 1995, 4.0)]


def test_ratio_limit_is_a_setting() -> None:
    data = make_zip({"ratings.csv": repeated_rows(120_000)})
    lenient = ImportLimits(max_compression_ratio=100_000, max_rows=200_000)
    assert [f.name for f in read_export(data, "export.zip", lenient).films] == ["Heat"]


# --------------------------------------------------------------------------------------------
# Memory budget of one import

MIB = 1024 * 1024
MEMORY_HINT = (
    "(a Letterboxd export needs a few MB). Upload your own Letterboxd export, or ask the bot's "
    "admin to raise BOXDREC_MAX_IMPORT_MEMORY_BYTES."
)
SHOWN_SIZES = re.compile(r"about ([\d.]+) MB of memory, more than the ([\d.]+) MB limit")


def memory_limits(memory: int) -> ImportLimits:
    """Limits where only the memory limit can bind."""
    return ImportLimits(
        max_upload_bytes=64 * MIB,
        max_uncompressed_bytes=64 * MIB,
        max_rows=1_000_000,
        max_compression_ratio=1_000_000,
        max_import_memory_bytes=memory,
    )


def peak_of(action: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``action`` returned or the ExportError it raised, peak traced allocation)."""
    gc.collect()
    tracemalloc.start()
    try:
        try:
            outcome = action()
        except ExportError as exc:
            outcome = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome, peak


def tightest_memory_limit(data: bytes, filename: str) -> int:
    """The smallest memory limit, within 2%, under which ``data`` is read: every limit tried
    below it is refused as too big to read, nothing else."""
    low, high = len(data), 256 * MIB
    read_export(data, filename, memory_limits(high))
    while high - low > high // 50:
        middle = (low + high) // 2
        try:
            read_export(data, filename, memory_limits(middle))
            high = middle
        except ExportError as exc:
            assert "is too big to read" in str(exc), str(exc)
            low = middle
    return high


def film_rows(name: str, count: int, rated: bool = True) -> list[str]:
    end = ",4" if rated else ""
    return [f"2024-01-01,{name} {i},1995,https://boxd.it/x{i}{end}" for i in range(count)]


def four_files(name: str, count: int) -> dict[str, str]:
    """ratings.csv, watched.csv, diary.csv and watchlist.csv of the same ``count`` films."""
    watched = csv_text(WATCHED_HEADER, *film_rows(name, count, rated=False))
    diary = [
        f"2024-01-01,{name} {i},1995,https://boxd.it/d{i},4,,,2024-01-02" for i in range(count)
    ]
    return {
        "ratings.csv": csv_text(RATINGS_HEADER, *film_rows(name, count)),
        "watched.csv": watched,
        "diary.csv": csv_text(DIARY_HEADER, *diary),
        "watchlist.csv": watched,
    }


MEMORY_CASES: dict[str, tuple[bytes, str, int]] = {
    # (upload, its name, films it holds): names of 1, 2 and 4 bytes a character once decoded
    "ascii": (csv_text(RATINGS_HEADER, *film_rows("Heat", 10_000)).encode(), "ratings.csv", 10_000),
    "cjk": (
        csv_text(RATINGS_HEADER, *film_rows("海上花" * 30, 3_000)).encode(),
        "ratings.csv",
        3_000,
    ),
    "emoji": (
        csv_text(RATINGS_HEADER, *film_rows("🎬" * 200, 1_000)).encode(),
        "ratings.csv",
        1_000,
    ),
    "utf-16-cjk": (
        csv_text(RATINGS_HEADER, *film_rows("海上花" * 30, 3_000)).encode("utf-16"),
        "ratings.csv",
        3_000,
    ),
    "zip-of-four-files": (make_zip(four_files("Heat", 2_500)), "export.zip", 2_500),
    "zip-of-four-files-emoji": (make_zip(four_files("🎬" * 100, 600)), "export.zip", 600),
}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_peak_memory_of_an_import_stays_under_the_configured_limit(case: str) -> None:
    data, filename, films = MEMORY_CASES[case]
    limit = tightest_memory_limit(data, filename)
    # Read under the tightest limit that reads it: every film, within the limit. The upload
    # itself was allocated before tracing, and the limit counts it too.
    export, peak = peak_of(lambda: read_export(data, filename, memory_limits(limit)))
    assert isinstance(export, LetterboxdExport) and len(export.films) == films
    assert peak + len(data) < limit, f"{(peak + len(data)) / MIB:.1f} MiB, limit {limit / MIB:.1f}"
    # Just under it: refused, and within that limit too.
    lower = limit * 97 // 100
    refused, peak = peak_of(lambda: read_export(data, filename, memory_limits(lower)))
    assert isinstance(refused, ExportError)
    assert "is too big to read" in str(refused) and str(refused).endswith(MEMORY_HINT)
    assert peak + len(data) < lower


def test_file_that_would_need_more_memory_than_the_limit_is_refused_before_parsing() -> None:
    rows = [f"2024-01-01,Film number {n},1995,https://boxd.it/{n},4" for n in range(20_000)]
    data = csv_text(RATINGS_HEADER, *rows).encode("utf-8")
    tight = ImportLimits(max_import_memory_bytes=8 * 1024 * 1024)
    message = refusal(data, "ratings.csv", tight)
    assert message.startswith("ratings.csv is too big to read: its text and films would take about")
    assert message.endswith(f"of memory, more than the 8.0 MB limit {MEMORY_HINT}")
    # The same file is read under the default budget.
    assert len(read_export(data, "ratings.csv", DEFAULTS).films) == 20_000


def test_names_nfkc_makes_longer_count_against_the_memory_limit() -> None:
    # "½" becomes "1⁄2" for matching: 1,000 keys of 403 characters are held besides the text.
    # "é" takes the same bytes and does not grow, so the estimate made before parsing is the
    # same for both files: only the keys NFKC made longer tell them apart.
    rows = [f"2024-01-01,½{'海' * 400}{i},1995,https://boxd.it/{i},4" for i in range(1_000)]
    growing = csv_text(RATINGS_HEADER, *rows).encode()
    steady = growing.replace("½".encode(), "é".encode())
    assert len(steady) == len(growing)
    limit = tightest_memory_limit(steady, "ratings.csv")
    assert len(read_export(steady, "ratings.csv", memory_limits(limit)).films) == 1_000
    assert len(read_export(growing, "ratings.csv", DEFAULTS).films) == 1_000

    message = refusal(growing, "ratings.csv", memory_limits(limit))
    assert message.startswith("ratings.csv is too big to read: its text and films would take about")
    assert message.endswith(f"{MEMORY_HINT}")
    need, shown_limit = map(float, SHOWN_SIZES.findall(message)[0])
    assert need > shown_limit and abs(shown_limit - limit / MIB) < 0.05


def stored_zip(members: dict[str, str]) -> bytes:
    return make_zip(members, compression=zipfile.ZIP_STORED)


def test_zip_whose_files_would_not_fit_beside_it_names_the_zip_and_real_sizes() -> None:
    # Once held, the upload leaves less memory than its files unpack to: the message gives what
    # they need in all, never what is left (it used to say "more than -0.0 MB").
    text = csv_text(RATINGS_HEADER, *film_rows("Heat", 30_000))
    data = stored_zip({"ratings.csv": text})
    limits = memory_limits(2 * MIB)
    assert len(data) < limits.max_import_memory_bytes < len(data) + len(text)
    need = len(data) + len(text.encode())
    assert refusal(data, "export.zip", limits) == (
        f"export.zip is too big to read: its files and their films would take about "
        f"{need / MIB:.1f} MB of memory, more than the 2.0 MB limit {MEMORY_HINT}"
    )


def test_zip_bigger_than_the_memory_limit_shows_no_negative_size() -> None:
    data = make_zip(full_export())
    message = refusal(data, "export.zip", ImportLimits(max_import_memory_bytes=len(data) // 2))
    assert message.startswith("export.zip is too big to read: its files and their films would")
    assert message.endswith(MEMORY_HINT)
    need, limit = map(float, SHOWN_SIZES.findall(message)[0])
    assert need > limit > 0
    assert "-" not in message.replace("--", "")


def test_zip_budget_stops_streamed_files_at_the_memory_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pretend the declared sizes said nothing: the streamed bytes must stop at the memory limit.
    monkeypatch.setattr(zip_files, "_declared_size", lambda infos: 0)
    text = csv_text(RATINGS_HEADER, *film_rows("Heat", 30_000))
    data = stored_zip({"ratings.csv": text})
    message = refusal(data, "export.zip", memory_limits(2 * MIB))
    assert message.startswith("export.zip is too big to read: its files and their films would")
    need, limit = map(float, SHOWN_SIZES.findall(message)[0])
    assert 2.0 == limit < need <= (len(data) + len(text)) / MIB + 0.1


def test_zip_whose_earlier_files_hold_the_memory_is_named_instead_of_the_last_file() -> None:
    # 20,000 short rows of ratings.csv hold about 31 MB until the import ends; watched.csv, read
    # after, needs another 17 MB: the zip is too big, not watched.csv.
    long_names = [
        f"2024-01-01,Film {i} {'x' * 900},1995,https://boxd.it/w{i}" for i in range(3_000)
    ]
    members = {
        "ratings.csv": csv_text(RATINGS_HEADER, *film_rows("Heat", 20_000)),
        "watched.csv": csv_text(WATCHED_HEADER, *long_names),
    }
    message = refusal(make_zip(members), "export.zip", memory_limits(42 * MIB))
    assert message.startswith("export.zip is too big to read: its files and their films would")
    assert message.endswith(f"of memory, more than the 42 MB limit {MEMORY_HINT}")
    # Alone, each file fits.
    for name, text in members.items():
        read_export(make_zip({name: text}), "export.zip", memory_limits(42 * MIB))


def test_zip_file_too_big_on_its_own_is_named() -> None:
    long_names = [
        f"2024-01-01,Film {i} {'x' * 900},1995,https://boxd.it/w{i}" for i in range(3_000)
    ]
    members = {
        "ratings.csv": csv_text(RATINGS_HEADER, *film_rows("Heat", 10)),
        "watched.csv": csv_text(WATCHED_HEADER, *long_names),
    }
    message = refusal(make_zip(members), "export.zip", memory_limits(8 * MIB))
    assert message.startswith("watched.csv is too big to read: its text and films would take")
    assert message.endswith(f"of memory, more than the 8.0 MB limit {MEMORY_HINT}")


@pytest.mark.parametrize(
    ("size", "limit", "shown"),
    [
        (24 * MIB + 1, 24 * MIB, ("25 MB", "24 MB")),  # used to read "24 MB, more than 24 MB"
        (24 * MIB + MIB // 2, 24 * MIB, ("25 MB", "24 MB")),
        (2_000_000, 1_000_000, ("1.9 MB", "1.0 MB")),
        (400_001, 400_000, ("0.39 MB", "0.38 MB")),
        (300 * MIB, 8 * MIB, ("300.0 MB", "8.0 MB")),
        (32 * MIB, 32 * MIB, ("32 MB", "32 MB")),
        (5, 4, ("0.000005 MB", "0.000004 MB")),
    ],
)
def test_a_size_over_a_limit_always_reads_as_more_than_it(
    size: int, limit: int, shown: tuple[str, str]
) -> None:
    assert _over(size, limit) == shown


def test_memory_message_near_a_limit_of_whole_megabytes_shows_more_than_it() -> None:
    data = csv_text(RATINGS_HEADER, *film_rows("Heat", 10_000)).encode()
    limit = tightest_memory_limit(data, "ratings.csv")  # about 20 MB
    assert limit > 10 * MIB
    # Just under what the file needs: both round to the same whole MB.
    message = refusal(data, "ratings.csv", memory_limits(limit - limit // 50))
    need, shown_limit = map(float, SHOWN_SIZES.findall(message)[0])
    assert need > shown_limit


# --------------------------------------------------------------------------------------------
# Limits from the environment

LIMIT_VARIABLES = [f"BOXDREC_{f.name.upper()}" for f in dataclasses.fields(ImportLimits)]


@pytest.fixture
def clean_limits_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LIMIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_compression_ratio_and_memory_limit_are_read_from_the_environment(
    clean_limits_env: pytest.MonkeyPatch,
) -> None:
    clean_limits_env.setenv("BOXDREC_MAX_COMPRESSION_RATIO", "7")
    clean_limits_env.setenv("BOXDREC_MAX_IMPORT_MEMORY_BYTES", str(8 * MIB))
    assert ImportLimits.from_env() == dataclasses.replace(
        DEFAULTS, max_compression_ratio=7, max_import_memory_bytes=8 * MIB
    )
    # read_export without limits uses them: 1.5 MB of repeated rows pack far more than 7 times.
    packed = make_zip({"ratings.csv": repeated_rows(40_000)})
    assert refusal(packed, "export.zip", None).startswith(
        "export.zip unpacks ratings.csv to more than 7 times its packed size, the limit;"
    )
    rows = [f"2024-01-01,Film number {n},1995,https://boxd.it/{n},4" for n in range(20_000)]
    message = refusal(csv_text(RATINGS_HEADER, *rows).encode(), "ratings.csv", None)
    assert message.endswith(f"more than the 8.0 MB limit {MEMORY_HINT}")


def test_unset_and_empty_variables_leave_the_defaults(clean_limits_env: pytest.MonkeyPatch) -> None:
    clean_limits_env.setenv("BOXDREC_MAX_ROWS", "")
    clean_limits_env.setenv("BOXDREC_MAX_ZIP_MEMBERS", " 40 ")
    assert ImportLimits.from_env() == dataclasses.replace(DEFAULTS, max_zip_members=40)


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "1.5", "10MB", "1\n2"])
def test_bad_environment_value_is_a_one_line_error_naming_the_variable(
    clean_limits_env: pytest.MonkeyPatch, raw: str
) -> None:
    clean_limits_env.setenv("BOXDREC_MAX_IMPORT_MEMORY_BYTES", raw)
    with pytest.raises(ValueError) as info:
        ImportLimits.from_env()
    assert str(info.value) == (
        f"BOXDREC_MAX_IMPORT_MEMORY_BYTES must be a whole number above 0, not {raw!r}; fix it "
        "in the environment or .env, or unset it to use the default (268,435,456)."
    )
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_rows", 0),
        ("max_import_memory_bytes", -1),
        ("max_upload_bytes", 1.5),
        ("max_zip_members", True),
    ],
)
def test_limits_must_be_whole_numbers_above_zero(field: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        ImportLimits(**{field: value})  # type: ignore[arg-type]
    assert str(info.value) == (
        f"ImportLimits.{field} must be a whole number above 0, not {value!r} (the environment "
        f"sets it as BOXDREC_{field.upper()})."
    )


# --------------------------------------------------------------------------------------------
# Names no export holds


def test_name_longer_than_any_film_title_is_refused() -> None:
    huge = "é" * 100_000
    text = csv_text(RATINGS_HEADER, f"2024-01-01,{huge},1995,u,4")
    message = refusal(text.encode("utf-8"), "ratings.csv")
    assert message.startswith('ratings.csv, row 2 ("ééé')
    assert (
        "the film name is 100,000 characters long, but no film's name is longer than 1,000, so "
        "this is not a file Letterboxd made. Upload ratings.csv or the whole export zip from "
        "Letterboxd (Settings → Data → Export your data)." in message
    )


UPLOAD_HINT = (
    "Upload ratings.csv or the whole export zip from Letterboxd (Settings → Data → Export your "
    "data)."
)


def test_name_of_a_thousand_characters_is_read_and_one_more_is_refused() -> None:
    at_limit = "Heat " + "x" * 995
    assert names_of(csv_text(RATINGS_HEADER, f"2024-01-01,{at_limit},1995,u,4")) == [at_limit]
    text = csv_text(RATINGS_HEADER, "2024-01-01,Alien,1979,a,4", f"2024-01-01,{at_limit}y,1995,u,4")
    assert refusal(text.encode(), "ratings.csv") == (
        f'ratings.csv, row 3 ("Heat {"x" * 54}…"): '
        "the film name is 1,001 characters long, but no film's name is longer than 1,000, so this "
        f"is not a file Letterboxd made. {UPLOAD_HINT}"
    )


def test_name_nfkc_writes_out_longer_than_any_title_is_refused() -> None:
    # The audit's upload: 9.5 MB, every limit kept, yet each "\ufdfa" (one Arabic ligature) is
    # 18 characters once NFKC writes it out: 12 s of folding and 11 s of matching.
    rows = [f"2024-01-01,{chr(0xFDFA) * 999},1995,u{i},4" for i in range(3_300)]
    data = csv_text(RATINGS_HEADER, *rows).encode()
    assert 9 * MIB < len(data) < DEFAULTS.max_upload_bytes
    assert refusal(data, "ratings.csv") == (
        f'ratings.csv, row 2 ("{chr(0xFDFA) * 59}…"): the film name is 17,982 characters long once '
        "its ligatures and symbols are written out, but no film's name is longer than 1,000, so "
        f"this is not a file Letterboxd made. {UPLOAD_HINT}"
    )


def test_name_written_out_to_a_thousand_characters_is_read_and_one_more_is_refused() -> None:
    at_limit = "½" * 333 + "x"  # "1⁄2" 333 times and "x": 1,000 characters to match
    assert names_of(csv_text(RATINGS_HEADER, f"2024-01-01,{at_limit},1995,u,4")) == [at_limit]
    message = refusal(
        csv_text(RATINGS_HEADER, f"2024-01-01,{at_limit}y,1995,u,4").encode(), "ratings.csv"
    )
    assert message.endswith(
        "): the film name is 1,001 characters long once its ligatures and symbols are written "
        "out, but no film's name is longer than 1,000, so this is not a file Letterboxd made. "
        f"{UPLOAD_HINT}"
    )


def test_names_written_out_past_the_budget_of_a_file_are_refused() -> None:
    # Each name is short enough, but each adds 102 characters ("\ufdfa" 6 times): past 100,000
    # in all, at the 981st film (row 982), the file is no export.
    rows = [f"2024-01-01,{chr(0xFDFA) * 6}{i},1995,u{i},4" for i in range(50_000)]
    assert refusal(csv_text(RATINGS_HEADER, *rows).encode(), "ratings.csv") == (
        f'ratings.csv, row 982 ("{chr(0xFDFA) * 6}980"): written out, the ligatures and symbols '
        "of the film names up to here add more than 100,000 characters, but those of a Letterboxd "
        f"export add a few, so this is not a file Letterboxd made. {UPLOAD_HINT}"
    )


def test_names_read_are_at_most_a_thousand_characters_to_match() -> None:
    # What matching reads of each name is bounded: every key at most 1,000 characters, and
    # what NFKC added to them at most 100,000 in all, whatever the names.
    names = ["½" * 333 + "x", "ﬁlm " * 200, "㍿" * 200, "Amélie", "海上花", chr(0xFDFA) * 50]
    names += [f"{chr(0xFDFA) * 5} {i}" for i in range(1_000)]
    rows = [f"2024-01-01,{name},1995,u{i},4" for i, name in enumerate(names)]
    parsed = _parse_csv(csv_text(RATINGS_HEADER, *rows).encode(), "ratings.csv", None, DEFAULTS, 0)
    assert len(parsed.rows) == len(names)
    assert max(len(row.key) for row in parsed.rows) == 1_000
    assert sum(max(0, len(row.key) - len(row.name)) for row in parsed.rows) <= 100_000


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_quote_that_never_closes_names_its_line(newline: str) -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,Heat,1995,u,4",
        '2024-01-02,"Alien,1979,u,5',
        "2024-01-03,Ran,1985,u,4",
        newline=newline,
    )
    assert refusal(text.encode("utf-8"), "ratings.csv") == (
        'ratings.csv, line 3: a quote (") opens here and never closes, so the rest of the file '
        "would be read as one value. Save the file again as CSV from your spreadsheet, or upload "
        "the file Letterboxd made."
    )


SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Heat\u202e", "Heat"),  # right-to-left override
        ("\u202aHe\u202bat\u202c\u202d", "Heat"),  # embeddings, pop, left-to-right override
        ("\u200eHeat\u200f", "Heat"),  # left-to-right and right-to-left marks
        ("\u061cحرارة", "حرارة"),  # Arabic letter mark
        ("He\u200bat", "Heat"),  # zero-width space
        ("He\u2060at", "Heat"),  # word joiner
        ("He\u00adat\u2062", "Heat"),  # soft hyphen, invisible times
        ("\ufeffHeat", "Heat"),  # a BOM inside a cell
        ("\u2066Heat\u2069", "Heat"),  # isolates
        ("Heat\U000e0041\U000e0042", "Heat"),  # tag letters hide text
        (f"Braveheart {SCOTLAND}", f"Braveheart {SCOTLAND}"),  # tags of a flag: kept
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # ZWJ joins an emoji family: kept
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ in Persian: kept
        ("\u0600١٢", "\u0600١٢"),  # the Arabic number sign is seen: kept
    ],
)
def test_hidden_characters_are_removed_and_joiners_kept(written: str, kept: str) -> None:
    assert names_of(csv_text(RATINGS_HEADER, f"2024-01-01,{written},1995,u,4")) == [kept]


def test_every_invisible_format_character_is_removed() -> None:
    # Every format character of this Python's Unicode, but the kept ones and the tags (removed
    # apart, outside flags), is one the importer removes: a new Unicode version shows here.
    visible = {0x200C, 0x200D, *range(0x600, 0x606), 0x6DD, 0x70F, 0x890, 0x891, 0x8E2}
    visible |= {0x110BD, 0x110CD}
    missed = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Cf"
        and code not in visible
        and not 0xE0000 <= code <= 0xE007F
        and not _HIDDEN.fullmatch(chr(code))
    ]
    assert missed == []


def test_name_of_only_hidden_characters_is_a_blank_row() -> None:
    text = csv_text(
        RATINGS_HEADER, "2024-01-01,\u202e\u200b\ufeff\u2060,1995,u,4", "2024-01-01,Heat,1995,v,4"
    )
    assert names_of(text) == ["Heat"]


def test_stacked_combining_marks_are_capped_and_real_ones_kept() -> None:
    zalgo = "H" + "\u0301" * 300 + "eat"
    vietnamese = "Mùa hè chiều thẳng đứng"
    hebrew = "שָׁלוֹם"  # shin with two points, and more
    names = names_of(
        csv_text(
            RATINGS_HEADER,
            f"2024-01-01,{zalgo},1995,u,4",
            f"2024-01-01,{vietnamese},2000,v,4",
            f"2024-01-01,{hebrew},2001,w,4",
        )
    )
    assert names == ["H" + "\u0301" * 4 + "eat", vietnamese, hebrew]


def test_stacked_combining_marks_beyond_the_bmp_are_capped() -> None:
    # U+1D167 (a musical tremolo) and U+11001 (a Brahmi vowel sign) are marks beyond U+FFFF.
    names = names_of(
        csv_text(
            RATINGS_HEADER,
            f"2024-01-01,H{chr(0x1D167) * 50}eat,1995,u,4",
            f"2024-01-01,𑀅{chr(0x11001) * 2}{chr(0x1D167) * 3} x,2001,v,4",
        )
    )
    assert names == [f"H{chr(0x1D167) * 4}eat", f"𑀅{chr(0x11001) * 2}{chr(0x1D167) * 2} x"]


def test_mojibake_repair_stops_at_its_limit_and_keeps_later_names_as_written() -> None:
    mangled = "AmÃ©lie"
    filler = "Ã©" * 450  # 900 characters of mojibake a row: the 500,000 limit is near row 556
    rows = [f"2024-01-01,{mangled} {n} {filler},2001,u{n},4" for n in range(700)]
    names = names_of(csv_text(RATINGS_HEADER, *rows))
    assert names[0].startswith("Amélie 0 éé")
    assert names[-1].startswith("AmÃ©lie 699 Ã©")
    repaired = sum(name.startswith("Amélie") for name in names)
    assert 500 < repaired < 600


def test_blank_lines_before_the_header_count_against_the_row_limit() -> None:
    limits = ImportLimits(max_rows=1_000)
    text = "\n" * 2_000 + repeated_rows(1)
    assert refusal(text.encode("utf-8"), "ratings.csv", limits) == (
        "ratings.csv has more than 1,000 rows without a film name, so it is not a file Letterboxd "
        "made. Upload the file as Letterboxd made it, or delete the empty rows and upload it again."
    )
    assert names_of("\n" * 500 + repeated_rows(1), limits) == ["Heat"]


# --------------------------------------------------------------------------------------------
# Messages quote what the user sent as it looks


def test_messages_drop_invisible_characters_of_file_names() -> None:
    # "\u202e" would show "evil.csv\u202evsc.exe" as "evil.csvexe.csv".
    assert refusal(b"", "\u202eHe\u200bat\ufeff.csv") == f"Heat.csv is empty. {UPLOAD_HINT}"
    assert refusal(b"", "\x9b31mred\x00.csv") == f"31mred .csv is empty. {UPLOAD_HINT}"
    family = "👨\u200d👩\u200d👧.csv"  # ZWJ is kept: it joins the emoji
    assert refusal(b"", family) == f"{family} is empty. {UPLOAD_HINT}"


def test_messages_drop_invisible_characters_of_names() -> None:
    # A name is refused as written, before it is cleaned: the quote must still be clean.
    name = "Heat\u202e\u2066" + "x" * 1_000
    message = refusal(csv_text(RATINGS_HEADER, f"2024-01-01,{name},1995,u,4").encode(), "r.csv")
    assert message.startswith(f'r.csv, row 2 ("Heat{"x" * 55}…"): the film name is 1,006 ')


# --------------------------------------------------------------------------------------------
# Line ends of UTF-16 and UTF-32 files


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_utf16_and_utf32_line_ends_are_counted_as_characters(encoding: str, newline: str) -> None:
    # "上" is U+4E0A and "\u0a0d" holds 0x0A and 0x0D bytes: neither ends a line.
    text = csv_text(
        RATINGS_HEADER,
        *[f"2024-01-01,上海\u0a0d {i},1995,u{i},4" for i in range(500)],
        newline=newline,
    )
    data = text.encode(encoding)
    assert _byte_line_count(data, encoding) == _line_count(text) == 501
    assert data.count(b"\n") >= 1_000  # what the estimate used to count


def test_line_ends_split_across_counted_slices_are_counted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(csv_files, "_COUNT_CHUNK", 6)  # CRLF and characters fall apart
    for text in ["a\r\nb\r\nc\rd\ne", "🎬\r\n🎬\r", "\r\n" * 9 + "x", "上\n"]:
        for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
            assert _byte_line_count(text.encode(encoding), encoding) == _line_count(text)


def test_utf16_export_of_cjk_names_fits_the_memory_its_lines_need() -> None:
    # 3,000 rows each with 30 "上": the estimate once took them for 93,000 rows (140 MB).
    data = csv_text(RATINGS_HEADER, *film_rows("海上花" * 30, 3_000)).encode("utf-16")
    export = read_export(data, "ratings.csv", memory_limits(32 * MIB))
    assert len(export.films) == 3_000


# --------------------------------------------------------------------------------------------
# What matching reads of the names an import lets through


def test_names_with_many_separators_are_not_cut_into_every_piece() -> None:
    # Every piece of "a: a: a: ..." is most of the name: 330 of them cost 160 s of matching for
    # one upload. MovieLens titles have at most 3 separators.
    assert split_parts("a: " * 330 + "b") == ([], [])
    assert title_parts("Star Wars: Episode IV - A New Hope") == [
        "Star Wars",
        "Star Wars: Episode IV",
        "Episode IV - A New Hope",
        "A New Hope",
        "Star Wars: A New Hope",
    ]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Amélie", "amelie"),
        ("海上花", "海上花"),  # nothing to strip: no per-character pass
        ("한국", unicodedata.normalize("NFKD", "한국")),  # Hangul jamo are no marks
        ("🎬 Ñu", "🎬 nu"),
        (f"x{chr(0x101FD)}y", "xy"),  # a mark beyond U+FFFF
        ("½", " 1/2"),
    ],
)
def test_fold_strips_marks_only_where_there_are_any(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    "text",
    [
        "sep=;\nDate;Name;Year;Letterboxd URI;Rating\n2024-01-01;Heat;1995;u;4\n",
        '"sep=,"\r\nDate,Name,Year,Letterboxd URI,Rating\r\n2024-01-01,Heat,1995,u,4\r\n',
        "SEP=\t\n\nDate\tName\tYear\tLetterboxd URI\tRating\n2024-01-01\tHeat\t1995\tu\t4\n",
    ],
    ids=["semicolon", "quoted-crlf", "tab-blank-line"],
)
def test_excel_sep_line_names_the_delimiter(text: str) -> None:
    export = read_export(text.encode("utf-8"), "ratings.csv", DEFAULTS)
    assert [(f.name, f.year, f.rating) for f in export.films] == [("Heat", 1995, 4.0)]


def test_sep_line_alone_is_an_empty_file() -> None:
    assert refusal(b"sep=;\r\n\r\n", "ratings.csv") == (
        "ratings.csv is empty. Upload ratings.csv or the whole export zip from Letterboxd "
        "(Settings → Data → Export your data)."
    )

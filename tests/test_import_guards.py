"""The importer's guards against uploads no Letterboxd export looks like: compression ratio,
the memory budget of one import, absurd names, unclosed quotes, hidden characters and stacked
combining marks. Each either cleans the name or refuses with a message saying what to do."""

from __future__ import annotations

import gc
import io
import tracemalloc
import zipfile

import pytest
from lb_factories import RATINGS_HEADER, csv_text, make_zip

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.letterboxd import read_export

DEFAULTS = ImportLimits()
ZIP_HINT = "Upload the zip exactly as Letterboxd made it"


def names_of(text: str, limits: ImportLimits = DEFAULTS) -> list[str]:
    return [film.name for film in read_export(text.encode("utf-8"), "ratings.csv", limits).films]


def refusal(data: bytes, filename: str, limits: ImportLimits = DEFAULTS) -> str:
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


def test_file_that_would_need_more_memory_than_the_limit_is_refused_before_parsing() -> None:
    rows = [f"2024-01-01,Film number {n},1995,https://boxd.it/{n},4" for n in range(20_000)]
    data = csv_text(RATINGS_HEADER, *rows).encode("utf-8")
    tight = ImportLimits(max_import_memory_bytes=8 * 1024 * 1024)
    message = refusal(data, "ratings.csv", tight)
    assert message.startswith("ratings.csv is too big to read: its text and films would take about")
    assert message.endswith(
        "of memory, more than the 8.0 MB limit (a Letterboxd export needs a few MB). Upload your "
        "own Letterboxd export, or ask the bot's admin to raise BOXDREC_MAX_IMPORT_MEMORY_BYTES."
    )
    # The same file is read under the default budget.
    assert len(read_export(data, "ratings.csv", DEFAULTS).films) == 20_000


@pytest.mark.parametrize(
    "name",
    ["Heat", "海上花" * 30, "🎬" * 200],  # 1, 2 and 4 bytes a character once decoded
    ids=["ascii", "cjk", "emoji"],
)
def test_peak_memory_of_an_import_stays_under_the_configured_limit(name: str) -> None:
    limit = 48 * 1024 * 1024
    limits = ImportLimits(
        max_upload_bytes=64 * 1024 * 1024,
        max_rows=1_000_000,
        max_import_memory_bytes=limit,
    )
    row = f"2024-01-01,{name},1995,https://boxd.it/x,4"
    data = csv_text(RATINGS_HEADER, *[row] * (12 * 1024 * 1024 // len(row.encode()))).encode()
    gc.collect()
    tracemalloc.start()
    try:
        try:
            read_export(data, "ratings.csv", limits)
        except ExportError as exc:  # refused up front is fine; crossing the limit is not
            assert "is too big to read" in str(exc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak / 2**20:.1f} MiB over the {limit / 2**20:.0f} MiB limit"


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


def test_quote_that_never_closes_names_its_line() -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,Heat,1995,u,4",
        '2024-01-02,"Alien,1979,u,5',
        "2024-01-03,Ran,1985,u,4",
    )
    assert refusal(text.encode("utf-8"), "ratings.csv") == (
        'ratings.csv, line 3: a quote (") opens here and never closes, so the rest of the file '
        "would be read as one value. Save the file again as CSV from your spreadsheet, or upload "
        "the file Letterboxd made."
    )


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Heat\u202e", "Heat"),  # right-to-left override
        ("He\u200bat", "Heat"),  # zero-width space
        ("\ufeffHeat", "Heat"),  # a BOM inside a cell
        ("\u2066Heat\u2069", "Heat"),  # isolates
        ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),  # ZWJ joins an emoji family: kept
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ in Persian: kept
    ],
)
def test_hidden_characters_are_removed_and_joiners_kept(written: str, kept: str) -> None:
    assert names_of(csv_text(RATINGS_HEADER, f"2024-01-01,{written},1995,u,4")) == [kept]


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

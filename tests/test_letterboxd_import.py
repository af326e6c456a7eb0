"""The Letterboxd export importer: real exports, merging, spreadsheet re-saves and bad uploads."""

from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lb_factories import (
    DIARY_HEADER,
    ISSUE_SAMPLE,
    RATINGS_HEADER,
    WATCHED_HEADER,
    csv_text,
    full_export,
    make_zip,
    mark_encrypted,
)

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.export import ExportFilm, LetterboxdExport
from recommender.letterboxd import read_export, read_export_file, zip_files

LIMITS = ImportLimits()
HINT = "Settings → Data → Export your data"


def read(text: str | bytes, filename: str = "ratings.csv", **limits: int) -> LetterboxdExport:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return read_export(data, filename, ImportLimits(**limits) if limits else LIMITS)


def by_name(export: LetterboxdExport) -> dict[tuple[str, int | None], ExportFilm]:
    films = {(f.name, f.year): f for f in export.films}
    assert len(films) == len(export.films), "name and year repeat; look films up another way"
    return films


def triples(export: LetterboxdExport) -> set[tuple[str, int | None, float | None]]:
    return {(f.name, f.year, f.rating) for f in export.films}


def error_of(text: str | bytes, filename: str = "ratings.csv", **limits: int) -> str:
    with pytest.raises(ExportError) as info:
        read(text, filename, **limits)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


# --------------------------------------------------------------------------------------------
# Real exports


@pytest.fixture(scope="module")
def real(letterboxd_dir: Path) -> Path:
    return letterboxd_dir / "real"


def test_real_small_ratings_crlf(real: Path) -> None:
    export = read_export_file(real / "ratings_small_crlf.csv", LIMITS)

    assert len(export.films) == 20
    assert export.files_read == ("ratings_small_crlf.csv",)
    assert export.films[0] == ExportFilm("The Incredible Hulk", 2008, "https://boxd.it/28dU", 4.0)
    assert {
        ("Her", 2013, 5.0),
        ("Wonder Woman 1984", 2020, 3.5),
        ("Harry Potter and the Philosopher's Stone", 2001, 2.5),
        ("No Time to Die", 2021, 4.0),
    } <= triples(export)
    assert all(f.watched and not f.in_watchlist and not f.liked for f in export.films)
    assert not any(f.name.endswith("\r") or f.uri.endswith("\r") for f in export.films)


def test_real_2017_slug_uris_keep_empty_uris_and_same_titles_apart(real: Path) -> None:
    export = read_export_file(real / "ratings_2017_slug_uris_crlf.csv", LIMITS)
    films = by_name(export)

    assert len(export.films) == 766
    assert films["Red Cliff", 2008] == ExportFilm(
        "Red Cliff", 2008, "https://letterboxd.com/film/red-cliff/", 3.5
    )
    assert films["Red Cliff", 2009] == ExportFilm("Red Cliff", 2009, "", 3.5)
    assert films["A Film Trilogy by Ingmar Bergman", 1962].uri == ""
    assert films["Invasion of the Body Snatchers", 1956].rating == 3.5
    assert films["Invasion of the Body Snatchers", 1978].uri.endswith(
        "/invasion-of-the-body-snatchers-1978-5/"
    )
    assert ("L’argent", 1983) in films  # the curly apostrophe stays as exported
    assert ("WALL·E", 2008) in films


def test_real_2022_empty_years_are_kept_as_none(real: Path) -> None:
    export = read_export_file(real / "ratings_2022_empty_year_crlf.csv", LIMITS)
    no_year = [f for f in export.films if f.year is None]

    assert len(export.films) == 1678
    assert [(f.name, f.uri) for f in no_year] == [
        ("V.H.S.", "https://boxd.it/p8oE"),
        ("CURRENT", "https://boxd.it/pdq6"),
    ]
    assert all(f.rating is not None for f in no_year)
    assert len(export.rated) == 1678
    assert {("Scarface", 1932, 4.5), ("Scarface", 1983, 4.0)} <= triples(export)


def test_real_cjk_and_no_break_space_names_are_intact(real: Path) -> None:
    export = read_export_file(real / "ratings_2026_cjk.csv", LIMITS)
    names = {f.name for f in export.films}

    assert len(export.films) == 452
    assert "Dìdi (弟弟)" in names
    assert "Shōgun" in names
    assert "Star Wars: Episode III –\u00a0Revenge of the Sith" in names
    assert "Star Wars: Episode I – The Phantom Menace" in names
    assert {("Mulan", 1998, 4.0), ("Mulan", 2020, 2.0)} <= triples(export)


def test_real_spanish_ratings(real: Path) -> None:
    export = read_export_file(real / "ratings_2026_spanish.csv", LIMITS)

    assert len(export.films) == 913
    assert by_name(export)["Yí (Endless River)", 2020].rating == 3.0
    assert {("Whiplash", 2014, 5.0), ("Whiplash", 2013, 4.0)} <= triples(export)


def test_real_watched_only_is_all_watched_and_unrated(real: Path) -> None:
    export = read_export_file(real / "watched_2604.csv", LIMITS)

    assert len(export.films) == 2604
    assert export.rated == ()
    assert all(f.watched and not f.in_watchlist and not f.liked for f in export.films)
    castles = [f for f in export.films if (f.name, f.year) == ("The Haunted Castle", 1897)]
    assert len(castles) == 2 and castles[0].uri != castles[1].uri
    assert [f.name for f in export.films if f.year is None] == ["Deep-Fried Fingers"]


def test_real_watchlist_is_read_as_watchlist_by_its_name(real: Path) -> None:
    export = read_export_file(real / "watchlist_empty_years.csv", LIMITS)

    assert len(export.films) == 66
    assert all(not f.watched and f.in_watchlist and f.rating is None for f in export.films)
    assert sum(f.year is None for f in export.films) == 13
    assert export.films[0] == ExportFilm(
        "Spider-Man: Beyond the Spider-Verse",
        None,
        "https://boxd.it/ykgU",
        None,
        watched=False,
        in_watchlist=True,
    )
    # The same bytes under another name are a watched.csv: the columns cannot tell them apart.
    data = (real / "watchlist_empty_years.csv").read_bytes()
    assert all(f.watched and not f.in_watchlist for f in read(data, "watched.csv").films)


def test_real_spreadsheet_diary_semicolon_mojibake(real: Path) -> None:
    export = read_export_file(real / "diary_spreadsheet_semicolon_mojibake.csv", LIMITS)
    films = by_name(export)

    assert len(export.films) == 467  # 477 diary rows, 10 of them second watches
    assert films["Amélie", 2001] == ExportFilm("Amélie", 2001, "", None)
    assert ("WALL·E", 2008) in films
    assert ("Star Wars: Episode III –\u00a0Revenge of the Sith", 2005) in films
    assert ("John Wick: Chapter 3 – Parabellum", 2019) in films
    assert not any("Ã" in f.name or "Â" in f.name or "â" in f.name for f in export.films)
    # Diary URIs name log entries, never films.
    assert all(f.uri == "" for f in export.films)
    assert films["Prisoners", 2013].rating == 5.0
    assert films["Arrival", 2016].rating is None
    # Watched twice: the latest rated watch gives the rating.
    assert films["Gran Torino", 2008].rating == 4.0
    assert films["Nobody", 2021].rating == 3.0
    assert films["Brokeback Mountain", 2005].rating == 5.0
    # Rated 5 on first watch, rewatched without a rating: still 5.
    assert films["Road House", 2024].rating == 5.0
    assert films["You Don't Mess with the Zohan", 2008].rating is None


def test_real_list_export_is_refused(real: Path) -> None:
    with pytest.raises(ExportError) as info:
        read_export_file(real / "list_v7_export.csv", LIMITS)
    assert str(info.value) == (
        "list_v7_export.csv is a Letterboxd list export, not your films. Upload ratings.csv or "
        f"the whole export zip from Letterboxd ({HINT})."
    )


def test_real_nul_bytes_file_is_refused(real: Path) -> None:
    with pytest.raises(ExportError) as info:
        read_export_file(real / "list_all_nul_bytes.csv", LIMITS)
    assert str(info.value) == (
        "list_all_nul_bytes.csv holds only NUL bytes, no text: it is blank or was damaged in "
        f"download. Upload ratings.csv or the whole export zip from Letterboxd ({HINT})."
    )


def test_real_gold_ratings_read(letterboxd_dir: Path) -> None:
    # The gold sets are ratings exports with the Date column removed and two columns added.
    export = read_export_file(letterboxd_dir / "gold" / "gold_a.csv", LIMITS)
    assert export.films and all(f.rating is not None for f in export.films)


# --------------------------------------------------------------------------------------------
# ratings.csv


def test_issue_sample() -> None:
    export = read(ISSUE_SAMPLE)

    assert export.films == (
        ExportFilm("Monsters, Inc.", 2001, "https://boxd.it/aaa1", 4.0),
        ExportFilm("Some Upcoming Film", None, "https://boxd.it/aaa7", 4.0),
        ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 3.5),
        ExportFilm(
            "Star Wars: Episode III –\u00a0Revenge of the Sith", 2005, "https://boxd.it/ab10", 3.0
        ),
        ExportFilm("Yí (Endless River)", 2019, "", 4.0),
        ExportFilm("Cinderella", 1922, "https://boxd.it/ab13", 3.0),
        ExportFilm("Cinderella", 1922, "https://boxd.it/ab14", 3.5),
    )
    assert export.rated == export.films
    assert export.files_read == ("ratings.csv",)


def test_empty_rating_is_unrated_never_zero() -> None:
    export = read(csv_text(RATINGS_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8,"))
    assert export.films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", None),)
    assert export.rated == ()


def test_columns_by_name_in_any_order_case_and_spacing() -> None:
    text = csv_text(
        "RATING , extra column,url,  year,NAME,letterboxd_uri,date",
        "4.5,x,https://boxd.it/aaa8,1995,Heat,,2024-01-01",
    )
    assert read(text).films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 4.5),)


def test_whitespace_around_values_is_stripped_but_inner_spaces_kept() -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,  Heat \t, 1995 , https://boxd.it/aaa8 , 3.5 ",
        "2024-01-01,Star Wars: Episode II –\u00a0Attack of the Clones,2002,https://boxd.it/ab11,3",
    )
    assert triples(read(text)) == {
        ("Heat", 1995, 3.5),
        ("Star Wars: Episode II –\u00a0Attack of the Clones", 2002, 3.0),
    }
    assert read(text).films[0].uri == "https://boxd.it/aaa8"


def test_same_uri_twice_is_one_film_and_first_rating_wins() -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,Heat,1995,https://boxd.it/aaa8,3.5",
        "2024-01-02,Heat,1995,http://boxd.it/aaa8/,5",
    )
    assert read(text).films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 3.5),)


def test_rows_without_uri_and_same_name_year_stay_apart_within_a_file() -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,Cinderella,1922,,3",
        "2024-01-01,Cinderella,1922,,3.5",
        "2024-01-01,Cinderella,1922,,4",
    )
    assert [f.rating for f in read(text).films] == [3.0, 3.5, 4.0]


def test_blank_and_nameless_rows_are_skipped() -> None:
    text = csv_text(RATINGS_HEADER, "", ",,,,", "2024-01-01,Heat,1995,https://boxd.it/aaa8,4", "")
    export = read(text)
    assert export.films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 4.0),)


@pytest.mark.parametrize(
    ("rating", "problem"),
    [
        ("6", "rating 6 is outside 0.5–5 stars"),
        ("0", "rating 0 is outside 0.5–5 stars"),
        ("-1", "rating -1 is outside 0.5–5 stars"),
        ("10", "rating 10 is outside 0.5–5 stars"),
        ("4.3", "rating 4.3 is not a whole or half star (0.5, 1, 1.5 … 5)"),
        ("abc", 'rating "abc" is not a number of stars (0.5 to 5)'),
        ("nan", 'rating "nan" is not a number of stars (0.5 to 5)'),
        ("1e999", 'rating "1e999" is not a number of stars (0.5 to 5)'),
    ],
)
def test_bad_rating_names_row_and_film(rating: str, problem: str) -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,Alien,1979,https://boxd.it/2b0k,4",
        f"2024-01-01,Heat,1995,https://boxd.it/aaa8,{rating}",
    )
    assert error_of(text) == (
        f'ratings.csv, row 3 ("Heat"): {problem}. Fix or remove the rating and upload again.'
    )


def test_row_number_counts_spreadsheet_rows() -> None:
    text = csv_text(
        RATINGS_HEADER,
        *[f"2024-01-01,Film {i},2000,https://boxd.it/f{i},4" for i in range(10)],
        "2024-01-01,Heat,1995,https://boxd.it/aaa8,6",
    )
    assert error_of(text).startswith('ratings.csv, row 12 ("Heat"): rating 6 is outside')


def test_bad_year_names_row_and_film() -> None:
    text = csv_text(RATINGS_HEADER, "2024-01-01,Heat,19x5,https://boxd.it/aaa8,4")
    assert error_of(text) == (
        'ratings.csv, row 2 ("Heat"): year "19x5" is not a four-digit year. '
        "Fix or clear the year and upload again."
    )


# --------------------------------------------------------------------------------------------
# Single files other than ratings.csv


def test_single_watched_csv() -> None:
    text = csv_text(WATCHED_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8")
    export = read(text, "watched.csv")
    assert export.films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", None),)


def test_single_watchlist_csv_detected_by_name() -> None:
    text = csv_text(WATCHED_HEADER, "2024-01-01,Nope,2022,https://boxd.it/uj0Q")
    export = read(text, "C:\\fakepath\\my-watchlist.csv")
    assert export.films == (
        ExportFilm("Nope", 2022, "https://boxd.it/uj0Q", None, watched=False, in_watchlist=True),
    )
    assert export.files_read == ("my-watchlist.csv",)


@pytest.mark.parametrize("filename", ["films.csv", "likes-films.csv", "likes/films.csv"])
def test_single_likes_csv(filename: str) -> None:
    text = csv_text(WATCHED_HEADER, "2024-01-01,Dune,2021,https://boxd.it/fA7G")
    export = read(text, filename)
    assert export.films == (ExportFilm("Dune", 2021, "https://boxd.it/fA7G", None, liked=True),)


def test_single_diary_csv_merges_rewatches_and_takes_latest_rating() -> None:
    text = csv_text(
        DIARY_HEADER,
        "2024-05-01,Heat,1995,https://boxd.it/1xA,5,,,2024-05-01",
        # Logged later, but watched earlier: the watch date decides.
        "2024-06-01,Heat,1995,https://boxd.it/1xB,2,Yes,,2023-01-01",
        "2024-06-02,Alien,1979,https://boxd.it/1xC,3,,,2024-06-01",
        # Same watch date: the later log date decides.
        "2024-06-03,Alien,1979,https://boxd.it/1xD,4.5,Yes,,2024-06-01",
        "2024-06-04,Alien,1979,https://boxd.it/1xE,,Yes,,2024-07-01",
        "2024-06-05,Nope,2022,https://boxd.it/1xF,,,,2024-06-05",
    )
    export = read(text, "diary.csv")
    assert export.films == (
        ExportFilm("Heat", 1995, "", 5.0),
        ExportFilm("Alien", 1979, "", 4.5),
        ExportFilm("Nope", 2022, "", None),
    )


def test_single_file_with_watched_date_column_is_a_diary_whatever_its_name() -> None:
    text = csv_text(
        DIARY_HEADER,
        "2024-05-01,Heat,1995,https://boxd.it/1xA,5,,,2024-05-01",
        "2024-06-01,Heat,1995,https://boxd.it/1xB,3,Yes,,2024-06-01",
    )
    assert read(text, "export.csv").films == (ExportFilm("Heat", 1995, "", 3.0),)


def test_old_diary_without_rewatch_column() -> None:
    text = csv_text(
        "Date,Name,Year,Letterboxd URI,Rating,Tags,Watched Date",
        "2016-05-01,Heat,1995,http://letterboxd.com/u/film/heat/,4,,2016-05-01",
    )
    assert read(text, "diary.csv").films == (ExportFilm("Heat", 1995, "", 4.0),)


def test_profile_csv_alone_is_refused_without_reading_it() -> None:
    message = error_of(b"\xff\xfe garbage that is not even text \x00\x01", "profile.csv")
    assert message == (
        "profile.csv holds your account details (including your email), not your films. "
        f"Upload ratings.csv or the whole export zip from Letterboxd ({HINT})."
    )


# --------------------------------------------------------------------------------------------
# Spreadsheet re-saves and encodings

AMELIE = csv_text(
    RATINGS_HEADER,
    "2024-01-01,Amélie,2001,https://boxd.it/1Zgy,4.5",
    "2024-01-01,Dìdi (弟弟),2019,https://boxd.it/kP9Y,4",
)
AMELIE_FILMS = (
    ExportFilm("Amélie", 2001, "https://boxd.it/1Zgy", 4.5),
    ExportFilm("Dìdi (弟弟)", 2019, "https://boxd.it/kP9Y", 4.0),
)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(AMELIE.encode("utf-8"), id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + AMELIE.encode("utf-8"), id="utf-8-bom"),
        pytest.param(AMELIE.replace("\n", "\r\n").encode("utf-8"), id="crlf"),
        pytest.param(AMELIE.replace("\n", "\r").encode("utf-8"), id="cr"),
        pytest.param(AMELIE.encode("utf-16"), id="utf-16-bom"),
        pytest.param(codecs.BOM_UTF16_BE + AMELIE.encode("utf-16-be"), id="utf-16-be-bom"),
        pytest.param(AMELIE.encode("utf-16-le"), id="utf-16-le-no-bom"),
        pytest.param(AMELIE.encode("utf-32"), id="utf-32-bom"),
        pytest.param(AMELIE.replace(",", ";").encode("utf-8"), id="semicolon"),
        pytest.param(
            AMELIE.replace(",", "\t").replace("\n", "\r\n").encode("utf-16"), id="excel-unicode"
        ),
    ],
)
def test_spreadsheet_resaves(data: bytes) -> None:
    assert read(data).films == AMELIE_FILMS


def test_cp1252_bytes() -> None:
    text = csv_text(RATINGS_HEADER, "2024-01-01,Amélie – Caché’s “cut”,2001,https://boxd.it/1,4")
    data = text.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert read(data).films[0].name == "Amélie – Caché’s “cut”"


def test_double_encoded_utf8_is_repaired() -> None:
    text = csv_text(
        RATINGS_HEADER,
        "2024-01-01,Amélie,2001,https://boxd.it/1Zgy,4.5",
        "2024-01-01,Star Wars: Episode III –\u00a0Revenge of the Sith,2005,https://boxd.it/ab10,3",
        "2024-01-01,WALL·E,2008,https://boxd.it/1,5",
    )
    mojibake = text.encode("utf-8").decode("cp1252", errors="replace").encode("utf-8")
    assert "AmÃ©lie".encode() in mojibake
    assert [f.name for f in read(mojibake).films] == [
        "Amélie",
        "Star Wars: Episode III –\u00a0Revenge of the Sith",
        "WALL·E",
    ]


def test_semicolon_file_with_decimal_commas() -> None:
    text = (
        "Date;Name;Year;Letterboxd URI;Rating\r\n2024-01-01;Heat;1995;https://boxd.it/aaa8;3,5\r\n"
    )
    assert read(text).films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 3.5),)


def test_quoted_semicolons_and_commas_in_names() -> None:
    text = 'Date;Name;Year;Letterboxd URI;Rating\n2024-01-01;"Hello; Goodbye, Friend";2001;x;4\n'
    assert read(text).films[0].name == "Hello; Goodbye, Friend"


# --------------------------------------------------------------------------------------------
# The whole export zip

FULL_EXPORT_FILMS = (
    ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 4.5, in_watchlist=True),
    ExportFilm("Alien", 1979, "https://boxd.it/2b0k", 4.0),
    ExportFilm("Dune", 2021, "https://boxd.it/fA7G", None, liked=True),
    ExportFilm("Tenet", 2020, "https://boxd.it/kHsA", 4.0),
    ExportFilm("Nope", 2022, "https://boxd.it/uj0Q", None, watched=False, in_watchlist=True),
)
FULL_EXPORT_FILES = ("ratings.csv", "watched.csv", "likes/films.csv", "watchlist.csv", "diary.csv")


def test_full_export_zip() -> None:
    export = read(make_zip(full_export()), "letterboxd-user-2026-01-01-12-00-utc.zip")
    assert export.films == FULL_EXPORT_FILMS
    assert export.files_read == FULL_EXPORT_FILES


def test_full_export_zip_inside_a_top_folder() -> None:
    members = full_export("letterboxd-user-2026-01-01-12-00-utc/")
    members["letterboxd-user-2026-01-01-12-00-utc/"] = b""  # the folder entry itself
    export = read(make_zip(members), "export.zip")
    assert export.films == FULL_EXPORT_FILMS
    assert export.files_read == FULL_EXPORT_FILES


def test_zip_is_sniffed_from_bytes_not_name() -> None:
    assert read(make_zip(full_export()), "ratings.csv").films == FULL_EXPORT_FILMS
    assert read(ISSUE_SAMPLE, "export.zip").films[2].name == "Heat"


def test_zip_never_opens_profile_even_when_garbage_and_huge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    members = full_export()
    members["profile.csv"] = os.urandom(300_000) + b"secret@example.com" * 50_000
    data = make_zip(members)
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *args: Any, **kwargs: Any) -> Any:
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    export = read(data, "export.zip", max_uncompressed_bytes=1_000_000)

    assert export.films == FULL_EXPORT_FILMS
    assert sorted(opened) == sorted(FULL_EXPORT_FILES)
    assert not any("secret" in f.name.casefold() or "example" in f.uri for f in export.films)


def test_zip_ignores_reviews_comments_lists_deleted_orphaned_and_nested_zips() -> None:
    members = full_export()
    members["nested.zip"] = make_zip(
        {"ratings.csv": csv_text(RATINGS_HEADER, "2024-01-01,Nested Film,2000,x,5")}
    )
    names = {f.name for f in read(make_zip(members), "export.zip").films}
    assert names == {"Heat", "Alien", "Dune", "Tenet", "Nope"}


def test_zip_with_only_a_ratings_csv_and_an_empty_watched_csv() -> None:
    members = {
        "ratings.csv": ISSUE_SAMPLE,
        "watched.csv": WATCHED_HEADER + "\n",
        "diary.csv": b"",
    }
    export = read(make_zip(members), "export.zip")
    assert len(export.films) == 7
    assert export.files_read == ("ratings.csv", "watched.csv", "diary.csv")


def test_zip_member_of_nul_bytes_is_refused() -> None:
    members = {
        "ratings.csv": b"\x00" * 500,
        "watched.csv": csv_text(WATCHED_HEADER, "x,Heat,1995,y"),
    }
    assert error_of(make_zip(members), "export.zip").startswith(
        "ratings.csv holds only NUL bytes, no text: it is blank or was damaged in download."
    )


def test_zip_watched_only_user_gets_watched_films() -> None:
    members = {
        "ratings.csv": RATINGS_HEADER + "\n",
        "watched.csv": csv_text(WATCHED_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8"),
    }
    assert read(make_zip(members), "export.zip").films == (
        ExportFilm("Heat", 1995, "https://boxd.it/aaa8", None),
    )


def test_zip_cinderellas_stay_apart_and_ambiguous_diary_rows_do_not_join() -> None:
    members = {
        "ratings.csv": ISSUE_SAMPLE,
        "watched.csv": csv_text(
            WATCHED_HEADER,
            "2024-01-01,Cinderella,1922,https://boxd.it/ab14",
            "2024-01-01,Cinderella,1922,https://boxd.it/ab13",
        ),
        "diary.csv": csv_text(
            DIARY_HEADER,
            "2024-01-01,Cinderella,1922,https://boxd.it/1xZ,1,,,2024-01-01",
            "2024-01-01,Heat,1995,https://boxd.it/1xY,1,,,2024-01-01",
            "2024-01-01,Yí (Endless River),2019,https://boxd.it/1xX,1,,,2024-01-01",
            "2024-01-01,Diary Only Film,2010,https://boxd.it/1xW,2,,,2024-01-01",
        ),
    }
    export = read(make_zip(members), "export.zip")
    # Heat keeps its ratings.csv rating; the Cinderella diary row fits two films and joins none.
    assert export.films == (
        *read(ISSUE_SAMPLE).films,
        ExportFilm("Diary Only Film", 2010, "", 2.0),
    )
    cinderellas = [f for f in export.films if f.name == "Cinderella"]
    assert [(f.uri, f.rating) for f in cinderellas] == [
        ("https://boxd.it/ab13", 3.0),
        ("https://boxd.it/ab14", 3.5),
    ]


def test_zip_diary_matches_names_across_dash_and_space_variants() -> None:
    members = {
        "watched.csv": csv_text(
            WATCHED_HEADER, "2024-01-01,Star Wars: Episode III –\u00a0Revenge of the Sith,2005,x"
        ),
        "diary.csv": csv_text(
            DIARY_HEADER,
            "2024-01-01,star wars: episode iii - revenge of the sith,2005,y,4,,,2024-01-01",
        ),
    }
    assert read(make_zip(members), "export.zip").films == (
        ExportFilm("Star Wars: Episode III –\u00a0Revenge of the Sith", 2005, "x", 4.0),
    )


def test_zip_without_uris_joins_by_name_and_year_across_files() -> None:
    members = {
        "ratings.csv": csv_text(RATINGS_HEADER, "2012-07-25,Red Cliff,2009,,3.5"),
        "watched.csv": csv_text(WATCHED_HEADER, "2012-07-25,Red Cliff,2009,"),
        "watchlist.csv": csv_text(WATCHED_HEADER, "2012-07-25,Red Cliff,2009,"),
    }
    assert read(make_zip(members), "export.zip").films == (
        ExportFilm("Red Cliff", 2009, "", 3.5, in_watchlist=True),
    )


def test_diary_joins_a_liked_film() -> None:
    members = {
        "diary.csv": csv_text(DIARY_HEADER, "2024-01-01,Heat,1995,https://boxd.it/1xA,4,,,2024"),
        "likes/films.csv": csv_text(WATCHED_HEADER, "2024-01-01,Heat,1995,https://boxd.it/aaa8"),
    }
    export = read(make_zip(members), "export.zip")
    # Likes are merged before the diary, so the liked film exists when the diary joins it.
    assert export.films == (ExportFilm("Heat", 1995, "https://boxd.it/aaa8", 4.0, liked=True),)


def test_film_without_uri_adopts_the_uri_another_file_gives_it() -> None:
    members = {
        "ratings.csv": csv_text(RATINGS_HEADER, "2012-07-25,Red Cliff,2009,,3.5"),
        "watched.csv": csv_text(WATCHED_HEADER, "2012-07-25,Red Cliff,2009,https://boxd.it/rc"),
        "watchlist.csv": csv_text(WATCHED_HEADER, "2012-07-25,Red Cliff,2009,https://boxd.it/rc"),
    }
    assert read(make_zip(members), "export.zip").films == (
        ExportFilm("Red Cliff", 2009, "https://boxd.it/rc", 3.5, in_watchlist=True),
    )


# --------------------------------------------------------------------------------------------
# Bad uploads


def test_movielens_ratings_csv_is_refused() -> None:
    text = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n"
    assert error_of(text) == (
        "ratings.csv is not a Letterboxd export (it looks like a MovieLens ratings file): its "
        "columns are userId, movieId, rating, timestamp, but Letterboxd files have Date, Name, "
        "Year, Letterboxd URI. Upload ratings.csv or the whole export zip from Letterboxd "
        f"({HINT})."
    )


def test_random_columns_are_refused() -> None:
    assert error_of("foo,bar\n1,2\n", "data.csv") == (
        "data.csv is not a Letterboxd export: its columns are foo, bar, but Letterboxd files "
        "have Date, Name, Year, Letterboxd URI. Upload ratings.csv or the whole export zip from "
        f"Letterboxd ({HINT})."
    )


def test_list_table_without_banner_is_refused() -> None:
    text = "Position,Name,Year,URL,Description\n1,The Class,2007,https://boxd.it/1q08,\n"
    assert "is a Letterboxd list export, not your films" in error_of(text, "list.csv")


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE])
def test_empty_file_is_refused(data: bytes) -> None:
    assert error_of(data) == (
        "ratings.csv is empty. Upload ratings.csv or the whole export zip from Letterboxd "
        f"({HINT})."
    )


def test_nul_bytes_are_refused() -> None:
    assert error_of(b"\x00" * 434).startswith("ratings.csv holds only NUL bytes, no text")


def test_binary_data_is_refused() -> None:
    data = bytes(range(256)) * 4
    assert error_of(data, "photo.jpg") == (
        "photo.jpg is not a CSV file: it holds binary data. Upload ratings.csv or the whole "
        f"export zip from Letterboxd ({HINT})."
    )


def test_header_without_films_is_refused() -> None:
    assert error_of(RATINGS_HEADER + "\r\n") == (
        "ratings.csv has no films: it has column names but no film rows. Rate or log some films "
        f"on Letterboxd, export again ({HINT}) and upload ratings.csv or the whole zip."
    )


def test_zip_without_films_is_refused() -> None:
    members = {"ratings.csv": RATINGS_HEADER + "\n", "watched.csv": WATCHED_HEADER + "\n"}
    assert error_of(make_zip(members), "export.zip") == (
        "export.zip has no films: ratings.csv, watched.csv hold no film rows. Log or rate some "
        f"films on Letterboxd, export again ({HINT}) and upload the new zip."
    )


ZIP_HINT = f"Upload the zip exactly as Letterboxd made it ({HINT}), or just its ratings.csv."


@pytest.mark.parametrize(
    "members",
    [
        {"profile.csv": "Username\nx\n", "reviews.csv": "a\n", "lists/a.csv": "a\n"},
        {"watchlist.csv": csv_text(WATCHED_HEADER, "2024-01-01,Nope,2022,x")},
        {"deleted/ratings.csv": ISSUE_SAMPLE, "likes/films.csv": ISSUE_SAMPLE},
        {},
    ],
    ids=["other-files", "watchlist-only", "wrong-folders", "empty-zip"],  # nested: hostile suite
)
def test_zip_without_export_files_is_refused(members: dict[str, str | bytes]) -> None:
    assert error_of(make_zip(members), "export.zip") == (
        "export.zip has no ratings.csv, watched.csv or diary.csv, so it is not a Letterboxd "
        f"export. {ZIP_HINT}"
    )


def test_two_exports_in_one_zip_are_refused() -> None:
    members = {"a/ratings.csv": ISSUE_SAMPLE, "b/ratings.csv": ISSUE_SAMPLE}
    assert error_of(make_zip(members), "export.zip") == (
        "export.zip holds more than one export (a/ and b/). Upload one export at a time."
    )


CORRUPT_ZIP = (
    "export.zip is not a readable zip file (it is damaged or incomplete). Download your export "
    f"again from Letterboxd ({HINT}) and upload the new zip, or just its ratings.csv."
)


@pytest.mark.parametrize("cut", [10, 100, -30, -1])
def test_truncated_zip_is_refused(cut: int) -> None:
    data = make_zip(full_export())
    assert error_of(data[:cut], "export.zip") == CORRUPT_ZIP


def test_zip_with_damaged_member_data_is_refused() -> None:
    data = bytearray(make_zip({"ratings.csv": ISSUE_SAMPLE * 20}))
    data[60:80] = b"\xff" * 20  # inside the compressed ratings.csv
    assert error_of(bytes(data), "export.zip") == CORRUPT_ZIP


def test_zip_name_with_binary_content_is_a_corrupt_zip() -> None:
    assert error_of(os.urandom(64) + b"\x00", "export.zip") == CORRUPT_ZIP


def test_zip_name_with_text_that_is_no_export_is_a_corrupt_zip() -> None:
    # A text file named .zip: its first line is not a CSV's columns worth naming.
    assert error_of(b"not a zip\njust some text\n", "export.zip") == CORRUPT_ZIP


def test_ratings_csv_renamed_zip_is_still_read() -> None:
    export = read_export(ISSUE_SAMPLE.encode(), "export.zip")
    assert [(f.name, f.rating) for f in export.rated][:3] == [
        ("Monsters, Inc.", 4.0),
        ("Some Upcoming Film", 4.0),
        ("Heat", 3.5),
    ]


def test_encrypted_zip_member_is_refused() -> None:
    data = mark_encrypted(make_zip({"ratings.csv": ISSUE_SAMPLE}))
    assert error_of(data, "export.zip") == (
        "export.zip is password-protected (ratings.csv is encrypted). Upload the zip as "
        "Letterboxd made it, without a password, or just its ratings.csv."
    )


@pytest.mark.parametrize(
    "bad_path", ["../ratings.csv", "export/../../x.csv", "/etc/ratings.csv", "C:/x/ratings.csv"]
)
def test_zip_with_paths_leaving_its_folder_is_refused(bad_path: str) -> None:
    data = make_zip({"ratings.csv": ISSUE_SAMPLE, bad_path: ISSUE_SAMPLE})
    assert error_of(data, "export.zip") == (
        f'export.zip holds a file whose path leaves its folder ("{bad_path}"), so Letterboxd '
        f"did not make it and it will not be opened. {ZIP_HINT}"
    )


def test_zip_bomb_refused_by_declared_sizes() -> None:
    bomb = RATINGS_HEADER + "\n" + " " * 3_000_000
    data = make_zip({"ratings.csv": bomb})
    assert len(data) < 20_000
    assert error_of(data, "export.zip", max_uncompressed_bytes=1_000_000) == (
        "export.zip would unpack to more than 1.0 MB, the limit (a Letterboxd export of 10,000 "
        f"films is about 1 MB). {ZIP_HINT}"
    )


def test_zip_bomb_refused_while_reading_when_headers_lie(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the declared sizes said nothing: the streamed byte count must still stop it.
    monkeypatch.setattr(zip_files, "_declared_size", lambda infos: 0)
    members = {
        "ratings.csv": RATINGS_HEADER + "\n" + " " * 600_000,
        "watched.csv": WATCHED_HEADER + "\n" + " " * 600_000,
    }
    message = error_of(make_zip(members), "export.zip", max_uncompressed_bytes=1_000_000)
    assert message.startswith("export.zip would unpack to more than 1.0 MB, the limit")


def test_zip_bomb_with_default_limits() -> None:
    data = make_zip({"ratings.csv": b"Date,Name,Year,Letterboxd URI,Rating\n" + b"0" * 70_000_000})
    assert error_of(data, "export.zip").startswith("export.zip would unpack to more than 32 MB")


def test_zip_with_too_many_members_is_refused() -> None:
    members: dict[str, str | bytes] = {f"lists/list{i}.csv": "x" for i in range(30)}
    members["ratings.csv"] = ISSUE_SAMPLE
    assert error_of(make_zip(members), "export.zip", max_zip_members=20) == (
        f"export.zip holds 31 files, more than the 20 allowed. {ZIP_HINT}"
    )


def test_too_many_rows_are_refused() -> None:
    rows = [f"2024-01-01,Film {i},2000,https://boxd.it/f{i},4" for i in range(11)]
    assert error_of(csv_text(RATINGS_HEADER, *rows), max_rows=10) == (
        "ratings.csv has more than 10 film rows, the limit for one file. Upload your own "
        "Letterboxd export, or ask the bot's admin to raise BOXDREC_MAX_ROWS."
    )
    assert len(read(csv_text(RATINGS_HEADER, *rows[:10]), max_rows=10).films) == 10


def test_upload_size_is_checked_first() -> None:
    data = b"\x00" * 2_000_000  # would be refused as NUL bytes, but is first too big
    assert error_of(data, "export.zip", max_upload_bytes=1_000_000) == (
        "export.zip is 1.9 MB, more than the 1.0 MB limit (a Letterboxd export of 10,000 films "
        f"is about 1 MB). Upload ratings.csv or the whole export zip from Letterboxd ({HINT})."
    )


def test_read_export_file_checks_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_bytes(ISSUE_SAMPLE.encode() + b"2024-01-01,Heat,1995,,4\n" * 100)
    with pytest.raises(ExportError, match=r"^ratings\.csv is .* more than the .* limit"):
        read_export_file(path, ImportLimits(max_upload_bytes=1000))
    assert len(read_export_file(str(path), LIMITS).films) == 107


def test_read_export_file_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"^There is no file at .*nothing\.csv\. Check the path"):
        read_export_file(tmp_path / "nothing.csv", LIMITS)
    with pytest.raises(ExportError, match=r"is a folder\. Give the export zip or its ratings"):
        read_export_file(tmp_path, LIMITS)


def test_malformed_csv_is_an_export_error() -> None:
    text = RATINGS_HEADER + '\n2024-01-01,"' + "x" * 200_000 + '",2000,x,4\n'
    assert error_of(text).startswith("ratings.csv is not a readable CSV file (line 2: ")


def test_default_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOXDREC_MAX_ROWS", "3")
    with pytest.raises(ExportError, match="more than 3 film rows"):
        read_export(ISSUE_SAMPLE.encode(), "ratings.csv")


# --------------------------------------------------------------------------------------------
# Speed and robustness


def test_two_thousand_ratings_all_arrive() -> None:
    # Speed is measured in bench/, not asserted here; this checks a large file loses nothing.
    rows = [
        f"2024-01-01,Film number {i},{1950 + i % 70},https://boxd.it/a{i},4.5" for i in range(2000)
    ]
    data = csv_text(RATINGS_HEADER, *rows, newline="\r\n").encode()
    export = read_export(data, "ratings.csv", LIMITS)
    assert len(export.films) == 2000
    assert export.films[1999] == ExportFilm(
        "Film number 1999", 1950 + 1999 % 70, "https://boxd.it/a1999", 4.5
    )


FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
SMALL = ImportLimits(max_upload_bytes=100_000, max_uncompressed_bytes=200_000, max_rows=1000)


def _only_export_errors(data: bytes, filename: str) -> None:
    try:
        export = read_export(data, filename, SMALL)
    except ExportError as exc:
        message = str(exc)
        assert message and "\n" not in message
    else:
        assert isinstance(export, LetterboxdExport) and export.films


@FUZZ
@given(data=st.binary(max_size=2000), filename=st.sampled_from(["ratings.csv", "export.zip", ""]))
def test_random_bytes_raise_only_export_error(data: bytes, filename: str) -> None:
    _only_export_errors(data, filename)


_VALID_ZIP = make_zip(full_export("user/"))


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_VALID_ZIP) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    cut=st.integers(30, len(_VALID_ZIP)),
)
def test_damaged_zips_raise_only_export_error(edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_VALID_ZIP)
    for position, value in edits:
        data[position] = value
    _only_export_errors(bytes(data[:cut]), "export.zip")


@FUZZ
@given(
    rows=st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=7), min_size=0, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_random_csv_cells_raise_only_export_error(rows: list[list[str]], delimiter: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["Date", "Name", "Year", "Letterboxd URI", "Rating", "Rewatch", "Watched Date"])
    writer.writerows(rows)
    _only_export_errors(buffer.getvalue().encode("utf-8", "surrogatepass"), "diary.csv")

"""Matching Letterboxd (name, year) to MovieLens movieIds.

Every rule is checked against the real ml-32m catalogue (the ``catalogue`` fixture); a tiny
hand-made catalogue checks what the real one cannot show on demand (ties, file order).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest

from recommender.export import ExportFilm
from recommender.matching import MatchedFilm, MatchReport, MatchStatus, TitleMatcher
from recommender.movielens import Catalogue

MATCHED, AMBIGUOUS, DUPLICATE, NOT_FOUND = (
    MatchStatus.MATCHED,
    MatchStatus.AMBIGUOUS,
    MatchStatus.DUPLICATE,
    MatchStatus.NOT_FOUND,
)


@pytest.fixture(scope="module")
def matcher(catalogue: Catalogue) -> TitleMatcher:
    return TitleMatcher(catalogue)


def film(name: str, year: int | None, uri: str = "", rating: float | None = 4.0) -> ExportFilm:
    return ExportFilm(name=name, year=year, uri=uri, rating=rating)


def match_id(matcher: TitleMatcher, name: str, year: int | None) -> int | None:
    return matcher.match_one(name, year)[0]


# ------------------------------------------------------------- the cases of the issue


pytestmark = pytest.mark.movielens


def test_monsters_inc(matcher: TitleMatcher) -> None:
    assert matcher.match_one("Monsters, Inc.", 2001)[:2] == (4886, MATCHED)


def test_heat_exact_year_first(matcher: TitleMatcher) -> None:
    # MovieLens has Heat from 1963, 1972, 1986 and 1995.
    assert matcher.match_one("Heat", 1995)[:2] == (6, MATCHED)
    assert match_id(matcher, "Heat", 1986) == 131274


def test_war_of_the_worlds_chosen_by_evidence_and_flagged(matcher: TitleMatcher) -> None:
    movie_id, status, note = matcher.match_one("War of the Worlds", 2005)
    assert (movie_id, status) == (34048, AMBIGUOUS)
    assert "64997" in note and "34048" in note


def test_whiplash_prefers_the_feature_over_a_bare_short(matcher: TitleMatcher) -> None:
    # 166024 "Whiplash (2013)" is a short with 2 ratings and no genres; 112552 is the feature
    # (MovieLens dates it 2014, 38 ratings).
    movie_id, status, note = matcher.match_one("Whiplash", 2013)
    assert (movie_id, status) == (112552, AMBIGUOUS)
    assert "166024" in note
    assert matcher.match_one("Whiplash", 2014)[:2] == (112552, MATCHED)


def test_whiplash_feature_and_short_both_rated(matcher: TitleMatcher) -> None:
    """A user who rated the feature (2014) and the short (2013): both used, each on its film."""
    report = matcher.match(
        [
            film("Whiplash", 2014, "https://boxd.it/7d9m"),
            film("Whiplash", 2013, "https://boxd.it/4Vh0"),
        ]
    )
    feature, short = report.films
    assert (feature.movie_id, feature.status) == (112552, MATCHED)
    assert (short.movie_id, short.status) == (166024, AMBIGUOUS)
    assert not report.duplicate


def test_brackets_in_movielens_titles(matcher: TitleMatcher) -> None:
    # "High Tension (Haute tension) (Switchblade Romance) (2003)"
    assert match_id(matcher, "High Tension", 2003) == 33683
    assert match_id(matcher, "Switchblade Romance", 2003) == 33683
    assert match_id(matcher, "Haute Tension", 2003) == 33683
    # "Hidden (a.k.a. Cache) (Caché) (2005)"
    assert matcher.match_one("Caché", 2005)[:2] == (36276, MATCHED)
    assert match_id(matcher, "Cache", 2005) == 36276


def test_some_upcoming_film_without_year(matcher: TitleMatcher) -> None:
    movie_id, status, note = matcher.match_one("Some Upcoming Film", None)
    assert (movie_id, status) == (None, NOT_FOUND)
    assert note


def test_running_man_remake_is_not_the_1987_film(matcher: TitleMatcher) -> None:
    movie_id, status, note = matcher.match_one("The Running Man", 2025)
    assert movie_id != 3698
    assert (movie_id, status) == (None, NOT_FOUND)
    assert "3698" in note  # the note says what MovieLens has instead
    assert match_id(matcher, "The Running Man", 1987) == 3698


def test_star_wars_en_dash_and_no_break_space(matcher: TitleMatcher) -> None:
    assert match_id(matcher, "Star Wars: Episode III –\u00a0Revenge of the Sith", 2005) == 33493


def test_name_with_brackets_does_not_break(matcher: TitleMatcher) -> None:
    # Neither Yí nor Endless River is in ml-32m.
    for year in (2019, 2020, None):
        assert matcher.match_one("Yí (Endless River)", year)[:2] == (None, NOT_FOUND)
    assert matcher.match_one("Dìdi (弟弟)", 2024)[:2] == (None, NOT_FOUND)


def test_export_name_bracket_tried_whole_then_without(matcher: TitleMatcher) -> None:
    # Whole name first: MovieLens writes it with the bracket.
    assert match_id(matcher, "Birdman or (The Unexpected Virtue of Ignorance)", 2014) == 112183
    # Then without the bracket: "Something Good — Negro Kiss (1898)".
    movie_id, _, note = matcher.match_one("Something Good – Negro Kiss (Alternate Version)", 1898)
    assert movie_id == 278464
    assert "as 'Something Good – Negro Kiss'" in note


def test_naked_gun_fraction(matcher: TitleMatcher) -> None:
    assert match_id(matcher, "The Naked Gun 33⅓: The Final Insult", 1994) == 370


def test_two_cinderella_rows_are_duplicates(matcher: TitleMatcher) -> None:
    report = matcher.match(
        [
            film("Cinderella", 1922, "https://boxd.it/aaaa"),
            film("Heat", 1995, "https://boxd.it/2bfs"),
            film("Cinderella", 1922, "https://boxd.it/bbbb"),
        ]
    )
    first, heat, second = report.films
    for row in (first, second):
        assert row.movie_id == 205873
        assert row.status is DUPLICATE
        assert not row.in_model and not row.used
        assert "none used" in row.note
    assert heat.status is MATCHED and heat.used
    assert report.counts["duplicate"] == 2
    assert "2 duplicates not used" in report.summary_line()


def test_thousands_of_rows_of_one_film_keep_each_note_short(matcher: TitleMatcher) -> None:
    """16,000 rows naming The Matrix under different URIs: every note quoted every row, so
    memory grew with the square of the rows (3.7 GB, then MemoryError)."""
    rows = [film("The Matrix", 1999, f"https://boxd.it/s{k}") for k in range(16_000)]
    report = matcher.match(rows)
    assert report.counts["duplicate"] == 16_000
    assert {f.movie_id for f in report.films} == {2571}
    note = report.films[-1].note
    assert note.startswith(
        "16000 export rows land on 2571 'Matrix, The' ('The Matrix' (1999); 'The Matrix' "
        "(1999); 'The Matrix' (1999); and 15,997 more): none used"
    )
    assert max(len(f.note) for f in report.films) < 400


def test_same_film_twice_is_not_a_duplicate(matcher: TitleMatcher) -> None:
    """One film listed twice under its own URI (a real export does this) is one film."""
    uri = "https://boxd.it/1EmM"
    report = matcher.match(
        [film("(500) Days of Summer", 2009, uri), film("(500) Days of Summer", 2009, uri)]
    )
    assert [f.status for f in report.films] == [MATCHED, MATCHED]
    assert {f.movie_id for f in report.films} == {69757}


def test_rows_named_in_full_cannot_be_told_apart(matcher: TitleMatcher) -> None:
    """Red Cliff rated as 2008 and as 2009: both names fit 61026 in full, so neither is used."""
    report = matcher.match([film("Red Cliff", 2008, "u2008"), film("Red Cliff", 2009, "u2009")])
    assert [(f.movie_id, f.status) for f in report.films] == [(61026, DUPLICATE)] * 2


def test_a_row_named_in_full_keeps_its_film_over_a_partial_one(matcher: TitleMatcher) -> None:
    report = matcher.match(
        [
            film("Ma Rainey's Black Bottom", 2020, "https://boxd.it/film"),
            film(
                "Ma Rainey's Black Bottom: A Legacy Brought to Screen", 2020, "https://boxd.it/doc"
            ),
        ]
    )
    feature, documentary = report.films
    assert (feature.movie_id, feature.status) == (229037, MATCHED) and feature.used
    assert (documentary.movie_id, documentary.status) == (229037, DUPLICATE)
    assert not documentary.used and "not used" in documentary.note


# ------------------------------------------------------------------ normalisation rules


@pytest.mark.parametrize(
    ("name", "year", "movie_id"),
    [
        ("The Matrix", 1999, 2571),  # "Matrix, The"
        ("Das Boot", 1981, 1233),  # "Boot, Das (Boat, The)"
        ("The Boat", 1981, 1233),  # the bracketed alternate, article moved back too
        ("The City of Lost Children", 1995, 29),
        ("La Cité des enfants perdus", 1995, 29),  # "(Cité des enfants perdus, La)"
        ("L'Enfer", 1994, 264),  # "Enfer, L'"
        ("L’Ours", 1988, 3412),  # "Bear, The (Ours, L')", curly apostrophe
        ("Amélie", 2001, 4973),  # "Amelie (Fabuleux destin d'Amélie Poulain, Le)"
        ("8½", 1963, 1251),  # "8 1/2 (8½)"
        ("Alien³", 1992, 1320),
        ("Alien 3", 1992, 1320),  # "(a.k.a. Alien 3)"
        ("Tom and Viv", 1994, 331),  # "Tom & Viv"
        ("Dumb and Dumber", 1994, 231),
        ("Don’t Look Up", 2021, 263407),
        ("Monsters Inc", 2001, 4886),
        ("MONSTERS, INC.", 2001, 4886),
    ],
)
def test_normalised_titles(matcher: TitleMatcher, name: str, year: int, movie_id: int) -> None:
    assert match_id(matcher, name, year) == movie_id


@pytest.mark.parametrize(
    ("name", "year", "movie_id"),
    [
        ("Guardians of the Galaxy Vol. 2", 2017, 122918),  # "Guardians of the Galaxy 2"
        ("Guardians of the Galaxy Vol. 3", 2023, 285593),  # "... Volume 3"
        ("Men in Black 3", 2012, 94777),  # "Men in Black III (M.III.B.) (M.I.B.³)"
        ("Ocean's Eight", 2018, 189363),  # "Ocean's 8"
        ("Avengers: Infinity War", 2018, 122912),  # "... - Part I"
        ("Fear Street: 1994", 2021, 253138),  # "Fear Street Part One: 1994"
        ("Oldboy", 2003, 27773),  # "Old Boy"
    ],
)
def test_loose_titles_need_the_same_year(
    matcher: TitleMatcher, name: str, year: int, movie_id: int
) -> None:
    assert matcher.match_one(name, year)[:2] == (movie_id, MATCHED)
    assert match_id(matcher, name, year + 1) != movie_id


def test_part_of_a_title_prefers_the_closest_film(matcher: TitleMatcher) -> None:
    # Both "Ice Age 4: Continental Drift" and the short "Ice Age Continental Drift: Scrat Got
    # Your Tongue" (2012) share part of the name; the feature shares more of its words.
    movie_id, status, note = matcher.match_one("Ice Age: Continental Drift", 2012)
    assert (movie_id, status) == (95543, AMBIGUOUS)
    assert "219105" in note
    # Sharing only the series name is not enough: "Star Wars: Threads of Destiny" (2014).
    assert match_id(matcher, "Star Wars: The Force Awakens", 2014) is None


@pytest.mark.parametrize(
    ("name", "year", "movie_id"),
    [
        ("Star Wars", 1977, 260),  # "Star Wars: Episode IV - A New Hope"
        ("The Empire Strikes Back", 1980, 1196),
        ("Star Wars: The Force Awakens", 2015, 122886),
        ("Glass Onion", 2022, 278702),  # "Glass Onion: A Knives Out Mystery"
    ],
)
def test_part_of_a_title_same_year_is_used_but_flagged(
    matcher: TitleMatcher, name: str, year: int, movie_id: int
) -> None:
    assert matcher.match_one(name, year)[:2] == (movie_id, AMBIGUOUS)
    assert match_id(matcher, name, year - 1) is None


# ----------------------------------------------------------------------------- years


def test_year_off_by_one_when_unique(matcher: TitleMatcher) -> None:
    # "Red Cliff (Chi bi) (2008)"; no other Red Cliff near 2009.
    movie_id, status, note = matcher.match_one("Red Cliff", 2009)
    assert (movie_id, status) == (61026, MATCHED)
    assert "2008" in note
    assert match_id(matcher, "Red Cliff", 2010) is None  # two years: never


def test_no_year_in_export_needs_a_unique_title(matcher: TitleMatcher) -> None:
    movie_id, status, note = matcher.match_one("Monsters, Inc.", None)
    assert (movie_id, status) == (4886, AMBIGUOUS)
    assert "no year" in note
    movie_id, status, note = matcher.match_one("Heat", None)
    assert (movie_id, status) == (None, NOT_FOUND)
    assert "no year" in note and "6 'Heat' (1995)" in note
    assert matcher.match_one("", None)[:2] == (None, NOT_FOUND)
    assert matcher.match_one("   ", 2001)[:2] == (None, NOT_FOUND)


def test_movielens_film_without_year(matcher: TitleMatcher, catalogue: Catalogue) -> None:
    # 162414 "Moonlight" has no year in MovieLens; 186079 is "Moonlight (2002)".
    assert pd.isna(catalogue.movies.at[162414, "year"])
    movies = catalogue.movies
    yeared = movies[(movies["title"] == "Moonlight") & (movies["year"] == 2016)]
    assert yeared.empty  # no yeared "Moonlight (2016)" to prefer
    movie_id, status, note = matcher.match_one("Moonlight", 2016)
    assert (movie_id, status) == (162414, MATCHED)
    assert "no year" in note
    # A yeared film within a year wins over the year-less one.
    assert match_id(matcher, "Moonlight", 2002) == 186079
    assert match_id(matcher, "Moonlight", 2003) == 186079
    # Its IMDb id (tt4975722) was handed out around 2016: not a 1990 film.
    assert match_id(matcher, "Moonlight", 1990) is None


def test_remake_is_never_matched_to_another_years_film(matcher: TitleMatcher) -> None:
    assert match_id(matcher, "Dune", 2021) == 254726
    assert match_id(matcher, "Dune", 1984) == 2021
    assert match_id(matcher, "Dune", 2000) == 7842  # the miniseries
    for year in (1990, 2010, 2024):
        assert match_id(matcher, "Dune", year) is None


def test_tied_evidence_is_flagged_and_named(matcher: TitleMatcher) -> None:
    # Two "Split (2016)" entries, neither rated in ml-latest-small.
    movie_id, status, note = matcher.match_one("Split", 2016)
    assert status is AMBIGUOUS
    assert movie_id in {250950, 288357}
    assert "tied on ratings" in note
    assert "250950" in note and "288357" in note


def test_model_membership_is_evidence_and_reported(catalogue: Catalogue) -> None:
    # Only the little-rated War of the Worlds is in the model: ratings still come first.
    matcher = TitleMatcher(catalogue, model_ids={64997, 4886})
    report = matcher.match(
        [
            film("War of the Worlds", 2005, "u1"),
            film("Monsters, Inc.", 2001, "u2"),
            film("Heat", 1995, "u3"),
        ]
    )
    wotw, monsters, heat = report.films
    assert wotw.movie_id == 34048 and not wotw.in_model
    assert monsters.in_model and monsters.used
    assert heat.status is MATCHED and not heat.in_model and not heat.used
    assert report.counts["not_in_model"] == 2
    assert [f.film.name for f in report.not_in_model] == ["War of the Worlds", "Heat"]
    assert "2 not in the model" in report.summary_line()


# ------------------------------------------------------------------------ the report


def test_report_counts_records_and_summary(matcher: TitleMatcher) -> None:
    films = [
        film("Monsters, Inc.", 2001, "https://boxd.it/a"),
        film("War of the Worlds", 2005, "https://boxd.it/b"),
        film("Some Upcoming Film", None, "https://boxd.it/c"),
        film("Cinderella", 1922, "https://boxd.it/d"),
        film("Cinderella", 1922, "https://boxd.it/e"),
    ]
    report = matcher.match(films)
    assert isinstance(report, MatchReport)
    assert all(isinstance(f, MatchedFilm) for f in report.films)
    assert [f.film for f in report.films] == films  # export order kept
    assert report.counts == {
        "total": 5,
        "matched": 1,
        "ambiguous": 1,
        "duplicate": 2,
        "not_in_movielens": 1,
        "not_in_model": 0,
    }
    assert len(report.used) == 2
    assert [f.film.name for f in report.not_in_movielens] == ["Some Upcoming Film"]
    line = report.summary_line()
    assert line.startswith("matched 2 of 5 (1 ambiguous")
    assert "2 duplicates not used" in line and "1 not in MovieLens" in line
    records = report.to_records()
    assert records[1] == {
        "name": "War of the Worlds",
        "year": 2005,
        "letterboxd_uri": "https://boxd.it/b",
        "movie_id": 34048,
        "status": "ambiguous",
        "in_model": True,
        "note": records[1]["note"],
    }
    assert records[2]["movie_id"] is None and records[2]["status"] == "not_in_movielens"
    assert (
        MatchReport(()).summary_line() == "matched 0 of 0; 0 not in MovieLens; 0 not in the model"
    )


def test_two_thousand_films_keep_their_order(matcher: TitleMatcher, catalogue: Catalogue) -> None:
    # Speed is measured in bench/request.py; here: a large export loses and reorders nothing.
    rng = random.Random(7)
    titles = catalogue.movies["title"].tolist()
    names = [titles[rng.randrange(len(titles))] for _ in range(1_500)]
    films = [film(n, 1990 + i % 30, f"u{i}") for i, n in enumerate(names)]
    films += [film(f"Unknown Film {i}", 2024, f"x{i}") for i in range(500)]
    report = matcher.match(films)
    assert [m.film for m in report.films] == films
    assert all(m.status is MatchStatus.NOT_FOUND for m in report.films[1_500:])


# --------------------------------------------------- a hand-made catalogue for ties


def _tiny_catalogue(rows: list[tuple[int, str, str, int]]) -> Catalogue:
    """A catalogue from (movieId, "Title (Year)", genres, popularity) rows."""
    from recommender.movielens import split_title_year

    parts = [split_title_year(raw) for _, raw, _, _ in rows]
    movies = pd.DataFrame(
        {
            "title": [p[0] for p in parts],
            "year": pd.array([p[1] for p in parts], dtype="Int64"),
            "genres": [g for _, _, g, _ in rows],
            "raw_title": [raw for _, raw, _, _ in rows],
            "imdbId": pd.array([None] * len(rows), dtype="Int64"),
            "tmdbId": pd.array([None] * len(rows), dtype="Int64"),
            "popularity": [p for _, _, _, p in rows],
        },
        index=pd.Index([i for i, _, _, _ in rows], name="movieId"),
    )
    return Catalogue(movies=movies, source="tiny")


@pytest.mark.parametrize("seed", range(4))
def test_tie_break_ignores_file_and_id_order(seed: int) -> None:
    rows = [
        (10, "Twin (2001)", "(no genres listed)", 3),
        (20, "Twin (2001)", "Drama", 3),  # same ratings, but has genres
        (30, "Twin (2001)", "(no genres listed)", 1),
        (40, "Other (1999)", "Drama", 0),
    ]
    random.Random(seed).shuffle(rows)
    matcher = TitleMatcher(_tiny_catalogue(rows))
    movie_id, status, note = matcher.match_one("Twin", 2001)
    assert (movie_id, status) == (20, AMBIGUOUS)
    assert "decided by having genres" in note


def test_model_membership_breaks_a_ratings_tie() -> None:
    rows = [(1, "Twin (2001)", "Drama", 5), (2, "Twin (2001)", "Drama", 5)]
    assert TitleMatcher(_tiny_catalogue(rows), model_ids={2}).match_one("Twin", 2001)[0] == 2
    assert TitleMatcher(_tiny_catalogue(rows), model_ids={1}).match_one("Twin", 2001)[0] == 1


def test_off_by_one_needs_a_unique_candidate() -> None:
    rows = [(1, "Twin (2000)", "Drama", 5), (2, "Twin (2002)", "Drama", 5)]
    movie_id, status, _ = TitleMatcher(_tiny_catalogue(rows)).match_one("Twin", 2001)
    assert (movie_id, status) == (None, NOT_FOUND)


def test_exact_year_with_genres_beats_a_popular_neighbour() -> None:
    """The Whiplash rule needs a bare exact-year entry: a real film of that year stays."""
    rows = [(1, "Island, The (2005)", "Action", 31), (2, "Island, The (2006)", "Drama", 1)]
    assert TitleMatcher(_tiny_catalogue(rows)).match_one("The Island", 2006)[:2] == (2, MATCHED)


def test_empty_catalogue_and_missing_columns() -> None:
    empty = _tiny_catalogue([])
    report = TitleMatcher(empty).match([film("Heat", 1995), film("", None)])
    assert [f.status for f in report.films] == [NOT_FOUND, NOT_FOUND]
    bare = _tiny_catalogue([(6, "Heat (1995)", "Drama", 0)])
    movies = bare.movies.drop(columns=["imdbId", "tmdbId", "popularity"])
    matcher = TitleMatcher(Catalogue(movies=movies, source="bare"))
    assert matcher.match_one("Heat", 1995)[:2] == (6, MATCHED)

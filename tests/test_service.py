"""RecommenderService on real Letterboxd exports: exclusions, order, stars, reasons and links."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lb_factories import RATINGS_HEADER, WATCHED_HEADER, csv_text, make_zip

from recommender.errors import BoxdrecError
from recommender.evidence import LOW_STARS, NEUTRAL
from recommender.export import LetterboxdExport
from recommender.matching import MatchReport, MatchStatus
from recommender.scaling import fit_user_scale
from recommender.service import (
    COLD_START_RATED,
    SHOWN_BLOCK,
    RecommendationResult,
    RecommenderService,
    display_title,
    stars_text,
)

URL = re.compile(r"https://letterboxd\.com/tmdb/(\d+)/")

# A crime lover who dislikes romance: twelve well-known films, all in ml-latest-small.
CRIME_FAN = [
    ("The Godfather", 1972, 5),
    ("Goodfellas", 1990, 5),
    ("Casino", 1995, 4.5),
    ("Reservoir Dogs", 1992, 4.5),
    ("Collateral", 2004, 4),
    ("L.A. Confidential", 1997, 4.5),
    ("The Usual Suspects", 1995, 5),
    ("Se7en", 1995, 4.5),
    ("Toy Story", 1995, 1.5),
    ("Titanic", 1997, 1),
    ("The Notebook", 2004, 1),
    ("Mamma Mia!", 2008, 0.5),
]


def rating_rows(films: list[tuple[str, int, float]]) -> list[str]:
    return [f"2024-01-01,{n},{y},https://boxd.it/t{i},{r}" for i, (n, y, r) in enumerate(films)]


@pytest.fixture(scope="module")
def real(letterboxd_dir: Path) -> Path:
    return letterboxd_dir / "real"


@pytest.fixture(scope="module")
def crime_fan(service: RecommenderService) -> LetterboxdExport:
    return service.read_export(csv_text(RATINGS_HEADER, *rating_rows(CRIME_FAN)).encode(), "r.csv")


@pytest.fixture(scope="module")
def crime_all(service: RecommenderService, crime_fan: LetterboxdExport) -> RecommendationResult:
    """Every film the model can recommend to the crime fan, ranked."""
    return service.recommend(crime_fan, n=len(service.model.item_ids))


def seen_ids(report: MatchReport) -> set[int]:
    """Every movieId the export shows as watched, whatever its match status."""
    return {f.movie_id for f in report.films if f.movie_id is not None and f.film.watched}


def blended_scores(
    service: RecommenderService, positions: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Every film's score written out from the model's two halves (ranking.user_scores): the
    NMF fold-in's w H and the item-item weights summed over the liked films, each divided by
    its spread over every film, the second times its weight; and those two scales."""
    w = service.foldin.transform(positions, values)
    nmf = service.foldin.scores(w).astype(np.float64)
    pairs = service.foldin.item_item
    assert pairs is not None  # the session model has both halves
    other = np.asarray(pairs.matrix[positions[values > 0]].sum(axis=0), dtype=np.float64).ravel()
    nmf_scale, item_scale = 1.0 / nmf.std(), pairs.weight / other.std()
    return nmf * nmf_scale + other * item_scale, nmf_scale, item_scale


def user_vector(service: RecommenderService, export: LetterboxdExport, report: MatchReport):
    """The user's model columns and scaled values, rebuilt from the documented rules.

    Rated films that are matched or ambiguous and in the model; below COLD_START_RATED of them,
    watched-but-unrated films join at the neutral value. Duplicates are never used. The scale
    comes from every rating of the export.
    """
    scale = fit_user_scale(np.array([f.rating for f in export.rated], dtype=np.float64))
    used = [f for f in report.films if f.status in (MatchStatus.MATCHED, MatchStatus.AMBIGUOUS)]
    used = [f for f in used if f.in_model]
    chosen = [f for f in used if f.film.rating is not None]
    if len(chosen) < COLD_START_RATED:
        chosen += [f for f in used if f.film.rating is None and f.film.watched]
    ids = np.array([f.movie_id for f in chosen], dtype=np.int64)
    positions = service.model.positions(ids)
    assert (positions >= 0).all()
    # A rating below the user's average, or at most LOW_STARS, is not evidence for anything.
    values = np.array(
        [
            NEUTRAL
            if f.film.rating is None
            else float(scale.to_unit(np.array(f.film.rating)))
            if f.film.rating >= scale.mean and f.film.rating > LOW_STARS
            else 0.0
            for f in chosen
        ]
    )
    return ids, positions, values


def check_result(service: RecommenderService, result: RecommendationResult, n: int) -> None:
    """The properties every recommendation list has."""
    items = result.items
    assert len(items) == n
    assert [r.rank for r in items] == list(range(1, n + 1))
    # The model's order in blocks of SHOWN_BLOCK, each block shown by predicted stars (ties
    # by the model's score), every block's films scored above the next block's.
    blocks = [items[i : i + SHOWN_BLOCK] for i in range(0, n, SHOWN_BLOCK)]
    for block in blocks:
        keys = [(-(r.predicted_stars or 0.0), -r.score) for r in block]
        assert keys == sorted(keys)
    for block, after in itertools.pairwise(blocks):
        assert min(r.score for r in block) >= max(r.score for r in after)
    assert len({r.movie_id for r in items}) == n
    assert not {r.movie_id for r in items} & seen_ids(result.report)
    model_ids = set(service.model.item_ids.tolist())
    for r in items:
        assert r.movie_id in model_ids
        assert r.title == display_title(service.catalogue.movies.at[r.movie_id, "raw_title"])
        m = URL.fullmatch(r.letterboxd_url or "")
        assert m, r.letterboxd_url
        assert int(m.group(1)) == service.catalogue.movies.at[r.movie_id, "tmdbId"]


def test_recommend_real_export(service: RecommenderService, real: Path):
    export = service.read_export_file(real / "ratings_2022_empty_year_crlf.csv")
    result = service.recommend(export, n=25)
    check_result(service, result, 25)
    report = result.report
    ratings = {f.movie_id: f.film.rating for f in report.used}
    names = {f.movie_id: (f.film.name, f.film.year) for f in report.used}
    for r in result.items:
        assert 0.5 <= r.predicted_stars <= 5.0
        assert r.predicted_stars == round(r.predicted_stars, 1)
        assert r.reason.startswith("Because you rated ")
        assert not r.on_watchlist
        assert 1 <= len(r.drivers) <= 3
        parts = []
        for d in r.drivers:
            # A driver is one of the user's own rated films, named as the export names it,
            # with the stars the export gives.
            assert d.movie_id in ratings
            assert d.stars == ratings[d.movie_id]
            assert (d.title, d.year) == names[d.movie_id]
            parts.append(f"{d.title} {stars_text(d.stars)}")
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        assert r.reason == "Because you rated " + joined
    assert result.n_rated_used == len([f for f in report.used if f.film.rating is not None])
    assert result.n_watched_used == 0
    assert result.user_mean == pytest.approx(np.mean([f.rating for f in export.rated]))
    assert result.model_name == "ml-latest-small"


def test_every_watched_film_and_nothing_else_is_excluded(service: RecommenderService, real: Path):
    # Ask for every film: the list is exactly the model's films minus those the export shows as
    # watched, including the films of its duplicate and ambiguous rows.
    export = service.read_export_file(real / "ratings_2017_slug_uris_crlf.csv")
    report = service.match(export)
    model_ids = set(service.model.item_ids.tolist())
    dup_ids = {f.movie_id for f in report.duplicate} & model_ids
    amb_ids = {f.movie_id for f in report.ambiguous} & model_ids
    assert amb_ids  # this export has ambiguous rows the model knows
    excluded = seen_ids(report) & model_ids
    assert dup_ids <= excluded and amb_ids <= excluded
    assert 6 in excluded  # Heat (1995), rated 4
    result = service.recommend(export, n=len(model_ids))
    got = {r.movie_id for r in result.items}
    assert len(result.items) == len(model_ids) - len(excluded)
    assert got == model_ids - excluded


def test_only_matched_and_ambiguous_rows_are_used(service: RecommenderService, real: Path):
    # The scores are exactly those of the user vector built from the matched and ambiguous
    # rows: duplicate rows do not feed the fold-in, ambiguous ones do.
    export = service.read_export_file(real / "ratings_2017_slug_uris_crlf.csv")
    result = service.recommend(export, n=10)
    report = result.report
    ids, positions, values = user_vector(service, export, report)
    assert {f.movie_id for f in report.ambiguous if f.in_model} <= set(ids.tolist())
    w = service.foldin.transform(positions, values)
    expected, _, _ = blended_scores(service, positions, values)
    for r in result.items:
        col = int(service.model.positions(np.array([r.movie_id]))[0])
        assert r.score == pytest.approx(float(expected[col]), rel=1e-5)
    assert result.n_rated_used == len(ids)
    # The check can tell: folding the duplicate rows in as well would move the scores.
    dups = [f for f in report.duplicate if f.movie_id in service.model.item_ids]
    assert dups
    scale = fit_user_scale(np.array([f.rating for f in export.rated]))
    w_dup = service.foldin.transform(
        np.concatenate([positions, service.model.positions(np.array([f.movie_id for f in dups]))]),
        np.concatenate([values, scale.to_unit(np.array([f.film.rating for f in dups]))]),
    )
    assert not np.allclose(w, w_dup, rtol=1e-6, atol=0)


def test_two_rows_on_one_film_are_excluded_and_not_used(
    service: RecommenderService, crime_all: RecommendationResult
):
    # Heat rated twice under two Letterboxd films (5 and 1 stars): a duplicate, so neither
    # rating is used, but Heat is still a film the user has seen.
    heat_rank = next(r.rank for r in crime_all.items if r.movie_id == 6)
    rows = [
        *rating_rows(CRIME_FAN),
        "2024-01-02,Heat,1995,https://boxd.it/heat1,5",
        "2024-01-02,Heat,1995,https://boxd.it/heat2,1",
    ]
    export = service.read_export(csv_text(RATINGS_HEADER, *rows).encode(), "ratings.csv")
    result = service.recommend(export, n=heat_rank + 5)
    report = result.report
    heat_rows = [f for f in report.films if f.film.name == "Heat"]
    assert [(f.movie_id, f.status) for f in heat_rows] == [(6, MatchStatus.DUPLICATE)] * 2
    assert 6 not in {r.movie_id for r in result.items}
    assert result.n_rated_used == len(CRIME_FAN)
    ids, positions, values = user_vector(service, export, report)
    assert 6 not in ids
    expected, _, _ = blended_scores(service, positions, values)
    for r in result.items:
        assert 6 not in {d.movie_id for d in r.drivers}
        col = int(service.model.positions(np.array([r.movie_id]))[0])
        assert r.score == pytest.approx(float(expected[col]), rel=1e-5)


def test_scores_decompose_exactly_over_the_users_films(service: RecommenderService, real: Path):
    # ranking.py: score_i = Σ_j [a x_j K(i, j) + b B(j, i) (x_j > 0)], K = H_Aᵀ G_AA⁻¹ H_A
    # over the active set A of w, B the item-item weights, a and b each half's scale.
    for name, n in [("ratings_small_crlf.csv", 5), ("ratings_2026_cjk.csv", 8)]:
        export = service.read_export_file(real / name)
        result = service.recommend(export, n=n)
        ids, positions, values = user_vector(service, export, result.report)
        w = service.foldin.transform(positions, values)
        active = np.flatnonzero(w > 0)
        assert active.size > 0
        _, nmf_scale, item_scale = blended_scores(service, positions, values)
        h = np.asarray(service.model.components, dtype=np.float64)
        gram = service.foldin.solver.gram[np.ix_(active, active)]
        ha = h[active]
        pairs = service.foldin.item_item.matrix
        for r in result.items:
            col = int(service.model.positions(np.array([r.movie_id]))[0])
            kernel_row = np.linalg.solve(gram, ha[:, col]) @ ha[:, positions]
            item_terms = pairs[positions, col].toarray().ravel() * (values > 0)
            contributions = nmf_scale * kernel_row * values + item_scale * item_terms
            assert contributions.sum() == pytest.approx(r.score, rel=1e-5)
            # The reason names the largest contributions, largest first.
            top = np.argsort(-contributions)[: len(r.drivers)]
            assert [d.movie_id for d in r.drivers] == [int(ids[j]) for j in top]


def test_watchlist_film_is_flagged_or_excluded(service: RecommenderService, crime_fan):
    plain = service.recommend(crime_fan, n=5)
    check_result(service, plain, 5)
    top = plain.items[0]
    assert not top.on_watchlist
    # The same ratings plus a watchlist holding the top pick (and a film the model lacks).
    ratings = csv_text(RATINGS_HEADER, *rating_rows(CRIME_FAN))
    watchlist = csv_text(
        WATCHED_HEADER,
        f"2024-02-01,{top.title},{top.year},https://boxd.it/wl1",
        "2024-02-02,Nope,2022,https://boxd.it/uj0Q",
    )
    data = make_zip({"ratings.csv": ratings, "watchlist.csv": watchlist})
    export = service.read_export(data, "letterboxd-export.zip")
    flagged = service.recommend(export, n=5)
    first = flagged.items[0]
    assert first.movie_id == top.movie_id
    assert first.on_watchlist
    assert first.reason == "On your watchlist. " + top.reason
    assert first.score == pytest.approx(top.score)  # the watchlist does not change the taste
    assert [r.movie_id for r in flagged.items] == [r.movie_id for r in plain.items]
    assert not any(r.on_watchlist for r in flagged.items[1:])

    skipped = service.recommend(export, n=5, exclude_watchlist=True)
    assert top.movie_id not in {r.movie_id for r in skipped.items}
    assert [r.movie_id for r in skipped.items][:4] == [r.movie_id for r in plain.items][1:]
    assert not any(r.on_watchlist for r in skipped.items)


def test_heat_links_to_its_tmdb_page(crime_all: RecommendationResult):
    heat = next(r for r in crime_all.items if r.movie_id == 6)
    assert (heat.title, heat.year) == ("Heat", 1995)
    assert heat.tmdb_id == 949
    assert heat.letterboxd_url == "https://letterboxd.com/tmdb/949/"
    assert heat.to_dict()["letterboxd_url"] == "https://letterboxd.com/tmdb/949/"
    assert "Crime" in heat.genres


def test_letterboxd_url_falls_back_to_imdb(crime_all: RecommendationResult):
    heat = next(r for r in crime_all.items if r.movie_id == 6)
    assert heat.imdb_id == 113277
    assert replace(heat, tmdb_id=None).letterboxd_url == "https://letterboxd.com/imdb/tt0113277/"
    assert replace(heat, tmdb_id=None, imdb_id=None).letterboxd_url is None


def test_only_duplicate_rows_say_so_rather_than_nothing_matched(service: RecommenderService):
    rows = [f"2024-01-01,The Matrix,1999,https://boxd.it/s{k},4" for k in range(300)]
    export = service.read_export(csv_text(RATINGS_HEADER, *rows).encode(), "ratings.csv")
    with pytest.raises(BoxdrecError) as info:
        service.recommend(export)
    assert str(info.value) == (
        "None of the 300 films in your export could be used: 300 rows land on a MovieLens film "
        "another row also names, so there is no telling which is meant. Upload your export as "
        "Letterboxd made it (each film once)."
    )


def test_nothing_matches(service: RecommenderService):
    export = service.read_export(
        csv_text(
            RATINGS_HEADER,
            "2024-01-01,Qwzx Vrrbl the Unfilmed,2031,https://boxd.it/zz1,4",
            "2024-01-01,Plonkety Zorvath,2032,https://boxd.it/zz2,2",
        ).encode(),
        "ratings.csv",
    )
    with pytest.raises(BoxdrecError) as info:
        service.recommend(export)
    message = str(info.value)
    assert message.startswith("None of the 2 films in your export matched a MovieLens film")
    assert "\n" not in message


def test_watchlist_only_export_is_told_what_is_missing(service: RecommenderService, real: Path):
    # BUG (recommender/service.py, RecommenderService.recommend, the check
    # `if user.positions.size == 0` at about line 164): an export holding only a watchlist
    # (real/watchlist_empty_years.csv; several of its films, e.g. Get Out (2017), ARE in the
    # model) is told "None of your films is one the model knows (it learned from 7,265
    # MovieLens films); rate a few better-known films...". That is false: the films are known,
    # they are just not watched or rated. Expected: a message saying the export has no
    # watched or rated films (it looks like a watchlist) and to upload ratings.csv or the zip.
    export = service.read_export_file(real / "watchlist_empty_years.csv")
    report = service.match(export)
    assert not any(f.watched for f in export.films)
    assert any(f.in_model for f in report.used)  # the model knows some of these films
    with pytest.raises(BoxdrecError) as info:
        service.recommend(export)
    message = str(info.value)
    assert "None of your films is one the model knows" not in message
    assert "watchlist" in message


def test_cold_start_from_watched_only(service: RecommenderService, real: Path):
    export = service.read_export_file(real / "watched_2604.csv")
    assert not export.rated
    result = service.recommend(export, n=10)
    check_result(service, result, 10)
    assert result.n_rated_used == 0
    assert result.n_watched_used == len([f for f in result.report.used if f.film.watched])
    assert result.n_watched_used > COLD_START_RATED
    assert result.user_mean is None
    watched = {f.movie_id: (f.film.name, f.film.year) for f in result.report.used}
    for r in result.items:
        assert r.predicted_stars is None
        assert r.reason.startswith("Because you watched ")
        assert r.drivers
        for d in r.drivers:
            assert d.stars is None
            assert (d.title, d.year) == watched[d.movie_id]
            assert d.title in r.reason


def test_to_dict_is_json_ready(service: RecommenderService, crime_fan):
    result = service.recommend(crime_fan, n=3)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["summary"] == "matched 12 of 12; 0 not in MovieLens; 0 not in the model"
    assert data["counts"]["total"] == 12
    assert data["rated_films_used"] == 12
    assert [r["movie_id"] for r in data["recommendations"]] == [r.movie_id for r in result.items]
    assert all(URL.fullmatch(r["letterboxd_url"]) for r in data["recommendations"])


def test_display_title():
    assert display_title("City of Lost Children, The (Cité des enfants perdus, La)") == (
        "The City of Lost Children"
    )
    assert display_title("Matrix, The") == "The Matrix"
    assert display_title("Heat") == "Heat"
    assert display_title("Léon: The Professional (a.k.a. The Professional) (Léon)") == (
        "Léon: The Professional"
    )


def test_display_title_keeps_a_bracket_that_is_part_of_the_title():
    # BUG (recommender/service.py display_title, via titles.split_brackets): MovieLens
    # "Birdman: Or (The Unexpected Virtue of Ignorance)" (movieId 112183) is shown as
    # "Birdman: Or", a title that exists nowhere; it reaches users in recommendations and in
    # `boxdrec match`. Expected the full title, or at least "Birdman".
    assert display_title("Birdman: Or (The Unexpected Virtue of Ignorance)") in {
        "Birdman: Or (The Unexpected Virtue of Ignorance)",
        "Birdman",
    }


@pytest.mark.parametrize(
    ("stars", "text"),
    [(4.5, "★★★★½"), (5.0, "★★★★★"), (0.5, "½"), (1.0, "★"), (3.0, "★★★"), (2.5, "★★½")],
)
def test_stars_text(stars: float, text: str):
    assert stars_text(stars) == text


# --- what a film fan would notice ---------------------------------------------------------


def test_a_film_rated_low_is_never_a_reason(service: RecommenderService, crime_all):
    low = {"Toy Story", "Titanic", "The Notebook", "Mamma Mia!"}
    for r in crime_all.items[:50]:
        assert not low & {d.title for d in r.drivers}, r.reason


def test_only_low_ratings_is_told_what_to_do(service: RecommenderService):
    export = service.read_export(
        csv_text(RATINGS_HEADER, "2024-01-01,Toy Story,1995,,0.5").encode(), "ratings.csv"
    )
    with pytest.raises(BoxdrecError, match="Nothing in your export says what you like yet"):
        service.recommend(export, n=5)


def test_an_unmatched_film_does_not_come_back_under_another_title(
    service: RecommenderService, crime_all
):
    # "Life of Brian" (1979) matches nothing (MovieLens: "Monty Python's Life of Brian",
    # 1080), but the person has seen it: it must not be recommended to them.
    assert 1080 in {r.movie_id for r in crime_all.items}
    rows = [*rating_rows(CRIME_FAN), "2024-01-02,Life of Brian,1979,https://boxd.it/brian,4"]
    export = service.read_export(csv_text(RATINGS_HEADER, *rows).encode(), "ratings.csv")
    result = service.recommend(export, n=len(service.model.item_ids))
    brian = next(f for f in result.report.films if f.film.name == "Life of Brian")
    if brian.status is MatchStatus.NOT_FOUND:
        assert 1080 not in {r.movie_id for r in result.items}
    else:  # matching learned the title: then it is excluded as watched
        assert brian.movie_id == 1080 and 1080 not in {r.movie_id for r in result.items}


def test_films_only_older_catalogues_hold_are_shown_by_name(service: RecommenderService):
    # Mary and Max (71899) is in ml-latest-small and the model, but not in ml-32m.
    assert service.title(71899) == "Mary and Max"
    assert service.catalogue.movies.loc[71899, "year"] == 2009


def test_the_top_of_the_list_does_not_depend_on_how_many_are_asked(
    service: RecommenderService, real: Path
):
    export = service.read_export_file(real / "ratings_2026_spanish.csv")
    top5 = [r.movie_id for r in service.recommend(export, n=5).items]
    top50 = [r.movie_id for r in service.recommend(export, n=50).items]
    assert top50[:5] == top5

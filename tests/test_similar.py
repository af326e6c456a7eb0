"""Title search, nearest films and one-film predictions on the real MovieLens data.

The session model (``service``) is ml-latest-small with 16 components; the exports are real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recommender.dimensions import NamedParts, name_parts
from recommender.errors import BoxdrecError
from recommender.person import film_card
from recommender.similar import (
    FOCUSED_SHARE,
    LABEL_LIMIT,
    SHOWN_NEIGHBOURS,
    SIMILAR_SHRINK,
    STRONG_LOADING,
    TitleSearch,
    choice_value,
    main_dimension,
    predict_film,
    resolve_film,
    similar_films,
    title_search,
    training_ratings,
)
from recommender.titles import title_key

pytestmark = pytest.mark.movielens

GODFATHER, GODFATHER_II, MATRIX, AMELIE, HEAT = 858, 1221, 2571, 4973, 6


@pytest.fixture(scope="module")
def titles(service) -> TitleSearch:
    return title_search(service)


@pytest.fixture(scope="module")
def films(service, letterboxd_dir: Path):
    export = service.read_export_file(letterboxd_dir / "real" / "ratings_small_crlf.csv")
    return service.user_films(export)[0]


def ids(hits: list[tuple[int, str]]) -> list[int]:
    return [movie_id for movie_id, _ in hits]


# -- title search -------------------------------------------------------------------------------


def test_the_index_is_built_once_per_service(service, titles: TitleSearch):
    assert title_search(service) is titles
    assert len(titles) == len(service.model.item_ids)


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("godfather", GODFATHER),
        ("The Godfather", GODFATHER),
        ("GODF", GODFATHER),
        ("amelie", AMELIE),  # MovieLens: "Amelie (Fabuleux destin d'Amélie Poulain, Le)"
        ("Amélie", AMELIE),
        ("le fabuleux destin", AMELIE),  # the bracketed original title
        ("the matrix", MATRIX),  # MovieLens: "Matrix, The"
        ("matrix", MATRIX),
        ("  the   MATRIX ", MATRIX),
        ("Heat (1995)", HEAT),  # a label typed out in full
        ("heat 1995", HEAT),
    ],
)
def test_search_finds_what_people_type(titles: TitleSearch, typed: str, first: int):
    assert ids(titles.search(typed))[0] == first


def test_exact_titles_come_before_prefixes_and_prefixes_before_later_words(titles: TitleSearch):
    hits = ids(titles.search("godfather"))
    assert hits[:3] == [GODFATHER, GODFATHER_II, 2023]  # Part III: by popularity among prefixes
    keys = titles._keysets
    col = {m: i for i, m in enumerate(titles.movie_ids.tolist())}
    starts = [any(k.startswith("godfather") for k in keys[col[m]]) for m in hits]
    assert starts == sorted(starts, reverse=True), "a later-word hit came before a prefix hit"
    assert not all(starts), "expected a later-word hit too (Tokyo Godfathers…)"


def test_words_in_any_order(titles: TitleSearch):
    hits = titles.search("lord rings")
    assert len(hits) >= 3
    assert all("Lord of the Rings" in label for _, label in hits)


def test_empty_query_lists_the_most_rated_films(service, titles: TitleSearch):
    hits = ids(titles.search(""))
    counts = service.model.item_counts[service.model.positions(np.array(hits))]
    assert len(hits) == 25
    assert list(counts) == sorted(counts, reverse=True)
    assert counts[0] == service.model.item_counts.max()


def test_at_most_25_results_and_labels_fit_discord(service, titles: TitleSearch):
    for typed in ("t", "a", "the", "s", ""):
        hits = titles.search(typed, limit=100)
        assert 0 < len(hits) <= 25
        assert len(set(ids(hits))) == len(hits), "a film listed twice"
    assert len(titles.search("godfather", limit=2)) == 2
    longest = max(range(len(titles)), key=lambda c: len(titles.labels[c]))
    label = titles.labels[longest]
    assert all(len(label) <= LABEL_LIMIT for label in titles.labels)
    movie_id = int(titles.movie_ids[longest])
    year = service.catalogue.movies.at[movie_id, "year"]
    assert label.endswith(f" ({year})"), "the year gives way to nothing"


def test_nothing_found(titles: TitleSearch):
    assert titles.search("qwxzy plorb") == []
    assert titles.best("qwxzy plorb") is None


def test_best_says_whether_the_title_was_typed_exactly(titles: TitleSearch):
    assert titles.best("the matrix") == (MATRIX, True)
    assert titles.best("Matrix (1999)") == (MATRIX, True)
    assert titles.best("matri") == (MATRIX, False)


# -- what the film option resolves to -----------------------------------------------------------


def test_resolve_a_picked_choice_and_free_text(service):
    assert choice_value(GODFATHER) == "id:858"
    assert resolve_film(service, "id:858") == GODFATHER
    assert resolve_film(service, "godfather") == GODFATHER
    assert resolve_film(service, "lord rings") == 4993  # The Fellowship of the Ring


def test_a_title_made_of_digits_is_not_read_as_an_id(service):
    # movieId 300 is Quiz Show; the film "300" is 51662.
    assert resolve_film(service, "300") == 51662
    assert resolve_film(service, "id:300") == 300


def test_a_film_the_model_cannot_place_says_so(service):
    movies = service.catalogue.movies
    everything = movies.index[movies["title"] == "Everything Everywhere All at Once"][0]
    assert service.model.positions(np.array([everything]))[0] < 0
    expected = (
        "MovieLens has too few ratings of Everything Everywhere All at Once (2022) for the "
        "model to place it: try another film."
    )
    with pytest.raises(BoxdrecError) as typed:
        resolve_film(service, "everything everywhere all at once")
    assert str(typed.value) == expected
    with pytest.raises(BoxdrecError) as picked:
        resolve_film(service, choice_value(int(everything)))
    assert str(picked.value) == expected


def test_no_such_film(service):
    with pytest.raises(BoxdrecError, match=r"^No film called “qwxzy plorb”; pick one from"):
        resolve_film(service, "qwxzy plorb")


# -- nearest films ------------------------------------------------------------------------------


def test_similar_films_are_the_nearest_columns_never_the_film_itself(service):
    found = similar_films(service, GODFATHER, 10)
    assert len(found) == 10
    assert GODFATHER not in [f.film.movie_id for f in found]
    assert found[0].film.movie_id == GODFATHER_II
    # The similarities are the documented ones: cosine of H's columns times n / (n + shrink).
    h = np.asarray(service.model.components, dtype=np.float64)
    cols = service.model.positions(np.array([GODFATHER] + [f.film.movie_id for f in found]))
    unit = h[:, cols] / np.linalg.norm(h[:, cols], axis=0)
    counts = service.model.item_counts[cols[1:]]
    expected = (unit[:, 0] @ unit[:, 1:]) * counts / (counts + SIMILAR_SHRINK)
    np.testing.assert_allclose([f.similarity for f in found], expected, rtol=1e-5)
    assert [f.similarity for f in found] == sorted((f.similarity for f in found), reverse=True)


def loadings(service, movie_id: int) -> np.ndarray:
    """A film's loadings over each component's norm, over its own largest: 1 at its main one."""
    col = service.model.positions(np.array([movie_id]))[0]
    scale = service.taste_data.get().scale
    values = np.asarray(service.model.components[:, col], dtype=np.float64) / scale
    return values / values.max()


@pytest.mark.parametrize("movie_id", [GODFATHER, 1, MATRIX, AMELIE, HEAT])
def test_similar_reasons_say_how_alike_and_what_genres_they_share(service, movie_id):
    genres = set(service.catalogue.movies.at[movie_id, "genres"].split("|"))
    for f in similar_films(service, movie_id, 10):
        shared = [g for g in f.film.genres if g in genres]
        parts = f.reason.split(" · ")
        assert parts[0] == f"{f.similarity:.0%} alike"
        if shared:
            assert parts[1] == f"also {', '.join(shared)}"
        else:  # no more "Other genres · 79% alike"
            assert parts[1] == f"different genres: {', '.join(f.film.genres[:3])}"
        assert len(parts) == 2 or (len(parts) == 3 and parts[2].startswith("shared taste: "))


def test_a_shared_taste_is_named_only_when_it_fits_both_films(service):
    """ "Amelie vs The Matrix · shared taste: 1990s war dramas: holocaust" is gone: a named
    dimension loads strongly on both films and its genres (and era) are both films'."""
    dims = service.taste_data.get().dimensions
    named = 0
    for movie_id in (GODFATHER, 1, MATRIX, AMELIE, HEAT, 296, 318, 593, 47, 1210):
        anchor = loadings(service, movie_id)
        own = film_card(service, movie_id)
        for f in similar_films(service, movie_id, 10):
            label = f.reason.split(" · shared taste: ")
            if len(label) == 1:
                continue
            named += 1
            name = label[1]
            dim = list(dims.names).index(name)
            assert min(anchor[dim], loadings(service, f.film.movie_id)[dim]) >= STRONG_LOADING
            assert dim != int(np.argmax(anchor))  # the main one is named once, in the footer
            claims = name_parts(name)
            assert claims.genres or claims.era
            assert claims.fits(own.genres, own.year), (own.title, name)
            assert claims.fits(f.film.genres, f.film.year), (f.film.title, name)
    assert named > 0, "some neighbours do share a fitting dimension: the rule must allow them"


def test_name_parts_reads_back_generated_names():
    assert name_parts("1990s war dramas: holocaust, heartwarming") == NamedParts(
        ("Drama", "War"), "1990s"
    )
    assert name_parts("Romantic dramas: emotional, atmospheric").genres == ("Drama", "Romance")
    assert name_parts("Dramas like The Seventh Seal") == NamedParts(("Drama",), None)
    assert name_parts("Crime thrillers (2)") == NamedParts(("Thriller", "Crime"), None)
    assert name_parts("Classic films") == NamedParts((), "Classic")
    assert name_parts("Eclectic picks") == NamedParts((), None)
    war = name_parts("1990s war dramas: holocaust")
    # The Matrix (Action|Sci-Fi, 1999) and Amelie (Comedy|Romance, 2001) are not war dramas.
    assert not war.fits(("Action", "Sci-Fi", "Thriller"), 1999)
    assert not war.fits(("Comedy", "Romance"), 2001)
    assert war.fits(("Drama", "War"), 1993) and not war.fits(("Drama", "War"), 2003)
    assert NamedParts((), "Classic").fits(("Comedy",), 1959)
    assert not NamedParts((), None).fits(("Comedy",), 1959)


def test_the_main_dimension_is_named_as_profile_names_it(service):
    name, examples = main_dimension(service, GODFATHER)
    dims = service.taste_data.get().dimensions
    assert name in dims.names
    row = list(dims.names).index(name)
    assert examples == [m for m in dims.examples[row].tolist() if m >= 0 and m != GODFATHER]


def test_similar_to_a_film_the_model_cannot_place(service):
    with pytest.raises(BoxdrecError, match="too few ratings"):
        similar_films(service, 209163, 10)  # in the ml-32m catalogue only


# -- one film for one user ----------------------------------------------------------------------


def test_predictions_match_what_recommend_shows(service, films):
    result = service.recommend_films(films, n=10)
    rated = {f.movie_id for f in films.rated}
    for rec in result.items:
        prediction = predict_film(service, films, rec.movie_id)
        assert prediction.stars == rec.predicted_stars, rec.title
        assert 0.5 <= prediction.stars <= 5.0
        assert [d.movie_id for d in prediction.drivers][:3] == [d.movie_id for d in rec.drivers]
        assert {d.movie_id for d, _ in prediction.neighbours} <= rated
        assert sum(share for _, share in prediction.neighbours) == pytest.approx(1.0)
        assert not prediction.seen and prediction.user_stars is None
        assert prediction.summary() == f"Predicted for you: ★{rec.predicted_stars:.1f}."


def test_a_rated_film_is_predicted_from_the_other_films(service, films):
    rated = max(films.rated, key=lambda f: f.stars or 0)
    prediction = predict_film(service, films, rated.movie_id)
    assert prediction.seen and prediction.user_stars == rated.stars
    assert rated.movie_id not in [d.movie_id for d in prediction.drivers]
    assert rated.movie_id not in [d.movie_id for d, _ in prediction.neighbours]
    assert prediction.summary().startswith(f"You rated it ★★★★★ ({rated.stars:g}); from your ")
    assert prediction.user_mean == pytest.approx(float(np.mean(films.ratings)))


def test_a_prediction_knows_its_starting_point_and_how_spread_its_vote_is(service, films):
    unseen = service.recommend_films(films, n=1).items[0].movie_id
    prediction = predict_film(service, films, unseen)
    user, _ = service.user_vector(films)
    col = service.model.positions(np.array([unseen]))[0]
    bias = float(service.foldin.film_bias[col])
    assert prediction.base_stars == round(
        float(np.clip(user.scale.mean + user.scale.std * bias, 0.5, 5.0)), 1
    )
    top = sum(share for _, share in prediction.neighbours[:SHOWN_NEIGHBOURS])
    assert prediction.top_share == pytest.approx(top)
    assert prediction.spread_thin == (
        len(prediction.neighbours) > SHOWN_NEIGHBOURS and top < FOCUSED_SHARE
    )


def test_training_ratings_of_a_film(service):
    col = service.model.positions(np.array([GODFATHER]))[0]
    assert training_ratings(service, GODFATHER) == int(service.model.item_counts[col]) > 100


def test_predicting_a_film_the_model_cannot_place(service, films):
    with pytest.raises(BoxdrecError, match=r"^MovieLens has too few ratings of .+ \(\d{4}\)"):
        predict_film(service, films, 209163)


def test_the_title_key_of_every_label_finds_its_film(service, titles: TitleSearch):
    # Whatever autocomplete shows, typing it back finds that film (a round trip on 200 films).
    for col in range(0, len(titles), max(1, len(titles) // 200)):
        label = titles.labels[col]
        if label.endswith("…") or "…" in label or not title_key(label):
            continue
        movie_id = int(titles.movie_ids[col])
        assert movie_id in ids(titles.search(label)), label

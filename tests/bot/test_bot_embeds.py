"""The pages of a /recommend reply: exact text, and Discord's limits with 50 long entries."""

from __future__ import annotations

from bot_helpers import rec, result_of

from bot.embeds import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    NOTHING_LEFT,
    build_pages,
    film_entry,
    film_heading,
)

SUMMARY = "matched 0 of 0; 0 not in MovieLens; 0 not in the model"


def test_heading_links_the_film_on_letterboxd_with_its_predicted_stars():
    prestige = rec(1, title="The Prestige", year=2006, predicted_stars=4.3, tmdb_id=1124)
    assert film_heading(prestige) == (
        "**1. [The Prestige (2006)](https://letterboxd.com/tmdb/1124/)** · predicted ★4.3"
    )


def test_heading_falls_back_to_imdb_then_to_plain_text():
    by_imdb = rec(2, title="Heat", year=1995, tmdb_id=None, imdb_id=113277, predicted_stars=None)
    assert film_heading(by_imdb) == "**2. [Heat (1995)](https://letterboxd.com/imdb/tt0113277/)**"
    bare = rec(3, title="Untitled", year=None, tmdb_id=None, imdb_id=None, predicted_stars=3.0)
    assert film_heading(bare) == "**3. Untitled** · predicted ★3.0"


def test_markup_in_titles_and_reasons_is_escaped():
    odd = rec(
        1,
        title="*batteries not included [US]",
        year=1987,
        tmdb_id=11548,
        reason="Because you rated __init__ ★★★★",
    )
    assert film_entry(odd) == (
        r"**1. [\*batteries not included \[US\] (1987)](https://letterboxd.com/tmdb/11548/)**"
        " · predicted ★4.0\n"
        r"Because you rated \_\_init\_\_ ★★★★"
    )


def test_one_page_exact():
    items = [
        rec(
            1,
            title="The Prestige",
            year=2006,
            predicted_stars=4.3,
            tmdb_id=1124,
            reason="Because you rated Memento ★★★★★",
        ),
        rec(
            2,
            title="Heat",
            year=1995,
            predicted_stars=3.9,
            tmdb_id=949,
            reason="On your watchlist. Because you rated Collateral ★★★★",
        ),
    ]
    [page] = build_pages(result_of(items))
    assert page.title == "Your top 2 films"
    assert page.description == (
        "**1. [The Prestige (2006)](https://letterboxd.com/tmdb/1124/)** · predicted ★4.3\n"
        "Because you rated Memento ★★★★★\n"
        "\n"
        "**2. [Heat (1995)](https://letterboxd.com/tmdb/949/)** · predicted ★3.9\n"
        "On your watchlist. Because you rated Collateral ★★★★"
    )
    assert page.footer.text == f"{SUMMARY} · Page 1/1"


def test_five_films_a_page():
    pages = build_pages(result_of([rec(i) for i in range(1, 13)]))
    assert [p.footer.text for p in pages] == [f"{SUMMARY} · Page {i}/3" for i in (1, 2, 3)]
    assert all(p.title == "Your top 12 films" for p in pages)
    assert [p.description.count("**") // 2 for p in pages] == [5, 5, 2]
    assert pages[1].description.startswith("**6. [Film 6 (2006)]")
    assert pages[2].description.endswith("Because you rated Source 12 ★★★★")


def test_the_public_copy_names_the_owner_and_hides_the_match_report():
    pages = build_pages(result_of([rec(i) for i in range(1, 13)]), "ana_b", public=True)
    assert pages[0].title == r"ana\_b's top 12 films"
    assert [p.footer.text for p in pages] == [
        "Films 1–5 of 12 · boxdrec /recommend",
        "Films 6–10 of 12 · boxdrec /recommend",
        "Films 11–12 of 12 · boxdrec /recommend",
    ]
    assert "matched" not in "".join(p.footer.text for p in pages)


def test_one_film_and_no_film():
    assert build_pages(result_of([rec(1)]))[0].title == "Your top film"
    [empty] = build_pages(result_of([]))
    assert empty.title == "Your top 0 films"
    assert empty.description == NOTHING_LEFT
    assert empty.footer.text == f"{SUMMARY} · Page 1/1"


def test_fifty_films_with_long_reasons_fit_discords_limits():
    long_title = "The Assassination of Jesse James by the Coward Robert Ford " * 3
    items = [
        rec(
            i,
            title=long_title.strip(),
            reason="Because you rated " + "A Very Long Title ★★★★, " * 120,
        )
        for i in range(1, 51)
    ]
    pages = build_pages(result_of(items))
    assert len(pages) == 10
    for page_no, page in enumerate(pages):
        assert len(page.description) <= DESCRIPTION_LIMIT
        assert len(page) <= EMBED_TOTAL_LIMIT
        for item in items[page_no * 5 : page_no * 5 + 5]:
            assert film_heading(item) in page.description  # headings and links never cut
        reasons = page.description.split("\n\n")
        assert all(r.endswith("…") for r in reasons)

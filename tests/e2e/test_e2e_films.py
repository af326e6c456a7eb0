"""End to end: film autocomplete, /similar, /predict, the /recommend list controls and the
"Not interested" menu, through the real bot process and the fake Discord."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from bot_process import BotProcess
from e2e_helpers import ACK_SECONDS, ANSWER_TIMEOUT, ask, callback
from fake_discord import FakeDiscord

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

LINK = re.compile(r"https://letterboxd\.com/tmdb/(\d+)/")
EXPORT = ("real", "ratings_2022_empty_year_crlf.csv")


def export_bytes(letterboxd_dir: Path) -> bytes:
    return letterboxd_dir.joinpath(*EXPORT).read_bytes()


def film_option(value: str) -> list[dict]:
    return [{"name": "film", "type": 3, "value": value}]


def autocomplete(bot: BotProcess, payload: dict) -> list[dict]:
    """Send a type-4 interaction; the bot must answer in time with a type-8 callback."""
    sent = bot.send(payload)
    answer = bot.wait_for(callback(payload), ANSWER_TIMEOUT)
    assert answer.at - sent <= ACK_SECONDS
    assert answer.status == 200 and answer.json["type"] == 8, answer.json
    return answer.json["data"]["choices"]


def select_menu(message: dict) -> dict:
    [menu] = [c for row in message["components"] for c in row["components"] if c["type"] == 3]
    return menu


def tmdb_ids(text: str) -> list[int]:
    return [int(m) for m in LINK.findall(text)]


def by_tmdb(service) -> pd.DataFrame:
    movies = service.catalogue.movies.dropna(subset=["tmdbId"])
    return movies.reset_index().drop_duplicates("tmdbId").set_index("tmdbId")


# -- autocomplete -------------------------------------------------------------------------------


def test_film_autocomplete_answers_with_choices(bot: BotProcess, fake: FakeDiscord):
    choices = autocomplete(bot, fake.autocomplete("similar", "film", film="godf"))
    assert choices[0] == {"name": "The Godfather (1972)", "value": "id:858"}
    assert 1 < len(choices) <= 25
    assert all(len(c["name"]) <= 100 for c in choices)
    everything = autocomplete(bot, fake.autocomplete("predict", "film", film=""))
    assert len(everything) == 25


def test_genre_autocomplete_on_recommend(bot: BotProcess, fake: FakeDiscord):
    choices = autocomplete(bot, fake.autocomplete("recommend", "genre", genre="Crime, thr"))
    assert choices == [{"name": "Crime, Thriller", "value": "Crime, Thriller"}]


# -- /similar and /predict ----------------------------------------------------------------------


def test_similar_lists_the_nearest_films_privately(bot: BotProcess, fake: FakeDiscord, service):
    payload = fake.slash("similar", film_option("id:858"))
    answer = ask(bot, payload)
    assert fake.wait_for(callback(payload)).json == {"type": 5, "data": {"flags": 64}}
    assert answer.ephemeral
    [embed] = answer.embeds
    assert embed["title"] == "Films like The Godfather (1972)"
    found = tmdb_ids(embed["description"])
    assert len(found) == 10 and 238 not in found  # never the film itself
    assert found[0] == 240  # The Godfather: Part II
    [share] = [c for row in answer.message["components"] for c in row["components"]]
    assert share["label"] == "Share to channel"


def test_similar_warns_about_a_barely_rated_film(bot: BotProcess, fake: FakeDiscord):
    answer = ask(bot, fake.slash("similar", film_option("id:176419")))  # Mother! (2017)
    [embed] = answer.embeds
    assert embed["title"] == "Films like Mother! (2017)"
    assert embed["description"].startswith(
        "Few MovieLens ratings: only 2 in the model's data (under 20), so these neighbours are "
        "a rough guess.\n\n**1.** "
    )
    assert "Other genres" not in embed["description"]


def test_similar_with_an_unknown_title(bot: BotProcess, fake: FakeDiscord):
    answer = ask(bot, fake.slash("similar", film_option("qwxzy plorb")))
    assert answer.ephemeral
    assert answer.text == "No film called “qwxzy plorb”; pick one from the list as you type."


def test_predict_after_an_upload(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path):
    bea = fake.user(fake.snowflake(), "bea")
    before = ask(bot, fake.slash("predict", film_option("id:1"), user=bea))
    assert before.text.startswith("I have no films saved for you")
    ask(bot, fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), user=bea))
    answer = ask(bot, fake.slash("predict", film_option("toy story"), user=bea))
    assert answer.ephemeral
    [embed] = answer.embeds
    assert embed["title"] == "Toy Story (1995)"
    assert embed["url"] == "https://letterboxd.com/tmdb/862/"
    assert re.match(
        r"(Predicted for you: ★\d\.\d|You rated it|You have seen it)", embed["description"]
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    lines = fields["Your films most like it (share of the vote)"].split("\n")
    assert len(lines) <= 6  # five films at most, then what the others hold together
    if len(lines) == 6:
        assert re.fullmatch(r"…and \d+ more films, \d+% between them", lines[-1]), lines[-1]
    assert "From how MovieLens raters rate it, on your scale: ★" in embed["description"]


# -- /recommend with list controls and the hide menu -------------------------------------------


def test_recommend_with_genre_and_decades_returns_only_matching_films(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path, service
):
    cal = fake.user(fake.snowflake(), "cal")
    payload = fake.recommend(
        EXPORT[1], export_bytes(letterboxd_dir), user=cal, count=10,
        genre="crime", exclude_genre="Comedy", from_decade=1970, to_decade=1980,
    )  # fmt: skip
    answer = ask(bot, payload)
    [embed] = answer.embeds
    assert "Crime · not Comedy · 1970–1989" in embed["footer"]["text"]
    catalogue = by_tmdb(service)
    found = tmdb_ids(embed["description"])
    assert len(found) == 5  # the first page
    for tmdb in found:
        film = catalogue.loc[tmdb]
        genres = film["genres"].split("|")
        assert "Crime" in genres and "Comedy" not in genres, film["title"]
        assert 1970 <= film["year"] <= 1989, film["title"]


def test_obscure_and_less_known_lists_read_and_rank_apart(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path, service
):
    """Both footers said "less-known films first" and the lists barely differed."""
    ivy = fake.user(fake.snowflake(), "ivy")
    catalogue = by_tmdb(service)
    footers, counts = {}, {}
    for level in ("less-known", "obscure"):
        payload = fake.recommend(
            EXPORT[1], export_bytes(letterboxd_dir), user=ivy, count=10, discover=level
        )
        [embed] = ask(bot, payload).embeds
        footers[level] = embed["footer"]["text"]
        ids = catalogue.loc[tmdb_ids(embed["description"]), "movieId"].astype(int).tolist()
        positions = service.model.positions(ids)
        assert len(positions) == 5 and (positions >= 0).all()  # the first page, model films
        counts[level] = service.model.item_counts[positions]
    assert " · less-known films first · " in footers["less-known"]
    assert (
        " · films hardly anyone has rated (9 MovieLens ratings or fewer) · " in (footers["obscure"])
    )
    assert "less-known" not in footers["obscure"]
    assert counts["obscure"].max() <= 9 < counts["less-known"].min()
    assert counts["obscure"].mean() <= counts["less-known"].mean() / 3


def test_bad_filters_are_refused_at_once(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path):
    payload = fake.recommend(
        EXPORT[1], export_bytes(letterboxd_dir), from_decade=1990, to_decade=1970
    )
    answer = ask(bot, payload)
    assert answer.req.path.endswith("/callback") and answer.req.json["type"] == 4
    assert answer.text == "The decade range starts after it ends (1990s to 1970s): swap them."


def test_not_interested_reranks_the_message_in_place(
    bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path
):
    dee = fake.user(fake.snowflake(), "dee")
    first = ask(bot, fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), user=dee))
    message = fake.messages[first.message["id"]]
    menu = select_menu(message)
    values = [o["value"] for o in menu["options"]]
    assert len(values) == 10 and values[0].startswith("seen:")
    target = next(v for v in values if v.startswith("not_interested:"))
    shown = tmdb_ids(first.embeds[0]["description"])
    payload = fake.choose(message, menu["custom_id"], [target], user=dee)
    edited = ask(bot, payload)
    assert fake.wait_for(callback(payload)).json["type"] == 6  # deferred update, then the edit
    assert edited.req.method == "PATCH" and edited.message["id"] == first.message["id"]
    assert edited.body["content"].startswith("Not interested: **")
    assert "will stay out of your lists" in edited.body["content"]
    after = tmdb_ids(edited.embeds[0]["description"])
    assert shown[0] not in after and shown[1] in after  # the film is gone, the others stay
    assert len(after) == 5
    new_values = [o["value"] for o in select_menu(fake.messages[first.message["id"]])["options"]]
    assert target not in new_values
    # Remembered: a new /recommend leaves it out from the start.
    again = ask(bot, fake.recommend(EXPORT[1], export_bytes(letterboxd_dir), user=dee))
    assert shown[0] not in tmdb_ids(again.embeds[0]["description"])

"""End to end: three people upload their exports, two compare, three hold a movie night.

The real bot process against the fake Discord. Expected values come from the same recommender
(the session's model) run in the test process on the same exports: the bot must show exactly
what the recommender computes, and never a film any member has watched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from bot_process import BotProcess
from e2e_helpers import Reply, ask, buttons, disabled
from fake_discord import EPHEMERAL, FakeDiscord, Request

from bot.list_options import OBSCURE_QUANTILE, build_filters
from bot.profiles import NO_FILMS_OWN
from recommender.compare import agreement_words, compare, taste_words
from recommender.filters import ListFilters
from recommender.group import movie_night
from recommender.user_films import UserFilms

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

EXPORTS = {
    "alice": "ratings_2022_empty_year_crlf.csv",
    "bob": "ratings_2017_slug_uris_crlf.csv",
    "carol": "ratings_2026_spanish.csv",
}
TMDB = re.compile(r"\]\(https://letterboxd\.com/tmdb/(\d+)/\)")


@dataclass
class People:
    users: dict[str, dict]  # name -> the fake's user payload
    films: dict[str, UserFilms]  # name -> what the recommender makes of their export


@pytest.fixture(scope="module")
def people(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path, service) -> People:
    """Alice, Bob and Carol each upload a different real export with /recommend (and keep
    their films, the default)."""
    users, films = {}, {}
    for name, filename in EXPORTS.items():
        user = users[name] = fake.user(fake.snowflake(), name)
        data = (letterboxd_dir / "real" / filename).read_bytes()
        answer = ask(bot, fake.recommend(filename, data, count=1, user=user))
        assert "Saved your" in answer.text, answer.text
        films[name] = service.user_films(service.read_export(data, filename))[0]
    return People(users, films)


def compare_payload(fake: FakeDiscord, asker: dict, target: dict, dm: bool = False) -> dict:
    option, resolved = fake.user_option("user", target)
    if dm:  # a DM resolves users only
        resolved = {"users": resolved["users"]}
    return fake.slash("compare", [option], user=asker, resolved=resolved, dm=dm)


def fields(answer: Reply) -> dict[str, str]:
    [embed] = answer.embeds
    return {f["name"]: f["value"] for f in embed["fields"]}


def linked(text: str) -> list[int]:
    """The TMDB ids of the films linked in ``text``, in order."""
    return [int(t) for t in TMDB.findall(text)]


def tmdb(service, movie_ids) -> set[int]:
    """The TMDB ids of these movieIds (a few MovieLens films share one)."""
    ids = service.catalogue.movies["tmdbId"].reindex(list(movie_ids)).dropna()
    return {int(t) for t in ids}


def tmdb_ids(films) -> list[int | None]:
    return [f.film.tmdb_id for f in films]


# -- /compare ----------------------------------------------------------------------------------


def test_compare_shows_agreement_overlap_and_films(bot, fake, people, service):
    alice, bob = people.users["alice"], people.users["bob"]
    expected = compare(service, people.films["alice"], people.films["bob"])
    answer = ask(bot, compare_payload(fake, alice, bob))
    assert answer.ephemeral
    [embed] = answer.embeds
    assert embed["title"] == "You and Bob"
    assert embed["description"] == expected.verdict
    got = fields(answer)
    shared = {f.movie_id for f in people.films["alice"].rated} & {
        f.movie_id for f in people.films["bob"].rated
    }
    assert expected.n_shared == len(shared) > 30
    assert got["Agreement on shared films"] == (
        f"**{expected.agreement:+.2f}** ({agreement_words(expected.agreement)}) · confidence "
        f"high: {len(shared)} shared rated films"
    )
    assert expected.taste_similarity is not None and expected.taste_confidence == "high"
    assert got["Taste similarity"] == (
        f"**{expected.taste_similarity:+.2f}** ({taste_words(expected.taste_similarity)}) · "
        f"confidence {expected.taste_confidence_label}; works even without shared films"
    )
    favourites = linked(got["Shared favourites"])
    assert favourites == tmdb_ids(expected.shared_favourites)
    assert set(favourites) <= tmdb(service, shared)
    assert linked(got["Where you disagree most"]) == tmdb_ids(expected.disagreements)
    for_alice = linked(got["For you, from Bob's favourites"])
    assert for_alice == tmdb_ids(expected.for_a) and for_alice
    assert not {f.film.movie_id for f in expected.for_a} & people.films["alice"].seen_ids
    for_bob = linked(got["For Bob, from your favourites"])
    assert for_bob == tmdb_ids(expected.for_b)
    assert not {f.film.movie_id for f in expected.for_b} & people.films["bob"].seen_ids
    assert "your predicted ★" in got["For you, from Bob's favourites"]
    assert set(buttons(answer.message)) == {"Share to channel"}


def test_compare_share_posts_a_named_copy(bot, fake, people):
    alice, bob = people.users["alice"], people.users["bob"]
    answer = ask(bot, compare_payload(fake, alice, bob))
    share_id = buttons(answer.message)["Share to channel"]
    assert re.fullmatch(r"boxdrec:compare:\d+:share", share_id)
    shared = ask(bot, fake.press(answer.message, share_id, user=alice))
    assert not shared.ephemeral
    assert shared.embeds[0]["title"] == "Alice and Bob"
    # Only Alice may share her comparison.
    refused = ask(bot, fake.press(answer.message, share_id, user=bob))
    assert refused.ephemeral and "belongs to the person who asked" in refused.text


def posted(requests: list[Request]) -> list[dict]:
    """Every message the bot made in ``requests``: interaction replies, followups and plain
    channel messages, as Discord stored them (with their flags)."""
    out = []
    for r in requests:
        if r.method != "POST" or not 200 <= r.status < 300:
            continue
        if r.path.endswith("/callback") and r.json["type"] == 4:
            out.append(r.response["resource"]["message"])
        elif r.path.startswith(("/webhooks/", "/channels/")):
            out.append(r.response)
    return out


def upload(bot, fake, letterboxd_dir: Path, name: str, export: str) -> dict:
    user = fake.user(fake.snowflake(), name)
    data = (letterboxd_dir / "real" / export).read_bytes()
    answer = ask(bot, fake.recommend(export, data, count=1, user=user))
    assert "Saved your" in answer.text, answer.text
    return user


def test_an_old_compare_reply_is_not_shared_after_the_friend_opts_out_or_forgets(
    bot, fake, letterboxd_dir
):
    """Erin's private comparisons with Fred were made while Fred allowed them. Fred then turns
    comparisons off, later runs /forget: Erin's Share presses are refused privately, nothing
    is posted to the channel, and each button is disabled."""
    erin = upload(bot, fake, letterboxd_dir, "erin", "ratings_2026_cjk.csv")
    fred = upload(bot, fake, letterboxd_dir, "fred", "ratings_small_crlf.csv")
    replies = []
    for _ in range(2):
        payload = compare_payload(fake, erin, fred)
        replies.append((payload, ask(bot, payload)))
    turned_off = ask(
        bot,
        fake.slash("privacy", [{"name": "allow_compare", "type": 5, "value": False}], user=fred),
    )
    assert turned_off.text.startswith("Done: Nobody may /compare with you")

    def press_share(payload: dict, reply: Reply) -> Reply:
        start = len(fake.requests)
        refused = ask(
            bot, fake.press(reply.message, buttons(reply.message)["Share to channel"], user=erin)
        )
        edit = bot.wait_for(
            lambda r: r.method == "PATCH" and payload["token"] in r.path and 200 <= r.status < 300,
            start=start,
        )
        assert edit.path.endswith("/messages/@original")
        assert disabled(edit.json) == {"Share to channel"}  # the private reply's button is off
        assert edit.response["flags"] & EPHEMERAL
        made = posted(fake.requests[start:])
        assert made and all(m["flags"] & EPHEMERAL for m in made), made  # nothing public
        assert not any(m.get("embeds") for m in made)  # the comparison itself is not re-sent
        return refused

    refused = press_share(*replies[0])
    assert refused.ephemeral
    assert refused.text == "Fred has since turned comparisons off, so this can't be shared."

    forgot = ask(bot, fake.slash("forget", user=fred))
    assert forgot.text.startswith("Deleted everything I kept about you")
    refused = press_share(*replies[1])
    assert refused.ephemeral
    assert refused.text == "Fred has since removed their saved films, so this can't be shared."


def test_compare_refusals(bot, fake, people):
    alice, dave = people.users["alice"], fake.user(fake.snowflake(), "dave")
    own = ask(bot, compare_payload(fake, alice, alice))
    assert own.ephemeral and own.text.startswith("Pick someone else")
    nobody = ask(bot, compare_payload(fake, alice, dave))
    assert nobody.ephemeral and nobody.text.startswith("Dave has no saved films")
    stranger = ask(bot, compare_payload(fake, dave, alice))
    assert stranger.ephemeral and stranger.text == NO_FILMS_OWN
    in_dm = ask(bot, compare_payload(fake, alice, people.users["bob"], dm=True))
    assert in_dm.ephemeral and "in a server you share" in in_dm.text


# -- /movienight -------------------------------------------------------------------------------


def test_movie_night_lobby_join_start_and_result(bot, fake, people, service):
    alice, bob, carol = (people.users[n] for n in ("alice", "bob", "carol"))
    dave = fake.user(fake.snowflake(), "dave")
    lobby = ask(
        bot, fake.slash("movienight", [{"name": "count", "type": 4, "value": 5}], user=alice)
    )
    assert lobby.req.json["type"] == 4 and not lobby.ephemeral  # public: a group activity
    ids = buttons(lobby.message)
    assert set(ids) == {"Join", "Leave", "Start"}
    assert all(re.fullmatch(r"boxdrec:movienight:\d+:(join|leave|start)", c) for c in ids.values())
    assert "Who's in (1/8) Alice" in lobby.text

    early = ask(bot, fake.press(lobby.message, ids["Start"], user=alice))
    assert early.ephemeral and "needs at least 2 people" in early.text

    for user, count in ((bob, 2), (carol, 3)):
        joined = ask(bot, fake.press(lobby.message, ids["Join"], user=user))
        assert joined.req.json["type"] == 7 and not joined.ephemeral, joined.req.json
        assert f"Who's in ({count}/8)" in joined.text
    assert "Alice, Bob and Carol" in joined.text

    no_films = ask(bot, fake.press(lobby.message, ids["Join"], user=dave))
    assert no_films.ephemeral and no_films.text == NO_FILMS_OWN
    not_starter = ask(bot, fake.press(lobby.message, ids["Start"], user=bob))
    assert not_starter.ephemeral
    assert not_starter.text == "Only Alice, who started this movie night, can start it."

    start = fake.press(lobby.message, ids["Start"], user=alice)
    picking = ask(bot, start)
    assert picking.req.json["type"] == 7 and "Picking films" in picking.text
    edit = bot.wait_for(
        lambda r: r.method == "PATCH" and start["token"] in r.path and 200 <= r.status < 300
    )
    assert edit.path.endswith("/messages/@original")
    assert edit.response["id"] == lobby.message["id"], "the lobby message itself shows the result"
    [embed] = edit.json["embeds"]
    assert embed["title"] == "🎬 Movie night: 5 films for Alice, Bob and Carol"
    assert edit.json["components"] == []
    entries = embed["description"].split("\n\n")
    assert len(entries) == 5
    members = [people.films[n] for n in ("alice", "bob", "carol")]
    expected = movie_night(service, members, 5, names=["Alice", "Bob", "Carol"])
    for entry, pick in zip(entries, expected.picks, strict=True):
        # Each one's stars with how far above their own average, and "best for" the largest.
        stars = " · ".join(
            f"{n} ★{s:.1f} ({d:+.1f})"
            for n, s, d in zip(expected.names, pick.stars, pick.lift, strict=True)
        )
        assert f"\n{stars} · group fit {pick.fair:+.2f}\n" in entry, entry
        assert pick.lift[pick.best_for] == max(pick.lift)
        assert f"Best for {expected.names[pick.best_for]}" in entry
    shown = linked(embed["description"])
    assert shown == [p.film.tmdb_id for p in expected.picks]
    picked = {p.film.movie_id for p in expected.picks}
    watched = set().union(*(f.seen_ids for f in members))
    assert len(picked) == 5 and not picked & watched
    assert not set(shown) & tmdb(service, watched), "a listed film's link is a watched film's"
    assert "Group fit = 0.5 × the lowest" in embed["footer"]["text"]

    # The night is over: its buttons answer, privately, that it has ended.
    late = fake.press(lobby.message, ids["Join"], user=dave)
    ended = ask(bot, late)
    assert ended.ephemeral and ended.text.startswith("This movie night has ended")


def fits(service, movie_id: int, filters: ListFilters) -> bool:
    """Whether the catalogue facts of the model's film ``movie_id`` pass ``filters``."""
    facts = service.facts
    [pos] = service.model.positions([movie_id])
    if pos < 0:
        return False
    bits = int(facts.genre_bits[pos])
    genres = {g for i, g in enumerate(facts.genres) if bits >> i & 1}
    return (
        bool(genres & set(filters.genres))
        and not genres & set(filters.exclude_genres)
        and filters.year_from <= facts.year[pos] <= filters.year_to
    )


def test_movie_night_with_filters_lists_only_films_that_fit(bot, fake, people, service):
    alice, bob, carol = (people.users[n] for n in ("alice", "bob", "carol"))
    options = [
        ("genre", 3, "comedy, drama"),  # any case, as typed; shown as the catalogue spells it
        ("exclude_genre", 3, "Romance"),
        ("from_decade", 4, 1980),
        ("to_decade", 4, 1990),
        ("discover", 3, "less-known"),
        ("count", 4, 6),
    ]
    payload = fake.slash(
        "movienight", [{"name": n, "type": t, "value": v} for n, t, v in options], user=alice
    )
    lobby = ask(bot, payload)
    assert not lobby.ephemeral
    settings = (
        "Comedy or Drama · not Romance · 1980–1999 · less-known films first · films none of you "
        "has seen · 6 films"
    )
    assert f"Settings {settings}" in lobby.text
    ids = buttons(lobby.message)
    for user in (bob, carol):
        ask(bot, fake.press(lobby.message, ids["Join"], user=user))
    start = fake.press(lobby.message, ids["Start"], user=alice)
    ask(bot, start)
    edit = bot.wait_for(
        lambda r: r.method == "PATCH" and start["token"] in r.path and 200 <= r.status < 300
    )
    [embed] = edit.json["embeds"]
    assert embed["title"] == "🎬 Movie night: 6 films for Alice, Bob and Carol"
    assert embed["footer"]["text"].startswith(settings + " · (+0.9) after someone's stars: ")
    shown = linked(embed["description"])

    filters = ListFilters(
        genres=("Comedy", "Drama"),
        exclude_genres=("Romance",),
        year_from=1980,
        year_to=1999,
        obscurity=0.75,
        min_ratings=service.facts.ratings_at(OBSCURE_QUANTILE) + 1,  # above the obscure band
    )
    assert filters == build_filters(service, "less-known", "comedy, drama", "Romance", 1980, 1990)
    members = [people.films[n] for n in ("alice", "bob", "carol")]
    expected = movie_night(service, members, 6, filters, names=["Alice", "Bob", "Carol"])
    assert shown == [p.film.tmdb_id for p in expected.picks] and len(shown) == 6
    # Every listed film fits, read from its own catalogue facts (a TMDB id may be shared by
    # several MovieLens films: one of them, unwatched by all, must fit).
    movies = service.catalogue.movies
    watched = set().union(*(f.seen_ids for f in members))
    for tmdb_id in shown:
        candidates = [int(m) for m in movies.index[movies["tmdbId"] == tmdb_id]]
        assert any(fits(service, m, filters) and m not in watched for m in candidates), tmdb_id
    # And "less-known" reached the ranking: the same night without it lists better-known films.
    balanced = movie_night(service, members, 6, replace(filters, obscurity=0.0, min_ratings=None))
    popularity = service.facts.popularity_percentile

    def mean_popularity(result) -> float:
        positions = service.model.positions([p.film.movie_id for p in result.picks])
        return float(popularity[positions].mean())

    assert mean_popularity(expected) < mean_popularity(balanced)


def test_a_member_who_forgot_is_left_out_at_start_and_the_result_says_so(
    bot, fake, people, letterboxd_dir, service
):
    alice = people.users["alice"]
    gus = upload(bot, fake, letterboxd_dir, "gus", "ratings_small_crlf.csv")
    hal = upload(bot, fake, letterboxd_dir, "hal", "ratings_2026_cjk.csv")
    lobby = ask(
        bot, fake.slash("movienight", [{"name": "count", "type": 4, "value": 3}], user=alice)
    )
    ids = buttons(lobby.message)
    for user in (gus, hal):
        ask(bot, fake.press(lobby.message, ids["Join"], user=user))
    ask(bot, fake.slash("forget", user=hal))
    start = fake.press(lobby.message, ids["Start"], user=alice)
    ask(bot, start)
    edit = bot.wait_for(
        lambda r: r.method == "PATCH" and start["token"] in r.path and 200 <= r.status < 300
    )
    [embed] = edit.json["embeds"]
    assert embed["title"] == "🎬 Movie night: 3 films for Alice and Gus"
    assert embed["description"].startswith(
        "Hal is not in it: their saved films were deleted after they joined.\n\n**1. "
    )
    gus_films = service.user_films(
        service.read_export_file(letterboxd_dir / "real" / "ratings_small_crlf.csv")
    )[0]
    expected = movie_night(service, [people.films["alice"], gus_films], 3, names=["Alice", "Gus"])
    assert linked(embed["description"]) == [p.film.tmdb_id for p in expected.picks]


def test_the_lobby_is_full_at_eight(bot, fake, people, letterboxd_dir):
    alice = people.users["alice"]
    lobby = ask(bot, fake.slash("movienight", user=alice))
    join = buttons(lobby.message)["Join"]
    data = (letterboxd_dir / "real" / "ratings_small_crlf.csv").read_bytes()
    for i in range(8):
        user = fake.user(fake.snowflake(), f"guest{i}")
        ask(bot, fake.recommend("ratings.csv", data, count=1, user=user))
        answer = ask(bot, fake.press(lobby.message, join, user=user))
        if i < 7:
            assert f"Who's in ({i + 2}/8)" in answer.text
        else:
            assert answer.ephemeral
            assert answer.text == "The lobby is full: a movie night takes at most 8 people."
    leave = ask(bot, fake.press(lobby.message, buttons(lobby.message)["Leave"], user=alice))
    assert "called off" in leave.text and leave.message["components"] == []

"""/movienight: the command posts a public lobby; Join, Leave and Start answer each person."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import discord
import pytest
from bot_helpers import invoke, make_interaction, make_settings, sent_text
from people_factories import films_of, popular_ids
from social_helpers import ANA, BO, CY, jobs, person_films, press, store  # noqa: F401

from bot.client import BoxdBot
from bot.cogs.movienight import MovieNight
from bot.list_options import build_filters
from bot.lobby import (
    LOBBY_TIMEOUT,
    Lobby,
    NightSettings,
    describe_picks,
    result_embed,
    shortfall_text,
)
from bot.profiles import NO_FILMS_OWN
from bot.social import stale_message
from recommender.filters import ListFilters
from recommender.group import MAX_MEMBERS, movie_night

pytestmark = pytest.mark.movielens

NEWCOMER = 4040


@pytest.fixture
def cog(service, jobs, store) -> MovieNight:  # noqa: F811
    return MovieNight(service, jobs, store, make_settings())


@pytest.fixture
async def saved(service, store):  # noqa: F811
    films = {
        ANA: person_films(service, 0, 40, seed=1),
        BO: person_films(service, 20, 60, seed=2),
        CY: person_films(service, 40, 80, seed=3),
    }
    for user_id, user_films in films.items():
        await store.save_films(user_id, user_films)
    return films


@pytest.fixture
async def lobby(cog, saved) -> AsyncIterator[Lobby]:
    interaction, _ = make_interaction(interaction_id=9901, user_id=ANA, name="ana")
    await invoke(cog.movienight, interaction, count=3)
    view = interaction.response.send_message.await_args.kwargs["view"]
    yield view
    view.stop()


def field(embed: discord.Embed, prefix: str) -> str:
    return next(f.value for f in embed.fields if f.name.startswith(prefix))


async def join(lobby: Lobby, user_id: int, name: str):
    interaction, events = make_interaction(user_id=user_id, name=name)
    await press(lobby, lobby.join, interaction)
    return interaction, events


async def test_the_lobby_is_public_with_three_buttons(cog, saved):
    interaction, events = make_interaction(interaction_id=9902, user_id=ANA, name="ana")
    await invoke(cog.movienight, interaction, genre="comedy", from_decade=1990, to_decade=1990)
    assert events.names == ["send_message"]
    call = interaction.response.send_message.await_args
    assert not call.kwargs.get("ephemeral")  # a movie night is a group activity
    embed, view = call.kwargs["embed"], call.kwargs["view"]
    assert isinstance(view, Lobby)
    try:
        assert [(b.label, b.custom_id) for b in view.children] == [
            ("Join", "boxdrec:movienight:9902:join"),
            ("Leave", "boxdrec:movienight:9902:leave"),
            ("Start", "boxdrec:movienight:9902:start"),
        ]
        assert view.timeout == LOBBY_TIMEOUT
        assert field(embed, "Who's in (1/8)") == "ana"
        assert (
            field(embed, "Settings") == "Comedy · 1990–1999 · films none of you has seen · 5 films"
        )
        assert view.night.filters == ListFilters(genres=("Comedy",), year_from=1990, year_to=1999)
    finally:
        view.stop()


async def test_the_starter_needs_saved_films(cog, saved):
    interaction, _ = make_interaction(user_id=NEWCOMER)
    await invoke(cog.movienight, interaction)
    assert sent_text(interaction) == NO_FILMS_OWN


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"genre": "Nonsense"}, r"^'Nonsense' is not a genre the catalogue knows\. Choose from: "),
        ({"from_decade": 1990, "to_decade": 1970}, r"starts after it ends \(1990s to 1970s\)"),
        ({"genre": "Film-Noir", "from_decade": 2020}, r"^No film the model knows fits"),
        ({"genre": "Horror", "exclude_genre": "horror"}, r"^Horror is both wanted and excluded"),
    ],
)
async def test_bad_filters_are_answered_at_once_and_privately(cog, saved, options, message):
    interaction, events = make_interaction(user_id=ANA)
    await invoke(cog.movienight, interaction, **options)
    assert events.names == ["send_message"]
    assert re.search(message, sent_text(interaction))


async def test_genre_autocomplete_offers_catalogue_genres(cog):
    interaction, _ = make_interaction()
    choices = await cog.genre_autocomplete(interaction, "sci")
    assert [c.value for c in choices] == ["Sci-Fi"]
    # Several genres, as /recommend takes them: the last one typed is completed.
    choices = await cog.genre_autocomplete(interaction, "Comedy, hor")
    assert [c.value for c in choices] == ["Comedy, Horror"]
    assert len(await cog.genre_autocomplete(interaction, "")) <= 25


async def test_join_adds_people_with_saved_films_and_updates_the_lobby(lobby):
    interaction, events = await join(lobby, BO, "bo")
    assert events.names == ["edit_message"]
    kwargs = interaction.response.edit_message.await_args.kwargs
    assert kwargs["view"] is lobby
    assert field(kwargs["embed"], "Who's in (2/8)") == "ana and bo"
    again, _ = await join(lobby, BO, "bo")
    assert sent_text(again) == "You are already in this movie night."


async def test_join_without_saved_films_is_told_to_recommend_first(lobby):
    interaction, _ = await join(lobby, NEWCOMER, "newcomer")
    assert sent_text(interaction) == NO_FILMS_OWN
    assert "/recommend" in NO_FILMS_OWN
    assert NEWCOMER not in lobby.members


async def test_the_ninth_person_finds_the_lobby_full(lobby, store, service):  # noqa: F811
    for i in range(MAX_MEMBERS - 1):
        user_id = 2000 + i
        await store.save_films(user_id, person_films(service, i, i + 30, seed=i))
        _, events = await join(lobby, user_id, f"p{i}")
        assert events.names == ["edit_message"]
    assert len(lobby.members) == MAX_MEMBERS
    await store.save_films(2999, person_films(service, 0, 30, seed=9))
    ninth, _ = await join(lobby, 2999, "ninth")
    assert sent_text(ninth) == "The lobby is full: a movie night takes at most 8 people."


async def test_leave(lobby):
    await join(lobby, BO, "bo")
    interaction, events = make_interaction(user_id=BO, name="bo")
    await press(lobby, lobby.leave, interaction)
    assert events.names == ["edit_message"]
    assert field(interaction.response.edit_message.await_args.kwargs["embed"], "Who's in") == "ana"
    stranger, _ = make_interaction(user_id=CY)
    await press(lobby, lobby.leave, stranger)
    assert sent_text(stranger) == "You are not in this movie night."


async def test_the_starter_leaving_calls_the_night_off(lobby):
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.leave, interaction)
    kwargs = interaction.response.edit_message.await_args.kwargs
    assert kwargs["view"] is None
    assert kwargs["embed"].description == "ana called off this movie night."
    assert lobby.is_finished()
    assert stale_message(lobby.join.custom_id).startswith("This movie night has ended")


async def test_only_the_starter_may_start_and_not_alone(lobby):
    await join(lobby, BO, "bo")
    interaction, _ = make_interaction(user_id=BO, name="bo")
    await press(lobby, lobby.start, interaction)
    assert sent_text(interaction) == "Only ana, who started this movie night, can start it."
    lobby.members.pop(BO)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.start, interaction)
    assert sent_text(interaction) == (
        "A movie night needs at least 2 people: wait for someone to press **Join**."
    )
    assert lobby.state == "open"


async def test_start_edits_the_lobby_into_the_result(lobby, saved, service):
    await join(lobby, BO, "bo")
    await join(lobby, CY, "cy")
    interaction, events = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.start, interaction)
    assert events.names == ["edit_message"]  # "picking…" at once, then the result by edit
    picking = interaction.response.edit_message.await_args.kwargs
    assert picking["view"] is None and picking["embed"].description.startswith("Picking films")
    result = interaction.edit_original_response.await_args.kwargs
    assert result["view"] is None
    embed: discord.Embed = result["embed"]
    assert embed.title == "🎬 Movie night: 3 films for ana, bo and cy"
    expected = movie_night(
        service, list(saved.values()), 3, ListFilters(), False, names=["ana", "bo", "cy"]
    )
    assert embed.description == describe_picks(expected)
    lines = embed.description.split("\n\n")
    assert len(lines) == 3
    for entry, pick in zip(lines, expected.picks, strict=True):
        assert pick.film.letterboxd_url in entry
        stars = " · ".join(
            f"{n} ★{s:.1f} ({d:+.1f})"
            for n, s, d in zip(("ana", "bo", "cy"), pick.stars, pick.lift, strict=True)
        )
        assert f"\n{stars} · group fit {pick.fair:+.2f}\n" in entry
        best = max(pick.lift)
        assert pick.lift[pick.best_for] == best
        assert f"Best for {expected.names[pick.best_for]}" in entry
    seen = set().union(*(f.seen_ids for f in saved.values()))
    assert not {p.film.movie_id for p in expected.picks} & seen
    assert embed.footer.text.endswith(
        '(+0.9) after someone\'s stars: that far above their own average rating; "Best for" '
        "names the largest. Group fit = 0.5 × the lowest + 0.5 × the average of each person's "
        "predicted stars, measured against their own usual ratings (least misery, blended)."
    )
    assert lobby.state == "done" and lobby.is_finished()
    assert stale_message(lobby.start.custom_id) is not None


async def test_a_member_who_forgot_their_films_is_left_out_and_the_night_goes_on(
    lobby,
    store,  # noqa: F811
    saved,
    service,
):
    await join(lobby, BO, "bo")
    await join(lobby, CY, "cy")
    await store.forget(CY)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.start, interaction)
    interaction.followup.send.assert_not_awaited()  # no error: the night went on
    embed: discord.Embed = interaction.edit_original_response.await_args.kwargs["embed"]
    assert embed.title == "🎬 Movie night: 3 films for ana and bo"
    assert embed.description.startswith(
        "cy is not in it: their saved films were deleted after they joined.\n\n**1. "
    )
    expected = movie_night(service, [saved[ANA], saved[BO]], 3, names=["ana", "bo"])
    assert embed.description.endswith(describe_picks(expected))
    assert lobby.state == "done" and CY not in lobby.members


async def test_too_few_left_after_a_forget_reopens_the_lobby_without_them(lobby, store):  # noqa: F811
    await join(lobby, BO, "bo")
    await store.forget(BO)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.start, interaction)
    restored = interaction.edit_original_response.await_args.kwargs
    assert restored["view"] is lobby and lobby.state == "open"
    assert field(restored["embed"], "Who's in (1/8)") == "ana"  # the lobby list drops bo
    assert sent_text(interaction) == (
        "bo no longer has saved films (deleted after joining), so I took them out of the lobby. "
        "A movie night needs at least 2 people: wait for someone to press **Join**."
    )


async def test_the_starter_who_forgot_is_told_before_anything_is_picked(lobby, store):  # noqa: F811
    await join(lobby, BO, "bo")
    await store.forget(ANA)
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.start, interaction)
    assert lobby.state == "open" and set(lobby.members) == {ANA, BO}
    assert sent_text(interaction) == (
        "Your saved films were deleted after you opened this movie night: run /recommend again "
        "(and keep your films), then press **Start**."
    )


def test_a_night_that_cannot_fill_its_count_says_so(service, saved):
    """Film noir from the 2010s on: fewer films exist than the five asked for."""
    filters = ListFilters(genres=("Film-Noir",), year_from=2010)
    available = int(service.facts.allowed(filters).sum())
    assert 1 <= available < 5
    night = NightSettings(filters, allow_rewatch=False, count=5)
    result = movie_night(service, [saved[ANA], saved[BO]], 5, filters, names=["ana", "bo"])
    got = len(result.picks)
    assert 1 <= got < 5
    embed = result_embed(result, night)
    film, new = ("film fits", "is") if got == 1 else ("films fit", "are")
    assert embed.description.startswith(
        f"Only {got} {film} these settings and {new} new to everyone (5 asked for): widen the "
        "filters or allow rewatches for more.\n\n**1. "
    )
    rewatch = NightSettings(filters, allow_rewatch=True, count=5)
    assert shortfall_text(result, rewatch) == (
        f"Only {got} {film} these settings (5 asked for): widen the filters for more."
    )
    full = NightSettings(filters, allow_rewatch=False, count=got)
    assert shortfall_text(result, full) == ""


async def test_a_lobby_nobody_starts_closes(lobby):
    await lobby.on_timeout()
    kwargs = lobby.editor.edit_original_response.await_args.kwargs
    assert kwargs["view"] is None
    assert kwargs["embed"].description.startswith("This movie night closed")


def test_settings_describe_rewatches_and_count(service):
    night = NightSettings(build_filters(service, "obscure"), allow_rewatch=True, count=1)
    assert night.describe() == (
        "films hardly anyone has rated (9 MovieLens ratings or fewer) · rewatches allowed · 1 film"
    )
    night = NightSettings(build_filters(service, "less-known"), allow_rewatch=False, count=3)
    assert night.describe() == "less-known films first · films none of you has seen · 3 films"


async def test_a_member_the_model_learns_nothing_from_is_named(lobby, store, service):  # noqa: F811
    gloomy = films_of(service, dict.fromkeys(popular_ids(service, 10), 1.0))
    await store.save_films(CY, gloomy)
    await join(lobby, CY, "cy")
    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await press(lobby, lobby.start, interaction)
    assert sent_text(interaction).startswith("cy's saved films say too little about their taste")


async def test_a_press_on_a_lobby_from_before_a_restart_is_answered(lobby):
    client = BoxdBot(make_settings())
    try:
        for custom_id, expected in (
            ("boxdrec:movienight:123456:join", "This movie night has ended (or the bot restarted)"),
            (lobby.join.custom_id, None),  # alive: the lobby answers it
            ("something:else", None),
        ):
            interaction, _ = make_interaction()
            interaction.type = discord.InteractionType.component
            interaction.data = {"custom_id": custom_id, "component_type": 2}
            await client.on_interaction(interaction)
            if expected is None:
                interaction.response.send_message.assert_not_awaited()
            else:
                assert sent_text(interaction).startswith(expected)
    finally:
        await client.close()


async def test_settings_that_leave_no_film_close_the_lobby_for_everyone(cog, saved, store, service):  # noqa: F811
    filters = ListFilters(genres=("Film-Noir",), year_from=1940, year_to=1949)
    noir = service.model.item_ids[service.facts.allowed(filters)].tolist()
    assert 0 < len(noir) < 100
    # Bo has seen every 1940s film noir the model knows (and rated well-known films too).
    seen_all = {**dict.fromkeys(noir, 3.0), **dict.fromkeys(popular_ids(service, 30), 4.5)}
    await store.save_films(BO, films_of(service, seen_all))
    interaction, _ = make_interaction(interaction_id=9903, user_id=ANA, name="ana")
    await invoke(cog.movienight, interaction, genre="Film-Noir", from_decade=1940, to_decade=1940)
    lobby = interaction.response.send_message.await_args.kwargs["view"]
    try:
        await join(lobby, BO, "bo")
        start, events = make_interaction(user_id=ANA, name="ana")
        await press(lobby, lobby.start, start)
        closed = start.edit_original_response.await_args.kwargs
        assert closed["view"] is None
        assert closed["embed"].description == (
            "This movie night closed: every film that fits its settings (Film-Noir · 1940–1949) "
            "has been seen by someone here. Start a new /movienight with wider filters, or with "
            "allow_rewatches."
        )
        assert lobby.state == "closed" and lobby.is_finished()
        assert events.names == ["edit_message"]  # no private error on top of the public line
        start.followup.send.assert_not_awaited()
    finally:
        lobby.stop()

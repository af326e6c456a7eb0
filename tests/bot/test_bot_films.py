"""/similar and /predict through their callbacks, with autospecced interactions, the real
service and a real profile store."""

# ruff: noqa: F811 (the jobs and store fixtures come from social_helpers)
from __future__ import annotations

from pathlib import Path

import discord
import pytest
from bot_helpers import invoke, make_interaction, make_settings, sent_text
from social_helpers import jobs, store  # noqa: F401  (fixtures; parameters reuse the names)

from bot.cogs.films import Films, predict_embed, similar_embed
from bot.jobs import JobQueue
from bot.profiles import NO_FILMS_OWN
from bot.share import ShareView
from bot.storage import ProfileStore
from recommender.person import FilmCard
from recommender.service import Driver
from recommender.similar import (
    SHOWN_NEIGHBOURS,
    Prediction,
    dimension_fits,
    main_dimension,
    predict_film,
    training_ratings,
)

pytestmark = pytest.mark.movielens

GODFATHER, GODFATHER_II, MOTHER = 858, 1221, 176419


@pytest.fixture
def cog(service, jobs: JobQueue, store: ProfileStore) -> Films:
    return Films(service, jobs, make_settings(), store)


@pytest.fixture(scope="module")
def films(service, letterboxd_dir: Path):
    export = service.read_export_file(letterboxd_dir / "real" / "ratings_small_crlf.csv")
    return service.user_films(export)[0]


def sent_embed(interaction) -> discord.Embed:
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True
    view = call.kwargs["view"]
    assert isinstance(view, ShareView)
    view.stop()
    return call.kwargs["embed"]


# -- autocomplete -------------------------------------------------------------------------------


async def test_autocomplete_offers_choices_with_the_movie_id_as_value(cog: Films):
    interaction, events = make_interaction()
    for callback in (Films._similar_film, Films._predict_film):
        choices = await callback(cog, interaction, "godf")
        assert all(isinstance(c, discord.app_commands.Choice) for c in choices)
        assert (choices[0].name, choices[0].value) == ("The Godfather (1972)", "id:858")
        assert 1 < len(choices) <= 25
    assert len(await Films._similar_film(cog, interaction, "")) == 25
    assert await Films._similar_film(cog, interaction, "qwxzy plorb") == []
    assert events.names == []  # autocomplete answers by returning, never by responding


async def test_the_autocompletes_are_registered(cog: Films):
    for command in (cog.similar, cog.predict):
        assert command._params["film"].autocomplete is not None
        assert command._params["film"].required


# -- /similar -----------------------------------------------------------------------------------


async def test_similar_defers_then_lists_the_nearest_films(cog: Films, service):
    interaction, events = make_interaction()
    await invoke(cog.similar, interaction, "id:858")
    assert events.names == ["defer", "followup"]
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    embed = sent_embed(interaction)
    assert embed.title == "Films like The Godfather (1972)"
    assert embed.url == "https://letterboxd.com/tmdb/238/"
    first = embed.description.split("\n")[0]
    assert first == ("**1.** [The Godfather: Part II (1974)](https://letterboxd.com/tmdb/240/)")
    assert "[The Godfather (1972)]" not in embed.description
    assert embed.description.count("% alike") == 10
    assert not embed.description.startswith("Few MovieLens ratings")  # 100+ ratings
    name, examples = main_dimension(service, GODFATHER)
    footer = "Nearest in the model's taste space: liked by the same kinds of MovieLens raters."
    if dimension_fits(service, GODFATHER, name):
        like = ", ".join(service.title(m) for m in examples)
        footer += f" Its main taste dimension: {name}" + (f" (like {like})" if like else "")
    assert embed.footer.text == footer


async def test_similar_warns_when_the_film_has_few_ratings(cog: Films, service):
    """Mother! (2017) has 2 ratings in ml-latest-small: its neighbours are a rough guess."""
    assert training_ratings(service, MOTHER) == 2
    interaction, _ = make_interaction()
    await invoke(cog.similar, interaction, f"id:{MOTHER}")
    embed = sent_embed(interaction)
    assert embed.title == "Films like Mother! (2017)"
    assert embed.description.startswith(
        "Few MovieLens ratings: only 2 in the model's data (under 20), so these neighbours are "
        "a rough guess.\n\n**1.** "
    )


def test_the_main_dimension_is_left_out_when_its_name_does_not_fit():
    anchor = FilmCard(1, "Amelie", 2001, ("Comedy", "Romance"), 194, None)
    embed = similar_embed(anchor, [], None, 500)
    assert embed.footer.text == (
        "Nearest in the model's taste space: liked by the same kinds of MovieLens raters."
    )
    assert embed.description == "The model has no other film to compare it with."


async def test_similar_takes_free_text_too(cog: Films):
    interaction, _ = make_interaction()
    await invoke(cog.similar, interaction, "the godfather")
    assert sent_embed(interaction).title == "Films like The Godfather (1972)"


async def test_similar_with_no_such_film_answers_at_once(cog: Films):
    interaction, events = make_interaction()
    await invoke(cog.similar, interaction, "qwxzy plorb")
    assert events.names == ["send_message"]
    assert sent_text(interaction) == (
        "No film called “qwxzy plorb”; pick one from the list as you type."
    )


async def test_similar_to_a_film_the_model_cannot_place(cog: Films):
    interaction, _ = make_interaction()
    await invoke(cog.similar, interaction, "id:209163")
    assert sent_text(interaction).startswith("MovieLens has too few ratings of ")


# -- /predict -----------------------------------------------------------------------------------


async def test_predict_needs_saved_films(cog: Films):
    interaction, events = make_interaction()
    await invoke(cog.predict, interaction, "id:858")
    assert events.names == ["defer", "followup"]
    assert sent_text(interaction) == NO_FILMS_OWN


async def test_predict_shows_the_stars_and_the_films_behind_them(
    cog: Films, store: ProfileStore, service, films
):
    await store.save_films(1001, films)
    unseen = service.recommend_films(films, n=1).items[0]
    interaction, events = make_interaction(user_id=1001)
    await invoke(cog.predict, interaction, f"id:{unseen.movie_id}")
    assert events.names == ["defer", "followup"]
    embed = sent_embed(interaction)
    expected = predict_film(service, films, unseen.movie_id)
    assert embed.title == f"{unseen.title} ({unseen.year})"
    assert embed.url == unseen.letterboxd_url
    assert embed.description.startswith(f"Predicted for you: ★{unseen.predicted_stars:.1f}.")
    assert f"Your average rating is ★{expected.user_mean:.1f}." in embed.description
    fields = {f.name: f.value for f in embed.fields}
    neighbours = fields["Your films most like it (share of the vote)"].split("\n")
    assert len(expected.neighbours) > SHOWN_NEIGHBOURS  # this export has many similar films
    assert len(neighbours) == SHOWN_NEIGHBOURS + 1  # five, then what the rest hold
    for line, (driver, share) in zip(neighbours[:-1], expected.neighbours, strict=False):
        assert line.startswith(driver.title) and line.endswith(f"{share:.0%}")
    rest = expected.neighbours[SHOWN_NEIGHBOURS:]
    assert neighbours[-1] == (
        f"…and {len(rest)} more films, {sum(s for _, s in rest):.0%} between them"
    )
    move = round(expected.stars - expected.base_stars, 1) + 0.0
    assert (
        f"From how MovieLens raters rate it, on your scale: ★{expected.base_stars:.1f}; your "
        f"films most like it move that by {move:+.1f}."
    ) in embed.description
    assert (
        fields["Films of yours that point to it"]
        .split("\n")[0]
        .startswith(expected.drivers[0].title)
    )


async def test_predict_a_film_they_rated_and_one_they_hid(cog: Films, store: ProfileStore, films):
    await store.save_films(1001, films)
    rated = films.rated[0]
    await store.hide(1001, rated.movie_id, "not_interested")
    interaction, _ = make_interaction(user_id=1001)
    await invoke(cog.predict, interaction, f"id:{rated.movie_id}")
    description = sent_embed(interaction).description
    assert description.startswith("You rated it ")
    assert "from your other films the model would have predicted ★" in description
    assert "You marked it **Not interested**" in description


async def test_predict_a_film_the_model_cannot_place(cog: Films, store: ProfileStore, films):
    await store.save_films(1001, films)
    interaction, events = make_interaction(user_id=1001)
    await invoke(cog.predict, interaction, "id:209163")
    assert events.names == ["send_message"]  # refused before deferring
    assert "for the model to place it" in sent_text(interaction)


def flat_prediction(**overrides) -> Prediction:
    """A prediction whose vote is spread over 33 films at 1-4% each (the reviewer's case)."""
    shares = [0.04, 0.03, 0.03, 0.03, 0.03] + [0.84 / 28] * 28
    values = {
        "film": FilmCard(1, "Toy Story", 1995, ("Animation",), 862, None),
        "stars": 4.2,
        "drivers": (),
        "neighbours": tuple(
            (Driver(100 + i, f"Film {i}", 2000, 4.0), share) for i, share in enumerate(shares)
        ),
        "seen": False,
        "user_stars": None,
        "on_watchlist": False,
        "user_mean": 3.8,
        "base_stars": 4.1,
    }
    values.update(overrides)
    return Prediction(**values)


def test_a_flat_vote_says_the_prediction_follows_the_average_and_the_reception():
    embed = predict_embed(flat_prediction())
    assert embed.description == (
        "Predicted for you: ★4.2. Your average rating is ★3.8. From how MovieLens raters rate "
        "it, on your scale: ★4.1; your films most like it move that by +0.1. No film of yours "
        "stands out: 33 films share the vote, none more than 4%, so the prediction mostly "
        "follows your average and the film's general reception."
    )
    [field] = [f for f in embed.fields if f.name.startswith("Your films most like it")]
    assert field.value.split("\n") == [
        "Film 0 ★★★★ · 4%",
        "Film 1 ★★★★ · 3%",
        "Film 2 ★★★★ · 3%",
        "Film 3 ★★★★ · 3%",
        "Film 4 ★★★★ · 3%",
        "…and 28 more films, 84% between them",
    ]


def test_a_flat_vote_that_still_moves_the_stars_does_not_claim_otherwise():
    embed = predict_embed(flat_prediction(stars=4.6, base_stars=3.9))
    assert embed.description.endswith(
        "your films most like it move that by +0.7. No film of yours stands out: 33 films share "
        "the vote, none more than 4%."
    )


def test_a_focused_vote_names_no_flatness():
    focused = ((Driver(1, "Heat", 1995, 5.0), 0.6), (Driver(2, "Ronin", 1998, 4.0), 0.4))
    embed = predict_embed(flat_prediction(neighbours=focused))
    assert "stands out" not in embed.description
    [field] = [f for f in embed.fields if f.name.startswith("Your films most like it")]
    assert field.value == "Heat ★★★★★ · 60%\nRonin ★★★★ · 40%"


# -- the Share button ---------------------------------------------------------------------------


async def test_a_prediction_is_not_shared_after_forget(cog: Films, store: ProfileStore, films):
    """/predict quotes the user's own ratings: after /forget its Share posts nothing."""
    await store.save_films(1001, films)
    interaction, _ = make_interaction(interaction_id=4243, user_id=1001)
    await invoke(cog.predict, interaction, "id:1")
    view: ShareView = interaction.followup.send.await_args.kwargs["view"]
    try:
        await store.forget(1001)
        press, _ = make_interaction(user_id=1001)
        await view.share.callback(press)
        [call] = press.response.send_message.await_args_list
        assert call.args == ("Your saved films have since been deleted, so this can't be shared.",)
        assert call.kwargs == {"ephemeral": True}
        assert view.share.disabled and view.is_finished()
    finally:
        view.stop()


async def test_share_posts_publicly_and_only_for_the_owner(cog: Films):
    interaction, _ = make_interaction(interaction_id=4242, user_id=1001)
    await invoke(cog.similar, interaction, "id:858")
    call = interaction.followup.send.await_args
    view: ShareView = call.kwargs["view"]
    try:
        assert view.share.custom_id == "boxdrec:films:4242:share"
        mallory, _ = make_interaction(user_id=6666)
        assert await view.interaction_check(mallory) is False
        assert sent_text(mallory) == "This button belongs to the person who asked."
        press, _ = make_interaction(user_id=1001)
        await view.share.callback(press)
        shared = press.response.send_message.await_args
        assert shared.kwargs == {"embed": call.kwargs["embed"], "ephemeral": False}
    finally:
        view.stop()

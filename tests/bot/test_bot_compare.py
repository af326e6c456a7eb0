"""/compare's callback: who may be compared, and the embed the caller (and the channel) sees."""

from __future__ import annotations

import re
from dataclasses import replace

import discord
import pytest
from bot_helpers import invoke, make_interaction, make_settings, sent_text
from people_factories import films_of
from social_helpers import ANA, BO, CY, jobs, member, person_films, press, store  # noqa: F401

from bot.cogs.compare import Compare, compare_embed
from bot.profiles import NO_FILMS_OWN
from bot.share import ShareView
from bot.social import stale_message
from recommender.compare import agreement_words, compare, taste_words
from recommender.person import FilmCard

pytestmark = pytest.mark.movielens


@pytest.fixture
def cog(service, jobs, store) -> Compare:  # noqa: F811
    return Compare(service, jobs, store, make_settings())


@pytest.fixture
async def saved(service, store):  # noqa: F811
    """Ana and Bo share 20 films (rated alike); Cy saved films but turned comparisons off."""
    ana = person_films(service, 0, 40, seed=1)
    others = person_films(service, 60, 80, seed=2)
    bo = films_of(service, {f.movie_id: f.stars for f in ana.rated[:20] + others.rated})
    await store.save_films(ANA, ana)
    await store.save_films(BO, bo)
    await store.save_films(CY, person_films(service, 0, 30, seed=3))
    await store.set_allow_compare(CY, False)
    return ana, bo


def embed_text(embed: discord.Embed) -> str:
    parts = [embed.title or "", embed.description or ""]
    parts += [f"{f.name}\n{f.value}" for f in embed.fields]
    return "\n".join([*parts, embed.footer.text or ""])


async def test_comparing_with_yourself_is_refused_at_once(cog):
    interaction, events = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.compare, interaction, member(ANA, "ana"))
    assert events.names == ["send_message"]
    assert sent_text(interaction).startswith("Pick someone else")


async def test_bots_and_people_outside_the_server_are_refused(cog):
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.compare, interaction, member(77, "filmbot", bot=True))
    assert sent_text(interaction) == "filmbot is a bot, and bots keep no films: pick a person."
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.compare, interaction, member(BO, "bo", in_guild=False))
    assert sent_text(interaction) == (
        "bo is not a member of this server: compare with someone here."
    )


async def test_in_a_dm_it_asks_for_a_server(cog):
    interaction, _ = make_interaction(user_id=ANA)
    interaction.guild_id = None
    await invoke(cog.compare, interaction, member(BO, "bo"))
    assert "in a server you share" in sent_text(interaction)


async def test_the_caller_needs_saved_films(cog, saved):
    interaction, events = make_interaction(user_id=4040, name="newcomer")
    await invoke(cog.compare, interaction, member(BO, "bo"))
    assert events.names == ["defer", "followup"]
    assert sent_text(interaction) == NO_FILMS_OWN


async def test_the_friend_needs_saved_films_and_consent(cog, saved):
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.compare, interaction, member(4040, "dee"))
    assert sent_text(interaction).startswith("dee has no saved films")
    interaction, _ = make_interaction(user_id=ANA)
    await invoke(cog.compare, interaction, member(CY, "cy"))
    assert sent_text(interaction) == "cy does not allow comparisons."


async def test_the_comparison_is_one_private_embed_with_a_share_button(cog, saved, service):
    ana, bo = saved
    interaction, events = make_interaction(interaction_id=8801, user_id=ANA, name="ana")
    await invoke(cog.compare, interaction, member(BO, "bo"))
    assert events.names == ["defer", "followup"]
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    call = interaction.followup.send.await_args
    assert call.kwargs["ephemeral"] is True
    embed: discord.Embed = call.kwargs["embed"]
    expected = compare(service, ana, bo)
    assert expected.n_shared == 20
    assert embed.title == "You and bo"
    assert embed.description == expected.verdict
    text = embed_text(embed)
    assert f"**{expected.agreement:+.2f}**" in text
    assert "confidence medium: 20 shared rated films" in text
    assert (
        f"**{expected.taste_similarity:+.2f}** ({taste_words(expected.taste_similarity)}) · "
        f"confidence {expected.taste_confidence_label}"
    ) in text
    assert "confidence medium: 40 and 40 rated films the model knows" in text
    assert f"({agreement_words(expected.agreement)})" in text
    assert expected.verdict.startswith(
        agreement_words(expected.agreement).capitalize() + " on the films you both rated"
    )
    assert embed.footer.text == (
        "Agreement: how alike you two rate the films you both rated, after allowing for how "
        "generously each of you rates; with few shared films it is pulled toward 0. Taste: how "
        "alike the model ranks the 1,000 best-known films for each of you, from -1 (opposite) "
        "to +1 (the same); it needs no shared films. Confidence grows with the number of films "
        "behind each."
    )
    for film in expected.shared_favourites:
        assert film.film.letterboxd_url in text
    for loved in expected.for_a:
        assert f"your predicted ★{loved.predicted_stars:.1f}" in text
    assert len(embed) <= 6000 and all(len(f.value) <= 1024 for f in embed.fields)

    view = call.kwargs["view"]
    assert isinstance(view, ShareView)
    assert view.share.custom_id == "boxdrec:compare:8801:share"
    assert stale_message(view.share.custom_id) is None  # alive
    share, _ = make_interaction(user_id=ANA)
    await press(view, view.share, share)
    public = share.response.send_message.await_args
    assert public.kwargs["ephemeral"] is False
    assert public.kwargs["embed"].title == "ana and bo"
    assert "For bo, from ana's favourites" in embed_text(public.kwargs["embed"])
    view.stop()
    assert stale_message(view.share.custom_id) == (
        "This button has expired (or the bot restarted): run /compare again."
    )


@pytest.mark.parametrize(
    ("withdraw", "message"),
    [
        ("privacy", "bo has since turned comparisons off, so this can't be shared."),
        ("forget", "bo has since removed their saved films, so this can't be shared."),
        ("own_forget", "Your saved films have since been deleted, so this can't be shared."),
    ],
)
async def test_share_rechecks_consent_when_pressed(cog, saved, store, withdraw, message):  # noqa: F811
    """The reply was made while Bo allowed comparisons; by the press Bo (or Ana) took that
    back: the press is refused privately, nothing is posted, and the button is disabled."""
    interaction, _ = make_interaction(interaction_id=8802, user_id=ANA, name="ana")
    await invoke(cog.compare, interaction, member(BO, "bo"))
    view = interaction.followup.send.await_args.kwargs["view"]
    try:
        if withdraw == "privacy":
            await store.set_allow_compare(BO, False)
        elif withdraw == "forget":
            await store.forget(BO)
        else:
            await store.forget(ANA)
        share, _ = make_interaction(user_id=ANA, name="ana")
        await press(view, view.share, share)
        [call] = share.response.send_message.await_args_list
        assert call.args == (message,) and call.kwargs == {"ephemeral": True}
        share.followup.send.assert_not_awaited()  # nothing else, and nothing public
        assert view.share.disabled and view.is_finished()
        edited = interaction.edit_original_response.await_args.kwargs
        assert edited == {"view": view}
        assert stale_message(view.share.custom_id) is not None
    finally:
        view.stop()


async def test_share_still_works_while_consent_holds(cog, saved, store):  # noqa: F811
    interaction, _ = make_interaction(interaction_id=8803, user_id=ANA, name="ana")
    await invoke(cog.compare, interaction, member(BO, "bo"))
    view = interaction.followup.send.await_args.kwargs["view"]
    try:
        await store.set_allow_compare(BO, False)
        await store.set_allow_compare(BO, True)  # changed their mind back before the press
        share, _ = make_interaction(user_id=ANA, name="ana")
        await press(view, view.share, share)
        public = share.response.send_message.await_args
        assert public.kwargs["ephemeral"] is False
        assert public.kwargs["embed"].title == "ana and bo"
        assert not view.share.disabled
    finally:
        view.stop()


async def test_films_either_person_hid_are_not_offered_to_them(cog, saved, service, store):  # noqa: F811
    """A film Ana marked "Seen it" (or Bo "Not interested") never shows up under "For you"."""
    ana, bo = saved
    before = compare(service, ana, bo)
    assert before.for_a and before.for_b
    seen_it = before.for_a[0].film
    not_interested = before.for_b[0].film
    await store.hide(ANA, seen_it.movie_id, "seen")
    await store.hide(BO, not_interested.movie_id, "not_interested")

    interaction, _ = make_interaction(user_id=ANA, name="ana")
    await invoke(cog.compare, interaction, member(BO, "bo"))
    embed: discord.Embed = interaction.followup.send.await_args.kwargs["embed"]
    fields = {f.name: f.value for f in embed.fields}
    for_ana, for_bo = (
        fields["For you, from bo's favourites"],
        fields["For bo, from your favourites"],
    )
    assert seen_it.letterboxd_url and seen_it.letterboxd_url in embed_text(
        compare_embed(before, None, "bo")
    )
    assert seen_it.letterboxd_url not in for_ana
    assert not_interested.letterboxd_url not in for_bo
    expected = compare(service, ana, bo, {seen_it.movie_id}, {not_interested.movie_id})
    for loved in expected.for_a:
        assert loved.film.letterboxd_url in for_ana
    for loved in expected.for_b:
        assert loved.film.letterboxd_url in for_bo
    assert embed.description == expected.verdict


def test_the_embed_stays_within_discord_limits_with_absurd_titles(service):
    a, b = person_films(service, 0, 40, seed=4), person_films(service, 20, 60, seed=5)
    result = compare(service, a, b)
    assert result.shared_favourites and result.disagreements and result.for_a and result.for_b
    long = FilmCard(1, "An [absurdly] *long* title " * 40, 1999, ("Drama",), 5, None)

    def pad(films):
        return tuple(replace(f, film=long) for f in films)

    padded = replace(
        result,
        shared_favourites=pad(result.shared_favourites),
        disagreements=pad(result.disagreements),
        for_a=pad(result.for_a),
        for_b=pad(result.for_b),
        verdict=result.verdict,
    )
    embed = compare_embed(padded, "A" * 100, "B" * 100)
    assert len(embed) <= 6000
    assert all(len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    assert len(embed.title) <= 256 and len(embed.description) <= 4096
    assert len(embed.footer.text) <= 2048
    for field in embed.fields[2:]:
        assert not re.search(r"\[[^\]]*$", field.value), "a link cut in half"

"""End to end: /recommend saves Alice's films, then /profile draws her taste with a chart.

The real bot process against the fake Discord; assertions are on the followup's multipart
payload (payload_json and the PNG part) and on what each user is shown or refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import pytest
from bot_process import BotProcess
from e2e_helpers import ACK_SECONDS, Reply, ask, buttons, callback, reply
from fake_discord import EPHEMERAL, FakeDiscord

from bot.profiles import NO_FILMS_OWN

pytestmark = [pytest.mark.movielens, pytest.mark.slow]

EXPORT = ("real", "ratings_2026_cjk.csv")
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Saved:
    alice: dict
    bob: dict


@pytest.fixture(scope="module")
def saved(bot: BotProcess, fake: FakeDiscord, letterboxd_dir: Path) -> Saved:
    """Alice uploads her export with /recommend and keeps her films (the default)."""
    data = letterboxd_dir.joinpath(*EXPORT).read_bytes()
    alice, bob = fake.user("4242", "alice"), fake.user("5151", "bob")
    answer = ask(bot, fake.recommend("ratings.csv", data, count=3, user=alice))
    assert "Saved your" in answer.text, answer.text
    return Saved(alice, bob)


def profile_of(fake: FakeDiscord, asker: dict, target: dict | None = None, dm: bool = False):
    if target is None:
        return fake.slash("profile", user=asker, dm=dm)
    option, resolved = fake.user_option("user", target)
    if dm:  # a DM resolves users only: nobody is a member of anything there
        resolved = {"users": resolved["users"]}
    return fake.slash("profile", [option], user=asker, resolved=resolved, dm=dm)


def chart_of(answer: Reply) -> bytes:
    parts = [p for p in answer.req.files if p.filename == "profile.png"]
    assert len(parts) == 1, [p.filename for p in answer.req.files]
    return parts[0].data


def test_profile_answers_privately_with_embed_and_chart(
    bot: BotProcess, fake: FakeDiscord, saved: Saved
):
    payload = profile_of(fake, saved.alice)
    sent = bot.send(payload)
    ack = bot.wait_for(callback(payload))
    assert ack.at - sent <= ACK_SECONDS
    assert ack.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    answer = reply(bot, payload)
    assert answer.req.path == f"/webhooks/{fake.app_id}/{payload['token']}"
    assert answer.ephemeral

    assert len(answer.embeds) == 1
    embed = answer.embeds[0]
    assert embed["author"]["name"] == "Alice's taste profile"
    assert embed["title"].startswith("A ") and " of " in embed["title"], embed["title"]
    assert "**452** rated" in embed["description"]
    assert "of MovieLens raters" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert {"Your favourite genres", "Your favourite decades"} <= set(fields)
    dims = [name for name in fields if name.endswith("of your taste")]
    assert len(dims) == 3 and all(fields[d].startswith("Like ") for d in dims)
    assert embed["image"]["url"] == "attachment://profile.png"
    assert [a["filename"] for a in answer.body["attachments"]] == ["profile.png"]
    assert sum(len(str(v)) for v in fields.values()) + len(embed["description"]) < 6000

    png = chart_of(answer)
    assert png.startswith(PNG) and len(png) < 100_000
    assert matplotlib.image.imread(io.BytesIO(png), format="png").shape[:2] == (500, 1000)
    # Discord stores the attachment on the message the embed image points at.
    assert [a["filename"] for a in answer.message["attachments"]] == ["profile.png"]

    share = buttons(answer.message)["Share to channel"]
    pressed = fake.press(fake.messages[answer.message["id"]], share, user=saved.alice)
    shared = ask(bot, pressed)
    assert shared.req.json["type"] == 4 and not shared.ephemeral
    assert shared.embeds[0]["author"]["name"] == "Alice's taste profile"
    assert chart_of(shared) == png


def test_a_friend_sees_it_in_the_server_until_she_opts_out(
    bot: BotProcess, fake: FakeDiscord, saved: Saved
):
    answer = ask(bot, profile_of(fake, saved.bob, saved.alice))
    assert answer.ephemeral
    embed = answer.embeds[0]
    assert embed["author"]["name"] == "Alice's taste profile"
    assert "Alice's favourite genres" in {f["name"] for f in embed["fields"]}
    assert chart_of(answer).startswith(PNG)
    assert not answer.message["components"], "only Alice may share her profile"

    option = [{"name": "allow_compare", "type": 5, "value": False}]
    assert "Nobody may" in ask(bot, fake.slash("privacy", option, user=saved.alice)).text
    try:
        refused = ask(bot, profile_of(fake, saved.bob, saved.alice))
        assert refused.ephemeral and not refused.req.files
        assert refused.text == "Alice does not allow comparisons."
    finally:
        option = [{"name": "allow_compare", "type": 5, "value": True}]
        ask(bot, fake.slash("privacy", option, user=saved.alice))


def test_in_a_dm_only_your_own_and_nothing_without_films(
    bot: BotProcess, fake: FakeDiscord, saved: Saved
):
    refused = ask(bot, profile_of(fake, saved.bob, saved.alice, dm=True))
    assert refused.req.json["type"] == 4 and refused.ephemeral  # refused before deferring
    assert refused.text.startswith("In a DM I can only show your own profile")

    own = ask(bot, profile_of(fake, saved.alice, dm=True))
    assert own.embeds[0]["author"]["name"] == "Alice's taste profile"

    nothing = ask(bot, profile_of(fake, fake.user("6161", "carol")))
    assert nothing.ephemeral and nothing.text == NO_FILMS_OWN

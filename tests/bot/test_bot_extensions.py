"""Every extension loads into a real, unstarted BoxdBot; the command schema is what we sync."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import pytest
from bot_helpers import make_interaction, make_settings

import bot.client
from bot.client import EXTENSIONS, BoxdBot, BoxdTree
from bot.storage import ProfileStore

pytestmark = pytest.mark.movielens


def by_name(options: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in options}


async def test_every_extension_loads_and_the_schema_is_right(service, tmp_path: Path):
    store = await ProfileStore.open(tmp_path / "boxdrec.sqlite3", 180)
    client = BoxdBot(make_settings(), service=service, store=store)
    try:
        for extension in EXTENSIONS:
            await client.load_extension(extension)
        schema = {c.name: c.to_dict(client.tree) for c in client.tree.get_commands()}
        assert {"recommend", "help", "forget", "privacy"} <= set(schema)
        assert all(len(c["description"]) <= 100 for c in schema.values())
        options = by_name(schema["recommend"]["options"])
        assert list(options) == [
            "file",
            "count",
            "exclude_watchlist",
            "discover",
            "genre",
            "exclude_genre",
            "from_decade",
            "to_decade",
        ]
        assert [c["value"] for c in options["discover"]["choices"]] == [
            "balanced",
            "less-known",
            "obscure",
        ]
        assert options["genre"]["autocomplete"] and options["exclude_genre"]["autocomplete"]
        decades = [c["value"] for c in options["from_decade"]["choices"]]
        assert decades == list(range(1900, 2030, 10)) and options["to_decade"]["type"] == 4
        for command in ("similar", "predict"):
            film = by_name(schema[command]["options"])["film"]
            assert (film["type"], film["required"], film["autocomplete"]) == (3, True, True)
        assert (options["file"]["type"], options["file"]["required"]) == (11, True)
        count = options["count"]
        assert (count["type"], count["required"], count["min_value"], count["max_value"]) == (
            4,
            False,
            1,
            50,
        )
        assert (options["exclude_watchlist"]["type"], options["exclude_watchlist"]["required"]) == (
            5,
            False,
        )
        assert schema["help"].get("options", []) == []
        # /movienight offers the same list controls as /recommend, with the same names.
        night = by_name(schema["movienight"]["options"])
        assert list(night) == [
            "discover",
            "genre",
            "exclude_genre",
            "from_decade",
            "to_decade",
            "allow_rewatches",
            "count",
        ]
        for name in ("discover", "from_decade", "to_decade"):
            assert night[name]["choices"] == options[name]["choices"]
        assert night["genre"]["autocomplete"] and night["exclude_genre"]["autocomplete"]
    finally:
        await client.close()


async def test_the_bot_asks_for_no_privileged_intent_and_uses_our_tree():
    settings = make_settings(guild_ready_timeout=0.05, max_concurrent_jobs=3)
    client = BoxdBot(settings)
    try:
        assert isinstance(client.tree, BoxdTree)
        assert not (client.intents.message_content or client.intents.members)
        assert not client.intents.presences
        assert client._connection.guild_ready_timeout == 0.05
        assert client.executor._max_workers == 3
        with pytest.raises(RuntimeError):
            _ = client.service
    finally:
        await client.close()


@pytest.mark.parametrize("sync", [False, True])
async def test_setup_hook_loads_the_service_off_the_loop_and_syncs_only_when_asked(
    service, monkeypatch: pytest.MonkeyPatch, sync: bool, tmp_path: Path
):
    threads: list[str] = []

    def load(settings: Any) -> Any:
        threads.append(threading.current_thread().name)
        return service

    monkeypatch.setattr(bot.client, "load_recommender", load)
    client = BoxdBot(make_settings(database=tmp_path / "boxdrec.sqlite3"), sync_commands=sync)
    try:
        monkeypatch.setattr(client.tree, "sync", mock.AsyncMock(return_value=[]))
        await client.setup_hook()
        assert threads and threads[0] != threading.main_thread().name
        assert client.service is service
        assert set(client.extensions) == set(EXTENSIONS)
        assert client.tree.sync.await_count == (1 if sync else 0)
    finally:
        await client.close()


async def test_help_is_private_and_explains_the_export(service):
    client = BoxdBot(make_settings(), service=service)
    try:
        await client.load_extension("bot.cogs.help")
        cog = client.get_cog("Help")
        interaction, _ = make_interaction()
        await cog.help.callback(cog, interaction)
        call = interaction.response.send_message.await_args
        assert call.kwargs["ephemeral"] is True
        embed: discord.Embed = call.kwargs["embed"]
        text = "\n".join([embed.description or ""] + [f"{f.name} {f.value}" for f in embed.fields])
        assert "Settings → Data → Export your data" in text
        for name in ("ratings.csv", "watched.csv", "watchlist.csv", "diary.csv", "likes/films.csv"):
            assert name in text
        assert "Never profile.csv" in text
        assert "Your file is read in memory and discarded." in text
        assert "/forget" in text and "/privacy" in text and "never your email" in text
        assert "Files up to 10 MB." in text
        assert len(embed) <= 6000
    finally:
        await client.close()


async def test_the_tree_error_handler_answers_after_a_deferral():
    client = BoxdBot(make_settings())
    try:
        interaction, events = make_interaction()
        await interaction.response.defer(ephemeral=True, thinking=True)
        await client.tree.on_error(interaction, discord.app_commands.CheckFailure("no"))
        assert events.names == ["defer", "followup"]
        assert interaction.followup.send.await_args.kwargs == {"ephemeral": True}
        assert "error id" in interaction.followup.send.await_args.args[0]
    finally:
        await client.close()

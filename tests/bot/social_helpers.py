"""Builders shared by the /compare and /movienight cog tests: people, a store, button presses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import discord
import pytest
import pytest_asyncio
from bot_helpers import job_queue
from people_factories import films_of, popular_ids, varied_stars

from bot.jobs import JobQueue
from bot.storage import ProfileStore
from recommender.user_films import UserFilms

ANA, BO, CY, DEE = 1001, 1002, 1003, 1004


def member(user_id: int, name: str, *, bot: bool = False, in_guild: bool = True) -> Any:
    """A guild member (or, with ``in_guild=False``, a plain user) as a user option resolves."""
    person = mock.MagicMock(spec=discord.Member if in_guild else discord.User)
    person.id = user_id
    person.display_name = name
    person.bot = bot
    person.mention = f"<@{user_id}>"
    return person


def person_films(service: Any, lo: int, hi: int, seed: int) -> UserFilms:
    """Someone who rated the model's most popular films ``lo``..``hi`` (varied stars)."""
    ids = popular_ids(service, hi)[lo:hi]
    return films_of(service, dict(zip(ids, varied_stars(len(ids), seed), strict=True)))


async def press(view: discord.ui.View, item: discord.ui.Button, interaction: Any) -> None:
    """A button press as the view store runs it: the callback, failures to ``on_error``."""
    try:
        await item.callback(interaction)
    except Exception as error:
        await view.on_error(interaction, error, item)


@pytest.fixture
def jobs() -> Iterator[JobQueue]:
    with job_queue(2) as queue:
        yield queue


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[ProfileStore]:
    opened = await ProfileStore.open(tmp_path / "boxdrec.sqlite3", 180)
    yield opened
    await opened.close()

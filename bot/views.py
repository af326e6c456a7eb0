"""The buttons under a /recommend reply: page through, share publicly, download a list CSV.

custom_id scheme: ``boxdrec:<interaction id of the /recommend>:<action>`` with action one of
``prev``, ``next``, ``share``, ``csv``. Only the person who asked may press them.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import discord

from bot.embeds import build_pages
from bot.errors import report_error
from bot.letterboxd_csv import FILENAME, recommendations_csv
from recommender.service import RecommendationResult

log = logging.getLogger(__name__)

VIEW_TIMEOUT_SECONDS = 600.0
CSV_MESSAGE = (
    "Your recommendations as a Letterboxd list: on letterboxd.com start a new list, "
    "choose Import, and pick this file."
)


EXPIRED_MESSAGE = "These buttons have expired (or the bot restarted): run /recommend again."

# Origins (/recommend interaction ids) whose view is alive in this process. Views live in
# memory only, so after a restart or a timeout a press must still get an answer.
_live: set[int] = set()


def custom_id(interaction_id: int, action: str) -> str:
    return f"boxdrec:{interaction_id}:{action}"


def stale_origin(custom_id_value: str) -> int | None:
    """The /recommend id of a boxdrec button whose view is gone, else ``None``."""
    prefix, _, rest = custom_id_value.partition(":")
    origin, _, _ = rest.partition(":")
    if prefix != "boxdrec" or not origin.isdigit():
        return None
    return None if int(origin) in _live else int(origin)


class RecommendationView(discord.ui.View):
    """Pages of one result, owned by the user who ran /recommend."""

    def __init__(
        self,
        result: RecommendationResult,
        origin: discord.Interaction,
        *,
        timeout: float = VIEW_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(timeout=timeout)
        self.result = result
        self.origin = origin
        self.owner_id = origin.user.id
        self.owner_name = origin.user.display_name
        self.pages = build_pages(result)
        self.public_pages = build_pages(result, self.owner_name, public=True)
        self.page = 0
        for item, action in (
            (self.previous_page, "prev"),
            (self.next_page, "next"),
            (self.share, "share"),
            (self.download_csv, "csv"),
        ):
            item.custom_id = custom_id(origin.id, action)
        self._update_buttons()
        _live.add(origin.id)

    def stop(self) -> None:
        _live.discard(self.origin.id)
        super().stop()

    @property
    def current(self) -> discord.Embed:
        return self.pages[self.page]

    def _update_buttons(self) -> None:
        self.previous_page.disabled = self.page == 0
        self.next_page.disabled = self.page >= len(self.pages) - 1

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), len(self.pages) - 1)
        self._update_buttons()
        await interaction.response.edit_message(embed=self.current, view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    @discord.ui.button(label="Share to channel", style=discord.ButtonStyle.primary)
    async def share(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        log.info("user %s shared page %d", self.owner_id, self.page + 1)
        await interaction.response.send_message(embed=self.public_pages[self.page], ephemeral=False)

    @discord.ui.button(label="Download CSV", style=discord.ButtonStyle.secondary)
    async def download_csv(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        data = recommendations_csv(self.result.items)
        await interaction.response.send_message(
            CSV_MESSAGE, file=discord.File(io.BytesIO(data), filename=FILENAME), ephemeral=True
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        name = discord.utils.escape_markdown(self.owner_name)
        await interaction.response.send_message(
            f"These buttons belong to {name}'s recommendations.", ephemeral=True
        )
        return False

    async def on_timeout(self) -> None:
        _live.discard(self.origin.id)
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        # The interaction token may have expired or the message been deleted: nothing to do.
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(view=self)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)

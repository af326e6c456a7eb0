"""One "Share to channel" button under a private reply, for any command whose answer is worth
showing others (/similar, /predict). Only the person who asked may press it.

Its custom id follows :mod:`bot.social` (``boxdrec:<kind>:<id>:share``), so a press after a
restart or a timeout gets that module's "expired" answer for ``kind``.

A reply made from saved films (/compare, /profile) passes ``check``: consent is read again when
the button is pressed, and a refusal (someone ran /forget or turned comparisons off since) is
told privately, nothing is posted, and the button is disabled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.errors import report_error
from bot.social import custom_id, mark_live
from bot.views import VIEW_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

# Why the reply may no longer be posted (a message for its owner), or None when it may.
ShareCheck = Callable[[], Awaitable[str | None]]


class ShareView(discord.ui.View):
    """Posts ``public`` (an embed) to the channel when its owner presses the button."""

    def __init__(
        self,
        public: discord.Embed,
        origin: discord.Interaction,
        kind: str,
        *,
        check: ShareCheck | None = None,
        timeout: float = VIEW_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(timeout=timeout)
        self.public = public
        self.origin = origin
        self.kind = kind
        self.check = check
        self.owner_id = origin.user.id
        self.share.custom_id = custom_id(kind, origin.id, "share")
        mark_live(kind, origin.id, True)

    def stop(self) -> None:
        mark_live(self.kind, self.origin.id, False)
        super().stop()

    @discord.ui.button(label="Share to channel", style=discord.ButtonStyle.primary)
    async def share(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        if await self.refused(interaction):
            return
        log.info("user %s shared a %s reply", self.owner_id, self.kind)
        await interaction.response.send_message(embed=self.public, ephemeral=False)

    async def refused(self, interaction: discord.Interaction) -> bool:
        """Run ``check``; on a refusal tell the presser why (privately), disable the button and
        return True: the caller then posts nothing."""
        reason = None if self.check is None else await self.check()
        if reason is None:
            return False
        log.info("user %s may no longer share a %s reply (consent gone)", self.owner_id, self.kind)
        await interaction.response.send_message(reason, ephemeral=True)
        self.share.disabled = True
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(view=self)
        self.stop()
        return True

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "This button belongs to the person who asked.", ephemeral=True
        )
        return False

    async def on_timeout(self) -> None:
        mark_live(self.kind, self.origin.id, False)
        self.share.disabled = True
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(view=self)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)

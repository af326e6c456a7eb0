"""The buttons under a /recommend reply: page through, share publicly, download a list CSV,
and hide a film ("Seen it" / "Not interested"), which re-ranks the list at once.

custom_id scheme: ``boxdrec:<interaction id of the /recommend>:<action>`` with action one of
``prev``, ``next``, ``share``, ``csv``, ``forget``, ``mark``. Only the person who asked may
press them.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Literal

import discord

from bot.embeds import PER_PAGE, build_pages, cut
from bot.errors import UserFacingError, report_error
from bot.letterboxd_csv import FILENAME, recommendations_csv
from bot.storage import ProfileStore
from recommender.service import Recommendation, RecommendationResult

log = logging.getLogger(__name__)

VIEW_TIMEOUT_SECONDS = 600.0
CSV_MESSAGE = (
    "Your recommendations as a Letterboxd list: on letterboxd.com start a new list, "
    "choose Import, and pick this file."
)


FORGOTTEN_MESSAGE = (
    "Done: I deleted the films I had saved for you (and any films you hid), and I will not save "
    "your films when you upload again. /profile, /compare and /movienight need saved films: to "
    "use them, run `/privacy keep_films:true` and upload again."
)
NOT_KEPT_LINE = (
    "Your films were not kept: you asked me to delete them, and later uploads will not be saved "
    "either (`/privacy keep_films:true` changes that)."
)


def saved_line(n: int, retention_days: float, *, button: bool = True) -> str:
    """The line above a list whose films were just saved; ``button``: "Don't keep" is live."""
    head = (
        f"Saved your {n:,} film{'' if n == 1 else 's'} so /profile, /compare and /movienight "
        f"work without re-uploading; kept {retention_days:g} days (see /privacy). Rather not? "
    )
    if button:
        return head + "Press **Don't keep my films**."
    # The buttons expired: point to the commands that do the same.
    return head + (
        "`/privacy keep_films:false` deletes them and stops saving later uploads; `/forget` "
        "deletes everything."
    )


HIDE_LABELS = {"seen": "Seen it", "not_interested": "Not interested"}
MARK_PLACEHOLDER = "Seen it? Not interested? Hide a film and re-rank…"
OPTION_LIMIT = 100  # Discord's limit on a select option's label

# Recomputes the list without the given films (the cog runs it in the pool).
Reranker = Callable[[frozenset[int]], Awaitable[RecommendationResult]]

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
        store: ProfileStore | None = None,
        rerank: Reranker | None = None,
        hidden: Collection[int] = (),
        saved_count: int = 0,
    ) -> None:
        super().__init__(timeout=timeout)
        self.store = store  # set when the user's films were just saved: offers "Don't keep"
        self.saved_count = saved_count  # how many films the saved_line above the list names
        self.rerank = rerank  # set: the page offers "Seen it" / "Not interested"
        self.hidden = set(hidden)
        self._version = 0  # the latest re-rank wins when presses overlap
        self.origin = origin
        self.owner_id = origin.user.id
        self.owner_name = origin.user.display_name
        self.page = 0
        self._show(result)
        for item, action in (
            (self.previous_page, "prev"),
            (self.next_page, "next"),
            (self.share, "share"),
            (self.download_csv, "csv"),
            (self.dont_keep, "forget"),
            (self.mark, "mark"),
        ):
            item.custom_id = custom_id(origin.id, action)
        if store is None:
            self.remove_item(self.dont_keep)
        if rerank is None:
            self.remove_item(self.mark)
        self._update_buttons()
        _live.add(origin.id)

    def stop(self) -> None:
        _live.discard(self.origin.id)
        super().stop()

    @property
    def current(self) -> discord.Embed:
        return self.pages[self.page]

    @property
    def page_items(self) -> tuple[Recommendation, ...]:
        return self.result.items[self.page * PER_PAGE : (self.page + 1) * PER_PAGE]

    def _show(self, result: RecommendationResult) -> None:
        self.result = result
        self.pages = build_pages(result)
        self.public_pages = build_pages(result, self.owner_name, public=True)
        self.page = min(self.page, len(self.pages) - 1)

    def _update_buttons(self) -> None:
        self.previous_page.disabled = self.page == 0
        self.next_page.disabled = self.page >= len(self.pages) - 1
        options = mark_options(self.page_items)
        # A select needs at least one option: with nothing left to hide, it greys out.
        self.mark.options = options or [discord.SelectOption(label="Nothing to hide", value="-")]
        self.mark.disabled = not options

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

    # On a row of its own: a deletion should not sit next to "Next".
    @discord.ui.button(label="Don't keep my films", style=discord.ButtonStyle.danger, row=1)
    async def dont_keep(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        if self.store is None:  # the button is only shown with a store
            await interaction.response.defer()
            return
        # Acknowledged first: another process holding the database's write lock could make
        # the deletion wait past Discord's 3 seconds.
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Deletes the films and hidden films and remembers the "no" (allow_compare stays).
        rows = await self.store.set_keep_films(self.owner_id, False)
        log.info("user %s chose not to keep their films (%d rows deleted)", self.owner_id, rows)
        await interaction.followup.send(FORGOTTEN_MESSAGE, ephemeral=True)
        # The reply still says the films were saved and offers the button: correct both.
        self.store = None
        self.remove_item(self.dont_keep)
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(content=NOT_KEPT_LINE, view=self)

    @discord.ui.select(placeholder=MARK_PLACEHOLDER, row=2)
    async def mark(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        kind, _, movie = select.values[0].partition(":")
        if kind not in HIDE_LABELS or not movie.isdigit():
            await interaction.response.defer()
            return
        await self.hide(interaction, int(movie), kind)  # type: ignore[arg-type]

    async def hide(
        self,
        interaction: discord.Interaction,
        movie_id: int,
        kind: Literal["seen", "not_interested"],
    ) -> None:
        """Leave ``movie_id`` out (remembered while the user's films are kept) and re-rank."""
        if self.rerank is None:
            return
        # Acknowledged at once: the store and the re-rank may take longer than 3 seconds.
        await interaction.response.defer()
        film = next((r for r in self.result.items if r.movie_id == movie_id), None)
        remembered = await self._remember(movie_id, kind)
        self.hidden.add(movie_id)
        self._version += 1
        version = self._version
        line = hide_line(film.title if film else str(movie_id), kind, remembered)
        try:
            result = await self.rerank(frozenset(self.hidden))
        except UserFacingError as error:  # busy, too many requests, too slow: say so in place
            log.info("re-rank for user %s refused: %s", self.owner_id, error)
            if version == self._version:
                await interaction.edit_original_response(
                    content=f"{line} {UNREFRESHED} {error}", view=self
                )
            return
        log.info(
            "user %s hid film %s (%s, remembered %s)", self.owner_id, movie_id, kind, remembered
        )
        if version != self._version:
            return  # a later press is re-ranking with this film hidden too
        self._show(result)
        self._update_buttons()
        await interaction.edit_original_response(content=line, embed=self.current, view=self)

    async def _remember(self, movie_id: int, kind: Literal["seen", "not_interested"]) -> bool:
        """Store the choice if the user keeps their films (their consent); True if stored."""
        if self.store is None:
            return False
        try:
            # False when the films are no longer kept (/forget or "Don't keep" elsewhere).
            return await self.store.hide(self.owner_id, movie_id, kind)
        except Exception:  # the database costs the remembering, never the re-ranked list
            log.exception("could not store hidden film %s of user %s", movie_id, self.owner_id)
            return False

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
            if isinstance(item, discord.ui.Button | discord.ui.Select):
                item.disabled = True
        # The interaction token may have expired or the message been deleted: nothing to do.
        with contextlib.suppress(discord.HTTPException):
            if self.store is None:
                await self.origin.edit_original_response(view=self)
            else:  # the line above the list still says "Press Don't keep", now greyed out
                content = saved_line(self.saved_count, self.store.retention_days, button=False)
                await self.origin.edit_original_response(content=content, view=self)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)


def mark_options(items: tuple[Recommendation, ...]) -> list[discord.SelectOption]:
    """Two options per film on the page: "Seen it: Heat (1995)", "Not interested: Heat (1995)"."""
    options = []
    for rec in items:
        name = rec.title + (f" ({rec.year})" if rec.year is not None else "")
        for kind, label in HIDE_LABELS.items():
            options.append(
                discord.SelectOption(
                    label=cut(f"{label}: {name}", OPTION_LIMIT), value=f"{kind}:{rec.movie_id}"
                )
            )
    return options


# After a hide whose re-rank was refused; the refusal's own text follows.
UNREFRESHED = "The list below could not be refreshed just now:"


def hide_line(title: str, kind: str, remembered: bool) -> str:
    """What the reply says after a press: what was hidden, and whether it is remembered."""
    name = f"**{discord.utils.escape_markdown(title)}**"
    if remembered:
        return (
            f"{HIDE_LABELS[kind]}: {name} is out of this list and will stay out of your lists "
            "(/forget clears it)."
        )
    return (
        f"{HIDE_LABELS[kind]}: {name} is out of this list only. Your films are not kept, so I "
        "do not remember it either."
    )

"""The /movienight lobby: a public message with Join, Leave and Start, edited into the result.

custom_ids: ``boxdrec:movienight:<lobby id>:join|leave|start``, the lobby id being the id of the
/movienight interaction. Anyone with saved films may join (2 to 8 people); only the starter may
start; the starter leaving cancels the night. On Start the message shows "picking…" at once (the
press is answered within Discord's 3 seconds), the films are ranked in the bot's pool, and the
same message becomes the result. A lobby nobody starts closes after :data:`LOBBY_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import discord

from bot.answers import run_job
from bot.embeds import COLOUR, cut, escape_markup
from bot.errors import UserFacingError, report_error
from bot.jobs import JobQueue
from bot.profiles import require_profile
from bot.social import (
    NAME_LIMIT,
    SocialRejected,
    custom_id,
    film_link,
    mark_live,
    name,
    predicted,
)
from bot.storage import ProfileStore, StoredProfile
from recommender.filters import ListFilters
from recommender.group import (
    BLEND,
    MAX_MEMBERS,
    MIN_MEMBERS,
    GroupPick,
    GroupResult,
    NoFilmsLeft,
    movie_night,
)
from recommender.service import RecommenderService

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; the lobby closes a minute before the starter's expires,
# so the "closed" edit can still use it.
LOBBY_TIMEOUT = 14 * 60.0
DESCRIPTION_LIMIT = 4096
TITLE = "🎬 Movie night"
AGGREGATE_NOTE = (
    '(+0.9) after someone\'s stars: that far above their own average rating; "Best for" '
    "names the largest. "
    f"Group fit = {BLEND:g} × the lowest + {1 - BLEND:g} × the average of each person's "
    "predicted stars, measured against their own usual ratings (least misery, blended)."
)

State = Literal["open", "picking", "done", "closed"]


class LobbyFull(UserFacingError):
    def __init__(self) -> None:
        super().__init__(f"The lobby is full: a movie night takes at most {MAX_MEMBERS} people.")


class NotStarter(UserFacingError):
    def __init__(self, starter: str) -> None:
        super().__init__(f"Only {starter}, who started this movie night, can start it.")


class TooFewPeople(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            f"A movie night needs at least {MIN_MEMBERS} people: wait for someone to press "
            "**Join**."
        )


class StarterWithoutFilms(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "Your saved films were deleted after you opened this movie night: run /recommend "
            "again (and keep your films), then press **Start**."
        )


class TooFewLeft(UserFacingError):
    """Members whose films were deleted since they joined were taken out, leaving too few."""

    def __init__(self, dropped: Sequence[str]) -> None:
        super().__init__(
            f"{joined_names(dropped)} no longer {'has' if len(dropped) == 1 else 'have'} saved "
            "films (deleted after joining), so I took them out of the lobby. A movie night needs "
            f"at least {MIN_MEMBERS} people: wait for someone to press **Join**."
        )


@dataclass(frozen=True)
class NightSettings:
    """What the starter chose."""

    filters: ListFilters
    allow_rewatch: bool
    count: int

    def describe(self) -> str:
        parts = [self.filters.describe() or "any film"]
        parts.append("rewatches allowed" if self.allow_rewatch else "films none of you has seen")
        parts.append(f"{self.count} film{'' if self.count == 1 else 's'}")
        return " · ".join(parts)


# -- embeds -------------------------------------------------------------------------------------


def joined_names(names: Sequence[str]) -> str:
    shown = [name(n) for n in names]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def lobby_embed(
    starter: str, members: Sequence[str], night: NightSettings, closes_at: float
) -> discord.Embed:
    who = name(starter)
    description = (
        f"{who} is planning a movie night. Press **Join** to be in it (you need films saved "
        f"with /recommend); {who} presses **Start** when everyone is in. I pick films for the "
        f"whole group, with each person's predicted stars. Closes <t:{int(closes_at)}:R>."
    )
    embed = discord.Embed(title=TITLE, description=description, colour=COLOUR)
    embed.add_field(name="Settings", value=cut(night.describe(), 1024), inline=False)
    embed.add_field(
        name=f"Who's in ({len(members)}/{MAX_MEMBERS})",
        value=cut(joined_names(members), 1024),
        inline=False,
    )
    return embed


def no_films_text(night: NightSettings) -> str:
    """The closing line of a movie night whose settings leave no film."""
    what = f" ({night.filters.describe()})" if night.filters.active else ""
    rewatch = "" if night.allow_rewatch else ", or with allow_rewatches"
    return (
        f"This movie night closed: every film that fits its settings{what} has been seen by "
        f"someone here. Start a new /movienight with wider filters{rewatch}."
    )


def status_embed(text: str) -> discord.Embed:
    return discord.Embed(title=TITLE, description=text, colour=COLOUR)


def shortfall_text(result: GroupResult, night: NightSettings) -> str:
    """What to say when fewer films fit than were asked for ("" when the count is met)."""
    got = len(result.picks)
    if not got or got >= night.count:
        return ""
    verb = "fits" if got == 1 else "fit"
    new = (
        "" if night.allow_rewatch else (" and is" if got == 1 else " and are") + " new to everyone"
    )
    wider = "widen the filters" + ("" if night.allow_rewatch else " or allow rewatches")
    return (
        f"Only {got} film{'' if got == 1 else 's'} {verb} these settings{new} "
        f"({night.count} asked for): {wider} for more."
    )


def dropped_text(dropped: Sequence[str]) -> str:
    """Members left out at Start because their saved films were deleted since they joined."""
    if not dropped:
        return ""
    verb = "is" if len(dropped) == 1 else "are"
    return (
        f"{joined_names(dropped)} {verb} not in it: their saved films were deleted after they "
        "joined."
    )


def result_embed(
    result: GroupResult, night: NightSettings, dropped: Sequence[str] = ()
) -> discord.Embed:
    films = len(result.picks)
    title = f"{TITLE}: {films} film{'' if films == 1 else 's'} for {joined_names(result.names)}"
    footer = cut(f"{night.describe()} · {AGGREGATE_NOTE}", 2048)
    notes = "\n".join(t for t in (dropped_text(dropped), shortfall_text(result, night)) if t)
    notes = cut(notes, 1000)
    room = DESCRIPTION_LIMIT - (len(notes) + 2 if notes else 0)
    description = describe_picks(result, room)
    if notes:
        description = f"{notes}\n\n{description}"
    embed = discord.Embed(title=cut(title, 256), description=description, colour=COLOUR)
    embed.set_footer(text=footer)
    return embed


def pick_heading(pick: GroupPick) -> str:
    genres = ", ".join(pick.film.genres[:3])
    return f"**{pick.rank}. {film_link(pick.film)}**" + (f" · {genres}" if genres else "")


def pick_stars(pick: GroupPick, names: Sequence[str]) -> str:
    """ "Ana ★4.7 (+0.9) · Bo ★4.1 (+0.8) · group fit +1.05": stars and each one's lift."""
    stars = " · ".join(
        f"{name(n)} {predicted(s)}" + ("" if d is None else f" ({d:+.1f})")
        for n, s, d in zip(names, pick.stars, pick.lift, strict=True)
    )
    return f"{stars} · group fit {pick.fair:+.2f}"


def describe_picks(result: GroupResult, limit: int = DESCRIPTION_LIMIT) -> str:
    """Every pick with everyone's stars; reasons shortened evenly (then dropped) to fit."""
    if not result.picks:
        return "No film fits: widen the filters or allow rewatches."
    fixed = [f"{pick_heading(p)}\n{pick_stars(p, result.names)}" for p in result.picks]
    reasons = [escape_markup(p.reason) for p in result.picks]
    text = "\n\n".join(f"{f}\n{r}" for f, r in zip(fixed, reasons, strict=True))
    if len(text) <= limit:
        return text
    room = limit - sum(len(f) + 3 for f in fixed)
    per_reason = room // len(fixed) if room > 0 else 0
    if per_reason >= 20:
        return "\n\n".join(
            f"{f}\n{cut(r, per_reason)}" for f, r in zip(fixed, reasons, strict=True)
        )
    return cut("\n\n".join(fixed), limit)


# -- the view -----------------------------------------------------------------------------------


class Lobby(discord.ui.View):
    """One movie night: its members (user id -> display name, in joining order) and state."""

    def __init__(
        self,
        origin: discord.Interaction,
        night: NightSettings,
        *,
        service: RecommenderService,
        store: ProfileStore,
        jobs: JobQueue,
        job_timeout: float,
        timeout: float = LOBBY_TIMEOUT,
    ) -> None:
        super().__init__(timeout=timeout)
        self.lobby_id = origin.id
        self.starter_id = origin.user.id
        self.starter_name = origin.user.display_name
        self.members: dict[int, str] = {origin.user.id: origin.user.display_name}
        self.night = night
        self.service = service
        self.store = store
        self.jobs = jobs
        self.job_timeout = job_timeout
        self.closes_at = time.time() + timeout
        self.state: State = "open"
        # The latest interaction whose token can still edit the lobby message.
        self.editor = origin
        for item, action in ((self.join, "join"), (self.leave, "leave"), (self.start, "start")):
            item.custom_id = custom_id("movienight", origin.id, action)
        mark_live("movienight", origin.id, True)

    @property
    def embed(self) -> discord.Embed:
        return lobby_embed(
            self.starter_name, list(self.members.values()), self.night, self.closes_at
        )

    def stop(self) -> None:
        mark_live("movienight", self.lobby_id, False)
        super().stop()

    async def _refresh(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(embed=self.embed, view=self)
        self.editor = interaction

    async def _tell(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    @discord.ui.button(label="Join", style=discord.ButtonStyle.success)
    async def join(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        user = interaction.user
        if self.state != "open":
            await self._tell(interaction, "The films are already being picked.")
            return
        if user.id in self.members:
            await self._tell(interaction, "You are already in this movie night.")
            return
        if len(self.members) >= MAX_MEMBERS:
            raise LobbyFull()
        await require_profile(self.store, user, viewer_id=user.id)
        if len(self.members) >= MAX_MEMBERS:  # someone else got in while the store answered
            raise LobbyFull()
        self.members[user.id] = user.display_name
        log.info("user %s joined movie night %s (%d in)", user.id, self.lobby_id, len(self.members))
        await self._refresh(interaction)

    @discord.ui.button(label="Leave", style=discord.ButtonStyle.secondary)
    async def leave(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        user = interaction.user
        if user.id not in self.members or self.state != "open":
            await self._tell(interaction, "You are not in this movie night.")
        elif user.id == self.starter_id:
            self.state = "closed"
            self.stop()
            text = f"{name(self.starter_name)} called off this movie night."
            await interaction.response.edit_message(embed=status_embed(text), view=None)
        else:
            del self.members[user.id]
            await self._refresh(interaction)

    @discord.ui.button(label="Start", style=discord.ButtonStyle.primary)
    async def start(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        if interaction.user.id != self.starter_id:
            raise NotStarter(name(self.starter_name))
        if self.state != "open":
            await self._tell(interaction, "The films are already being picked.")
            return
        if len(self.members) < MIN_MEMBERS:
            raise TooFewPeople()
        self.state = "picking"
        picking = f"Picking films for {joined_names(list(self.members.values()))}…"
        await interaction.response.edit_message(embed=status_embed(picking), view=None)
        self.editor = interaction
        try:
            result, dropped = await self._pick()
        except SocialRejected as error:
            if not isinstance(error.__cause__, NoFilmsLeft):
                await self._reopen(interaction)
                raise
            # No Join or Leave can fix the filters: close it, saying why, for everyone.
            self.state = "closed"
            self.stop()
            log.info("movie night %s: no film fits its settings", self.lobby_id)
            text = no_films_text(self.night)
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(embed=status_embed(text), view=None)
            return
        except Exception:
            await self._reopen(interaction)
            raise
        self.state = "done"
        self.stop()
        log.info(
            "movie night %s: %d films for %d people",
            self.lobby_id,
            len(result.picks),
            len(self.members),
        )
        embed = result_embed(result, self.night, dropped)
        await interaction.edit_original_response(embed=embed, view=None)

    async def _reopen(self, interaction: discord.Interaction) -> None:
        """Show the lobby again: a member may leave, or Start be pressed again; the starter
        reads why privately (on_error)."""
        self.state = "open"
        with contextlib.suppress(discord.HTTPException):
            await interaction.edit_original_response(embed=self.embed, view=self)

    async def _pick(self) -> tuple[GroupResult, list[str]]:
        """The result, and the names of members left out because their films are gone."""
        profiles, dropped = await self._profiles()
        result = await run_job(
            self.jobs,
            self.starter_id,  # the lobby message is the answer: no place-in-line notice
            self.job_timeout,
            _rank,
            self.service,
            profiles,
            list(self.members.values()),
            self.night,
            rejected=SocialRejected,
        )
        return result, dropped

    async def _profiles(self) -> tuple[list[StoredProfile], list[str]]:
        """Every member's saved films, read again at Start: someone may have run /forget (or
        let them expire) since joining. They are taken out of the lobby and the night goes on
        without them when enough people are left."""
        loaded = {uid: await self.store.load(uid) for uid in self.members}
        if loaded[self.starter_id] is None:
            raise StarterWithoutFilms()
        dropped = [self.members.pop(uid) for uid, p in loaded.items() if p is None]
        if dropped:
            log.info(
                "movie night %s: %d member(s) without saved films left out",
                self.lobby_id,
                len(dropped),
            )
        if len(self.members) < MIN_MEMBERS:
            raise TooFewLeft(dropped)
        return [p for uid, p in loaded.items() if p is not None and uid in self.members], dropped

    async def on_timeout(self) -> None:
        mark_live("movienight", self.lobby_id, False)
        if self.state != "open":
            return
        self.state = "closed"
        text = "This movie night closed: nobody started it in time. Run /movienight again."
        with contextlib.suppress(discord.HTTPException):
            await self.editor.edit_original_response(embed=status_embed(text), view=None)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)


def _rank(
    service: RecommenderService,
    profiles: Sequence[StoredProfile],
    names: Sequence[str],
    night: NightSettings,
) -> GroupResult:
    return movie_night(
        service,
        [p.films for p in profiles],
        night.count,
        night.filters,
        night.allow_rewatch,
        names=[cut(n, NAME_LIMIT) for n in names],  # reasons quote them, as other lines do
        hidden=[p.hidden for p in profiles],
    )

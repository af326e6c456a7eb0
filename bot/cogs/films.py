"""/similar and /predict: one film, picked by title with autocomplete.

Autocomplete cannot be deferred and must answer within 3 s, so it reads the in-memory
:class:`TitleSearch` directly on the event loop: a search is tens of microseconds (a binary
search over sorted keys, measured in the report of issue 4), cheaper than a hop to the pool.
The commands themselves defer and do their work in the bot's pool.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.answers import answer, run_job
from bot.embeds import COLOUR, cut, escape_markup
from bot.errors import UserFacingError
from bot.jobs import JobQueue
from bot.profiles import require_profile, share_refusal
from bot.settings import Settings
from bot.share import ShareCheck, ShareView
from bot.social import SocialRejected, film_link, lines_field
from bot.storage import ProfileStore
from recommender.errors import BoxdrecError
from recommender.person import FilmCard, film_card
from recommender.service import RecommenderService, stars_text
from recommender.similar import (
    FEW_RATINGS,
    SHOWN_NEIGHBOURS,
    Prediction,
    SimilarFilm,
    choice_value,
    dimension_fits,
    main_dimension,
    predict_film,
    resolve_film,
    similar_films,
    title_search,
    training_ratings,
    warm,
)

log = logging.getLogger(__name__)

SIMILAR_COUNT = 10
SMALL_MOVE = 0.25  # stars: their films moving the prediction less than this barely move it
TITLE_LIMIT = 256
FOOTER_LIMIT = 2048
FILM_OPTION = "Start typing a title, then pick the film from the list"
HOW_SIMILAR = "Nearest in the model's taste space: liked by the same kinds of MovieLens raters"
HOW_PREDICTED = (
    "How MovieLens raters rate it, on your own rating scale, moved by your stars on the films "
    "of yours most like it (weighted by how alike they are)"
)
NEIGHBOURS_FIELD = "Your films most like it (share of the vote)"
FEW_RATINGS_NOTE = (
    "Few MovieLens ratings: only {n} in the model's data (under {few}), so these neighbours "
    "are a rough guess."
)
HIDDEN_NOTE = {
    "seen": "You marked it **Seen it**, so your lists leave it out.",
    "not_interested": "You marked it **Not interested**, so your lists leave it out.",
}


class FilmNotFound(UserFacingError):
    """What was typed in ``film:`` is no film the model can place (the message says why)."""


def film_title(title: str, year: int | None) -> str:
    return title + (f" ({year})" if year is not None else "")


def similar_embed(
    anchor: FilmCard, films: list[SimilarFilm], dimension: str | None, ratings: int | None = None
) -> discord.Embed:
    """ "Films like The Godfather (1972)": numbered links, each with what it shares; a warning
    first when the film has few ratings; its main taste dimension only when it fits the film."""
    lines = [
        f"**{i}.** {film_link(f.film)}\n{escape_markup(f.reason)}" for i, f in enumerate(films, 1)
    ]
    note = ""
    if ratings is not None and ratings < FEW_RATINGS:
        note = FEW_RATINGS_NOTE.format(n=ratings, few=FEW_RATINGS) + "\n\n"
    embed = discord.Embed(
        title=cut(f"Films like {film_title(anchor.title, anchor.year)}", TITLE_LIMIT),
        url=anchor.letterboxd_url,
        description=note
        + lines_field(lines, 4000, "The model has no other film to compare it with."),
        colour=COLOUR,
    )
    footer = f"{HOW_SIMILAR}."
    if dimension:
        footer += f" Its main taste dimension: {dimension}"
    embed.set_footer(text=cut(footer, FOOTER_LIMIT))
    return embed


def neighbour_lines(prediction: Prediction) -> str:
    """The few films of theirs with the largest share of the vote, and what the rest hold."""
    shown = prediction.neighbours[:SHOWN_NEIGHBOURS]
    lines = [
        f"{escape_markup(d.title)} {stars_text(d.stars or 0)} · {share:.0%}" for d, share in shown
    ]
    rest = prediction.neighbours[SHOWN_NEIGHBOURS:]
    if rest:
        left = sum(share for _, share in rest)
        lines.append(f"…and {len(rest)} more films, {left:.0%} between them")
    return lines_field(lines)


def prediction_notes(prediction: Prediction) -> list[str]:
    """Where the stars come from: the film's reception on their scale, how far their own films
    move it, and, when the vote is spread thin, that no film of theirs stands out."""
    if prediction.stars is None or prediction.base_stars is None:
        return []
    move = round(prediction.stars - prediction.base_stars, 1) + 0.0  # never "-0.0"
    notes = [
        f"From how MovieLens raters rate it, on your scale: ★{prediction.base_stars:.1f}; "
        f"your films most like it move that by {move:+.1f}."
    ]
    if prediction.spread_thin:
        top = prediction.neighbours[0][1]
        line = (
            f"No film of yours stands out: {len(prediction.neighbours)} films share the vote, "
            f"none more than {top:.0%}"
        )
        if abs(move) <= SMALL_MOVE:
            line += (
                ", so the prediction mostly follows your average and the film's general reception"
            )
        notes.append(line + ".")
    return notes


def predict_embed(prediction: Prediction, hidden_kind: str | None = None) -> discord.Embed:
    """The predicted stars, where they come from, the user's films most like it, and the films
    that point to it."""
    film = prediction.film
    description = [prediction.summary()]
    if prediction.user_mean is not None:
        description.append(f"Your average rating is ★{prediction.user_mean:.1f}.")
    description += prediction_notes(prediction)
    if hidden_kind in HIDDEN_NOTE:
        description.append(HIDDEN_NOTE[hidden_kind])
    embed = discord.Embed(
        title=cut(film_title(film.title, film.year), TITLE_LIMIT),
        url=film.letterboxd_url,
        description=" ".join(description),
        colour=COLOUR,
    )
    if prediction.neighbours:
        embed.add_field(name=NEIGHBOURS_FIELD, value=neighbour_lines(prediction))
    if prediction.drivers:
        lines = [
            escape_markup(d.title) + (f" {stars_text(d.stars)}" if d.stars is not None else "")
            for d in prediction.drivers
        ]
        embed.add_field(name="Films of yours that point to it", value=lines_field(lines))
    genres = " · ".join(film.genres)
    embed.set_footer(text=cut(f"{genres + ' · ' if genres else ''}{HOW_PREDICTED}", FOOTER_LIMIT))
    return embed


class Films(commands.Cog):
    def __init__(
        self,
        service: RecommenderService,
        jobs: JobQueue,
        settings: Settings,
        store: ProfileStore,
    ) -> None:
        self.service = service
        self.jobs = jobs
        self.settings = settings
        self.store = store
        self.titles = title_search(service)

    # -- autocomplete ------------------------------------------------------------------------

    def choices(self, current: str) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=label, value=choice_value(movie_id))
            for movie_id, label in self.titles.search(current)
        ]

    # -- /similar ------------------------------------------------------------------------------

    @app_commands.command(name="similar", description="Films closest to one film in the model")
    @app_commands.describe(film=FILM_OPTION)
    async def similar(self, interaction: discord.Interaction, film: str) -> None:
        movie_id = self._resolve(film)
        await interaction.response.defer(ephemeral=True, thinking=True)
        anchor, films, dimension, ratings = await run_job(
            self.jobs,
            interaction,
            self.settings.job_timeout_seconds,
            self._similar_job,
            movie_id,
            rejected=SocialRejected,
        )
        log.info("similar films to %s for user %s", movie_id, interaction.user.id)
        await self._send(interaction, similar_embed(anchor, films, dimension, ratings))

    @similar.autocomplete("film")
    async def _similar_film(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.choices(current)

    def _similar_job(self, movie_id: int) -> tuple[FilmCard, list[SimilarFilm], str | None, int]:
        films = similar_films(self.service, movie_id, SIMILAR_COUNT)
        name: str | None
        name, examples = main_dimension(self.service, movie_id)
        if not dimension_fits(self.service, movie_id, name):
            name = None  # a name whose genres are not the film's would mislead
        elif examples:
            name += f" (like {', '.join(self.service.title(m) for m in examples)})"
        ratings = training_ratings(self.service, movie_id)
        return film_card(self.service, movie_id), films, name, ratings

    # -- /predict ------------------------------------------------------------------------------

    @app_commands.command(name="predict", description="Your predicted stars for one film")
    @app_commands.describe(film=FILM_OPTION)
    async def predict(self, interaction: discord.Interaction, film: str) -> None:
        movie_id = self._resolve(film)
        await interaction.response.defer(ephemeral=True, thinking=True)
        me = interaction.user
        stored = await require_profile(self.store, me, viewer_id=me.id)
        prediction = await run_job(
            self.jobs,
            interaction,
            self.settings.job_timeout_seconds,
            predict_film,
            self.service,
            stored.films,
            movie_id,
            rejected=SocialRejected,
        )
        log.info("predicted film %s for user %s: %s", movie_id, me.id, prediction.stars)
        store = self.store

        async def consent() -> str | None:  # it quotes their ratings: gone after /forget
            return await share_refusal(store, me)

        embed = predict_embed(prediction, stored.hidden.get(movie_id))
        await self._send(interaction, embed, consent)

    @predict.autocomplete("film")
    async def _predict_film(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return self.choices(current)

    # -- shared --------------------------------------------------------------------------------

    def _resolve(self, text: str) -> int:
        try:
            return resolve_film(self.service, text)
        except BoxdrecError as error:
            raise FilmNotFound(str(error)) from error

    @staticmethod
    async def _send(
        interaction: discord.Interaction, embed: discord.Embed, check: ShareCheck | None = None
    ) -> None:
        view = ShareView(embed, interaction, "films", check=check)
        try:
            await answer(interaction, embed=embed, view=view)
        except Exception:
            view.stop()
            raise


async def setup(bot: commands.Bot) -> None:
    from bot.client import BoxdBot

    if not isinstance(bot, BoxdBot):
        raise TypeError("bot.cogs.films needs a BoxdBot (it brings the service and store)")
    # The title index and film norms are built here, in setup_hook, off the event loop: the
    # first autocomplete must not wait for them.
    await asyncio.to_thread(warm, bot.service)
    await bot.add_cog(Films(bot.service, bot.jobs, bot.settings, bot.store))

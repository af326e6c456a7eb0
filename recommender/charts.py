"""The taste-profile chart: a PNG drawn with matplotlib's Agg backend, no pyplot.

Each call builds its own ``Figure`` and canvas, so it holds no global state and is safe in the
bot's worker threads. Colours suit Discord's dark theme (the embed background), the size is
1000 × 500 px, and the PNG is a few tens of KB.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from recommender.taste import TasteProfile

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 5.0, 100
BACKGROUND = "#2b2d31"  # Discord's dark embed background
TEXT = "#dbdee1"
MUTED = "#949ba4"
GRID = "#3f4147"
YOU = "#00e054"  # Letterboxd green
CROWD = "#40bcf4"  # Letterboxd blue
DISLIKE = "#ff8000"  # Letterboxd orange
MAX_GENRES = 10
STAR_LABELS = ["½", "1", "", "2", "", "3", "", "4", "", "5"]


def profile_chart(profile: TasteProfile, name: str | None = None) -> bytes:
    """Two panels: their star histogram against the crowd's, and their genre profile.

    ``name`` labels their bars (default "You"); the titles name nobody, so the chart reads
    the same on someone else's profile and on a copy shared to a channel."""
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.15], "wspace": 0.35})
    _histogram(left, profile, name or "You")
    _genres(right, profile)
    fig.subplots_adjust(left=0.07, right=0.97, top=0.88, bottom=0.13)
    buf = io.BytesIO()
    # A palette image is a third the size of RGBA and looks the same for flat colours.
    fig.savefig(buf, format="png", facecolor=BACKGROUND, metadata={"Software": None})
    return _quantised(buf.getvalue())


def _style(ax, title: str) -> None:
    ax.set_facecolor(BACKGROUND)
    ax.set_title(title, color=TEXT, fontsize=13, loc="left", pad=10)
    ax.tick_params(colors=MUTED, labelsize=10, length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(GRID)


def _histogram(ax, profile: TasteProfile, who: str) -> None:
    x = np.arange(10)
    crowd = profile.crowd_shares
    # Against the crowd only on the films MovieLens raters rated; otherwise every rating.
    mine = profile.shared_counts if crowd.sum() > 0 else profile.rating_counts
    n = int(mine.sum())
    if n == 0:
        _style(ax, "Ratings")
        ax.text(0.5, 0.5, "No ratings in the export", color=MUTED, ha="center",
                va="center", transform=ax.transAxes, fontsize=12)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        return
    _style(ax, "Stars vs MovieLens raters" if crowd.sum() > 0 else "Stars given")
    shares = mine / n
    width = 0.4 if crowd.sum() > 0 else 0.7
    offset = width / 2 if crowd.sum() > 0 else 0.0
    ax.bar(x - offset, shares, width, color=YOU, label=f"{_label(who)} ({n} films)")
    if crowd.sum() > 0:
        ax.bar(x + offset, crowd, width, color=CROWD, label="MovieLens, same films")
    ax.set_xticks(x, [f"{label}★" if label else "" for label in STAR_LABELS])
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    legend = ax.legend(frameon=False, fontsize=10, loc="upper left", labelcolor=TEXT)
    legend.set_zorder(3)


def _label(who: str, limit: int = 24) -> str:
    """A display name for the legend: short, and without matplotlib's mathtext ($…$)."""
    who = who.replace("$", "")
    return who if len(who) <= limit else who[: limit - 1] + "…"


def _genres(ax, profile: TasteProfile) -> None:
    genres, basis = profile.genres, profile.basis
    # The favourite genres the embed lists, then the most-watched others, up to MAX_GENRES,
    # ordered by how much they are liked: the chart must not leave out what the text names.
    favourites = list(profile.favourite_genres)[:MAX_GENRES]
    names = {p.name for p in favourites}
    others = [p for p in sorted(genres, key=lambda p: -p.films) if p.name not in names]
    chosen = favourites + others[: MAX_GENRES - len(favourites)]
    shown = sorted(chosen, key=lambda p: p.liking)
    if basis == "ratings":
        _style(ax, "Genres: stars above own average")
    else:
        _style(ax, "Genres: share of films watched")
    if not shown:
        ax.text(0.5, 0.5, "No genres to show", color=MUTED, ha="center", va="center",
                transform=ax.transAxes, fontsize=12)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        return
    y = np.arange(len(shown))
    values = np.array([p.liking for p in shown])
    colours = [YOU if v >= 0 else DISLIKE for v in values]
    ax.barh(y, values, 0.7, color=colours)
    ax.set_yticks(y, [f"{p.name} ({p.films})" for p in shown], color=TEXT)
    ax.axvline(0, color=MUTED, linewidth=1)
    ax.grid(axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    if basis == "ratings":
        span = max(float(np.abs(values).max()), 0.05) * 1.15
        digits = 2 if span < 0.5 else 1
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:+.{digits}f}★" if abs(v) > 1e-9 else "0")
        ax.set_xlim(-span, span)
    else:
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")


def _quantised(png: bytes) -> bytes:
    """The PNG as an 8-bit palette image when Pillow is there (matplotlib depends on it)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib
        return png
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()

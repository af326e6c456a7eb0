"""One cell of a film row: year, stars, date and the name folded for matching."""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata

from recommender.letterboxd.messages import _clip, _row_error

# One logger, "recommender.letterboxd", for the whole importer (its name as a single module).
log = logging.getLogger(__package__)

_YEAR = re.compile(r"(\d{4})(?:\.0*)?")
# Film years Letterboxd lists run from 1874 to announced films a century ahead ("100 Years", 2115).
_YEARS = range(1800, 2200)
# Control characters, line and paragraph separators: never part of a film's name.
_NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")

# Names are quoted to other people: invisible format characters (category Cf) are removed:
# bidirectional controls (which reorder the text around them), zero-width spaces, word joiners,
# soft hyphens, BOMs, invisible operators, annotation marks, and the joiners of scripts no film
# title is written in; they hide text or make "Heat" look like another film. Kept: ZWNJ and ZWJ
# (U+200C, U+200D; Persian and emoji need them) and the visible signs that span the digits after
# them (U+0600-U+0605, U+06DD, U+070F, U+0890, U+0891, U+08E2, U+110BD, U+110CD).
_HIDDEN_CHARS = (
    "\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
)
_HIDDEN = re.compile(f"[{_HIDDEN_CHARS}]+")
# Tag characters are invisible too, except in the flag of a region: a black flag, tag letters
# and a cancel tag ("🏴" + "gbsct" + cancel is the flag of Scotland).
_TAG = re.compile("[\U000e0000-\U000e007f]")
_TAGS = re.compile("(\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f)|[\U000e0000-\U000e007f]+")
# Combining marks kept on one base character: Vietnamese and pointed Hebrew need 2 or 3; Zalgo
# text stacks hundreds.
_MAX_MARKS = 4

# Dashes and quotes that differ between exports and spreadsheet re-saves of the same name.
# Replaced one by one where present: str.translate looks up every character of a non-ASCII
# name in its table, ten times slower over a long name.
_NAME_PUNCT = (
    ("\u2010", "-"),
    ("\u2011", "-"),
    ("\u2012", "-"),
    ("\u2013", "-"),
    ("\u2014", "-"),
    ("\u2015", "-"),
    ("\u2212", "-"),
    ("\u2018", "'"),
    ("\u2019", "'"),
    ("\u02bc", "'"),
    ("\u201c", '"'),
    ("\u201d", '"'),
)


def _parse_year(raw: str, number: int, name: str, label: str) -> int | None:
    if not raw:
        return None
    match = _YEAR.fullmatch(raw)
    if match is None:
        raise _row_error(
            label,
            number,
            name,
            f'year "{_clip(raw, 20)}" is not a four-digit year',
            "Fix or clear the year and upload again.",
        )
    year = int(match.group(1))
    if year not in _YEARS:  # no film's year: the name alone still finds the film
        log.debug("%s row %d has year %d, no film's year; read as unknown", label, number, year)
        return None
    return year


_STARS = {str(n / 2).removesuffix(".0"): n / 2 for n in range(1, 11)} | {
    str(n / 2): n / 2 for n in range(1, 11)
}


def _parse_rating(raw: str, number: int, name: str, label: str) -> float | None:
    """Stars from 0.5 to 5 in half stars; empty is "watched, unrated" (``None``), never 0."""
    if not raw:
        return None
    fix = "Fix or remove the rating and upload again."
    text = raw.replace(",", ".", 1) if raw.count(",") == 1 and "." not in raw else raw
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    shown = _clip(raw, 20)
    if not math.isfinite(value):
        raise _row_error(
            label, number, name, f'rating "{shown}" is not a number of stars (0.5 to 5)', fix
        )
    if not 0.5 <= value <= 5:
        raise _row_error(label, number, name, f"rating {shown} is outside 0.5–5 stars", fix)
    if value * 2 != int(value * 2):
        raise _row_error(
            label,
            number,
            name,
            f"rating {shown} is not a whole or half star (0.5, 1, 1.5 … 5)",
            fix,
        )
    return value


def _parse_date(raw: str) -> tuple[int, int, int] | None:
    """``YYYY-MM-DD`` (also with / or .) as a sortable tuple; other formats are ignored."""
    match = _DATE.match(raw)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _is_mark(char: str) -> bool:
    return unicodedata.category(char) in ("Mn", "Me")


@functools.cache
def _mark_run_candidates() -> re.Pattern[str]:
    """Runs longer than ``_MAX_MARKS`` of combining marks of the BMP or of any character beyond
    it: a bitmap and one range, so a scan is fast (an exact class of 300 ranges is 10x slower).
    Built on first use (30 ms)."""
    ranges: list[str] = []
    start = -1
    for code in range(0x10001):
        if code < 0x10000 and _is_mark(chr(code)):
            start = code if start < 0 else start
        elif start >= 0:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = -1
    return re.compile(f"[{''.join(ranges)}\U00010000-\U0010ffff]{{{_MAX_MARKS + 1},}}")


def _keep_flag(match: re.Match[str]) -> str:
    return match.group(1) or ""


def _tidy_name(name: str) -> str:
    """A non-ASCII name without hidden controls and with at most a few marks per character."""
    name = _HIDDEN.sub("", name)
    if _TAG.search(name):  # rare: keep the tags of flags only
        name = _TAGS.sub(_keep_flag, name)
    if _mark_run_candidates().search(name):  # rare: check each character
        kept: list[str] = []
        run = 0
        for char in name:
            run = run + 1 if _is_mark(char) else 0
            if run <= _MAX_MARKS:
                kept.append(char)
        name = "".join(kept)
    return name.strip()


def _clean_name(name: str) -> str:
    """``name`` without control characters or line breaks (each run becomes one space)."""
    return _NAME_CONTROLS.sub(" ", name).strip()


def _name_key(name: str) -> str:
    """A name for matching within one export: case, width, dash, quote and spacing folded.

    NFKC can make a name much longer ("\ufdfa" is 18 characters): callers bound the length.
    """
    if name.isascii():
        return " ".join(name.casefold().split())
    folded = unicodedata.normalize("NFKC", name)
    for mark, plain in _NAME_PUNCT:
        if mark in folded:
            folded = folded.replace(mark, plain)
    return " ".join(folded.casefold().split())

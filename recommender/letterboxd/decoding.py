"""Bytes to text: BOMs, UTF-16 without a BOM, UTF-8, cp1252, binary data and mojibake."""

from __future__ import annotations

import codecs
import logging
import re

import ftfy
import ftfy.bad_codecs  # registers the sloppy-windows codecs ftfy repairs
from ftfy import badness, chardata

from recommender.errors import ExportError
from recommender.letterboxd.messages import _BINARY_CHARS, _UPLOAD_HINT

# One logger, "recommender.letterboxd", for the whole importer (its name as a single module).
log = logging.getLogger(__package__)

# Only mojibake repair: names keep their curly quotes, dashes, no-break spaces and widths.
_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)

# Whitespace, and NUL bytes: searched for rather than stripped, which would copy the file.
_NOT_SPACE = re.compile(rb"\S")
_NOT_NUL_OR_SPACE = re.compile(rb"[^\x00 \t\r\n]")
# UTF-8 lead bytes of characters beyond U+FFFF, which make Python keep 4 bytes a character.
_FOUR_BYTE_LEADS = tuple(bytes([b]) for b in range(0xF0, 0xF5))
_HIGH_BYTES = re.compile(rb"[\xf0-\xff]")
# Letterboxd headers and dates are ASCII, so a UTF-16 export without a BOM starts with this many
# ASCII code units (its titles, CJK say, come later and may have no NUL byte at all).
_ASCII_UNITS = 16
_STR_HEADER = 80  # sys.getsizeof("") and more: the fixed part of a str
_BOMS = re.compile("\ufeff*")
_NOT_SPACE_TEXT = re.compile(r"\S")


def _mojibake_pair() -> re.Pattern[str]:
    """A UTF-8 lead byte then a continuation byte, as any encoding ftfy repairs reads them.

    ftfy repairs UTF-8 that was read as one of these encodings ("AmÃ©lie"), which turns every
    non-ASCII character into such a pair (a no-break space in it may since have become a space,
    a lost byte U+FFFD), and C1 controls, cp1252 bytes read as latin-1 ("\x85" is "…"). A name
    with neither is no such mojibake, found at C speed: ftfy's own test costs 0.4 µs a
    character.
    """
    leads: set[str] = set()
    follows = set(" \ufffd") | {chr(c) for c in range(0x80, 0xA0)}  # C1: read as latin-1
    for encoding in chardata.CHARMAP_ENCODINGS:
        for byte in range(0x80, 0xF5):
            try:
                char = bytes([byte]).decode(encoding)
            except UnicodeDecodeError:
                continue
            (follows if byte < 0xC0 else leads).add(char)
    pair = f"[{re.escape(''.join(sorted(leads)))}][{re.escape(''.join(sorted(follows)))}]"
    return re.compile(f"{pair}|[\x80-\x9f]")


_MOJIBAKE_PAIR = _mojibake_pair()


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" in head or _BINARY_CHARS.search(head.decode("latin-1")) is not None


def _encoding_of(data: bytes, label: str) -> str | None:
    """The encoding a BOM or UTF-16 without BOM shows; ``None``: UTF-8, else cp1252.

    Raises ExportError for a file of only whitespace or NUL bytes.
    """
    if not _NOT_SPACE.search(data):
        raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
    if not _NOT_NUL_OR_SPACE.search(data):
        raise ExportError(
            f"{label} holds only NUL bytes, no text: it is blank or was damaged in download. "
            f"{_UPLOAD_HINT}"
        )
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(data) >= 4 and len(data) % 2 == 0:
        return _utf16_without_bom(data)
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM, from its first code units: each ASCII character is a NUL byte and a
    non-NUL byte below 0x80."""
    head = data[: 2 * _ASCII_UNITS]
    for encoding, low, high in (
        ("utf-16-le", head[0::2], head[1::2]),
        ("utf-16-be", head[1::2], head[0::2]),
    ):
        if not high.strip(b"\x00") and low.isascii() and b"\x00" not in low:
            return encoding
    return None


def _text_size_bound(data: bytes, encoding: str | None) -> int:
    """Most bytes ``data`` decoded as ``encoding`` can take: Python keeps 1, 2 or 4 bytes a
    character, by the widest character of the text."""
    size = len(data)
    if encoding == "utf-32":
        return size + _STR_HEADER
    if encoding is not None and encoding.startswith("utf-16"):
        return 2 * size + _STR_HEADER  # a character per 2 bytes, 4 bytes each at most
    if data.isascii():
        return size + _STR_HEADER
    if not _HIGH_BYTES.search(data):  # nothing beyond U+FFFF in UTF-8, cp1252 or latin-1
        return 2 * size + _STR_HEADER
    # UTF-8 with 4-byte characters; else cp1252 or latin-1 (at most 2 bytes a byte).
    four = sum(data.count(lead) for lead in _FOUR_BYTE_LEADS)
    return max(2 * size, 4 * (size - 3 * four)) + _STR_HEADER


def _decode(data: bytes, label: str, encoding: str | None) -> str:
    """Decode a CSV's bytes as :func:`_encoding_of` found: BOMs, UTF-16, UTF-8, and cp1252."""
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            if encoding != "utf-8-sig":
                raise ExportError(
                    f"{label} is not readable text (its {encoding.upper()} encoding is broken). "
                    "Save it again as CSV UTF-8 and upload it again."
                ) from None
            text = _decode_8bit(memoryview(data)[len(codecs.BOM_UTF8) :])  # no copy
    else:
        text = _decode_8bit(data)

    # A second BOM; DOS end-of-file marks. Cut with one slice, and only when there are any:
    # every copy of the text costs up to 4 bytes a character.
    boms = _BOMS.match(text)
    start = boms.end() if boms else 0
    end = len(text)
    while end > start:
        tail = text[max(start, end - 4096) : end]
        kept = len(tail.rstrip("\x1a"))
        end -= len(tail) - kept
        if kept:
            break
    if (start, end) != (0, len(text)):
        text = text[start:end]
    if "\x00" in text or _BINARY_CHARS.search(text):
        raise ExportError(f"{label} is not a CSV file: it holds binary data. {_UPLOAD_HINT}")
    if not _NOT_SPACE_TEXT.search(text):
        raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
    return text


def _decode_8bit(data: bytes | memoryview) -> str:
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return str(data, "cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return str(data, "latin-1")


def _may_be_mojibake(name: str) -> bool:
    """Whether ``name`` could be mojibake at all: the C-speed half of :func:`_is_mojibake`."""
    return _MOJIBAKE_PAIR.search(name) is not None


def _is_mojibake(name: str) -> bool:
    """Whether ``name`` looks like UTF-8 read as cp1252 ("AmÃ©lie")."""
    return _may_be_mojibake(name) and badness.is_bad(name)


def _repair_name(name: str) -> str:
    """Undo UTF-8 read as cp1252 and saved again ("AmÃ©lie" -> "Amélie"); else unchanged.

    About 0.3 µs a character: callers bound how many characters they repair.
    """
    if not _is_mojibake(name):
        return name
    fixed = ftfy.fix_text(name, _FTFY_CONFIG)
    if fixed != name:
        log.debug("Repaired mojibake in a film name: %r -> %r", name, fixed)
    return fixed

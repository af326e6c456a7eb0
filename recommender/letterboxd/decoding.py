"""Bytes to text: BOMs, UTF-16 without a BOM, UTF-8, cp1252, binary data and mojibake."""

from __future__ import annotations

import codecs
import logging

import ftfy
from ftfy import badness

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


def _looks_binary(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" in head or _BINARY_CHARS.search(head.decode("latin-1")) is not None


def _decode(data: bytes, label: str) -> str:
    """Decode a CSV's bytes: BOMs first, then UTF-16 without BOM, UTF-8, and cp1252."""
    if not data.strip():
        raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
    if not data.strip(b"\x00 \t\r\n"):
        raise ExportError(
            f"{label} holds only NUL bytes, no text: it is blank or was damaged in download. "
            f"{_UPLOAD_HINT}"
        )

    encoding: str | None = None
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(data) >= 4 and len(data) % 2 == 0:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        head = data[:512]
        if head[1::2].count(0) > 0.9 * len(head[1::2]) and not head[0::2].count(0):
            encoding = "utf-16-le"
        elif head[0::2].count(0) > 0.9 * len(head[0::2]) and not head[1::2].count(0):
            encoding = "utf-16-be"

    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            if encoding != "utf-8-sig":
                raise ExportError(
                    f"{label} is not readable text (its {encoding.upper()} encoding is broken). "
                    "Save it again as CSV UTF-8 and upload it again."
                ) from None
            text = _decode_8bit(data[len(codecs.BOM_UTF8) :])
    else:
        text = _decode_8bit(data)

    text = text.lstrip("\ufeff").rstrip("\x1a")  # a second BOM; a DOS end-of-file mark
    if "\x00" in text or _BINARY_CHARS.search(text):
        raise ExportError(f"{label} is not a CSV file: it holds binary data. {_UPLOAD_HINT}")
    if not text.strip():
        raise ExportError(f"{label} is empty. {_UPLOAD_HINT}")
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
        return data.decode("latin-1")


def _repair_name(name: str) -> str:
    """Undo UTF-8 read as cp1252 and saved again ("AmÃ©lie" -> "Amélie"); else unchanged."""
    if name.isascii() or not badness.is_bad(name):
        return name
    fixed = ftfy.fix_text(name, _FTFY_CONFIG)
    if fixed != name:
        log.debug("Repaired mojibake in a film name: %r -> %r", name, fixed)
    return fixed

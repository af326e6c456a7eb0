"""The export zip: refuse unsafe, encrypted, corrupt and bomb zips; pick and read its CSVs."""

from __future__ import annotations

import io
import logging
import re
import stat
import zipfile
from collections.abc import Iterable

from recommender.config import ImportLimits
from recommender.errors import ExportError
from recommender.letterboxd.csv_files import _parse_csv
from recommender.letterboxd.decoding import _NOT_SPACE
from recommender.letterboxd.messages import (
    _ZIP_HINT,
    _bomb_message,
    _clip,
    _corrupt_zip_message,
    _ratio_message,
    _zip_memory_message,
)
from recommender.letterboxd.parsed import FileKind, _CsvFile

# One logger, "recommender.letterboxd", for the whole importer (its name as a single module).
log = logging.getLogger(__package__)

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_CENTRAL_ENTRY = b"PK\x01\x02"  # starts each entry of the zip's table of contents
_READ_CHUNK = 64 * 1024
# The compression ratio is checked once a member has unpacked this much: a small file of
# repeated lines packs far better than a real export (4 to 15 times) without being a bomb.
_RATIO_AFTER = 1024 * 1024

_DRIVE = re.compile(r"[A-Za-z]:")

# Zip members read by base name, from the export's own folder (likes only as likes/films.csv).
_ZIP_FILES: dict[str, FileKind] = {
    "ratings.csv": FileKind.RATINGS,
    "watched.csv": FileKind.WATCHED,
    "watchlist.csv": FileKind.WATCHLIST,
    "diary.csv": FileKind.DIARY,
}
_LIKES_PATH = ("likes", "films.csv")

# Folders of the zip whose CSVs share names with the main files but are not the user's films.
_SKIPPED_DIRS = frozenset({"deleted", "orphaned", "lists", "likes", "__macosx"})


# Compressions whose reading zipfile bounds: bzip2 and LZMA inflate a whole compressed chunk at
# once, so a few KB whose header lies about its size would become gigabytes in memory.
_READABLE_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_COMPRESSION_NAMES = {
    9: "Deflate64",
    12: "bzip2",
    14: "LZMA",
    93: "Zstandard",
    95: "XZ",
    98: "PPMd",
}


def _unsafe_member(name: str) -> bool:
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def _link_or_special(info: zipfile.ZipInfo) -> bool:
    """A symbolic link (its content is a path), a device or a pipe: not a file Letterboxd made."""
    file_type = stat.S_IFMT(info.external_attr >> 16)
    return file_type not in (0, stat.S_IFREG, stat.S_IFDIR)


def _refuse_unreadable(label: str, name: str, info: zipfile.ZipInfo) -> None:
    """Refuse a chosen member that is encrypted or compressed in a way Letterboxd never uses."""
    if info.flag_bits & 0x1:
        raise ExportError(
            f"{label} is password-protected ({name} is encrypted). Upload the zip "
            f"as Letterboxd made it, without a password, or just its ratings.csv."
        )
    if info.compress_type not in _READABLE_COMPRESSION:
        method = _COMPRESSION_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise ExportError(
            f"{label} compresses {name} with {method}, which Letterboxd never uses. {_ZIP_HINT}"
        )


def _declared_size(infos: Iterable[zipfile.ZipInfo]) -> int:
    """Sum of the uncompressed sizes the zip claims for ``infos`` (a zip bomb may lie)."""
    return sum(info.file_size for info in infos)


def _select_members(
    infos: list[zipfile.ZipInfo], label: str
) -> list[tuple[str, FileKind, zipfile.ZipInfo]]:
    """The export files of the zip: (label, kind, member), from its shallowest export folder."""
    candidates: list[tuple[tuple[str, ...], str, zipfile.ZipInfo]] = []
    for info in infos:
        if info.is_dir():
            continue
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            continue
        folders = tuple(p.casefold() for p in parts[:-1])
        candidates.append((folders, parts[-1].casefold(), info))

    main = [
        (folders, base)
        for folders, base, _ in candidates
        if base in _ZIP_FILES and base != "watchlist.csv" and not _SKIPPED_DIRS & set(folders)
    ]
    if not main:
        inner = next((info.filename for _, base, info in candidates if base.endswith(".zip")), "")
        if inner:
            raise ExportError(
                f'{label} holds a zip inside the zip ("{_clip(inner, 60)}") but no ratings.csv, '
                "watched.csv or diary.csv of its own. Unzip it and upload the export zip itself, "
                "or just its ratings.csv."
            )
        raise ExportError(
            f"{label} has no ratings.csv, watched.csv or diary.csv, so it is not a Letterboxd "
            f"export. {_ZIP_HINT}"
        )
    depth = min(len(folders) for folders, _ in main)
    roots = sorted({folders for folders, _ in main if len(folders) == depth})
    if len(roots) > 1:
        shown = " and ".join(_clip("/".join(r), 40) + "/" for r in roots[:2])
        raise ExportError(
            f"{label} holds more than one export ({shown}). Upload one export at a time."
        )
    root = roots[0]

    chosen: dict[str, tuple[FileKind, zipfile.ZipInfo]] = {}
    for folders, base, info in candidates:
        if folders == root and base in _ZIP_FILES:
            chosen.setdefault(base, (_ZIP_FILES[base], info))
        elif folders == (*root, _LIKES_PATH[0]) and base == _LIKES_PATH[1]:
            chosen.setdefault("/".join(_LIKES_PATH), (FileKind.LIKES, info))
    return [(name, kind, info) for name, (kind, info) in chosen.items()]


def _unpacked_too_big(label: str, unpacked: int, upload: int, limits: ImportLimits) -> ExportError:
    """The error for files that unpack to ``unpacked`` bytes, past one of the two limits on
    them: the unpacked size, or the memory they take besides the upload's own ``upload``."""
    if unpacked > limits.max_uncompressed_bytes:
        return ExportError(_bomb_message(label, limits.max_uncompressed_bytes))
    need = upload + unpacked
    return ExportError(_zip_memory_message(label, need, limits.max_import_memory_bytes))


def _read_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    read_so_far: int,
    label: str,
    upload: int,
    limits: ImportLimits,
) -> bytes:
    """Stream one member, counting real bytes against the limits on unpacked files whatever its
    header says, and against ``max_compression_ratio`` times its packed size (zipfile reads no
    more than that size)."""
    max_ratio = limits.max_compression_ratio
    ratio_limit = max(_RATIO_AFTER, max_ratio * info.compress_size)
    budget = _unpack_budget(upload, limits)
    # One buffer: getvalue() hands it over without the copy b"".join(chunks) makes.
    buffer = io.BytesIO()
    total = read_so_far
    with zf.open(info) as handle:
        while chunk := handle.read(_READ_CHUNK):
            total += len(chunk)
            if total > budget:
                raise _unpacked_too_big(label, total, upload, limits)
            buffer.write(chunk)
            if buffer.tell() > ratio_limit:
                raise ExportError(_ratio_message(label, name, max_ratio))
    return buffer.getvalue()


def _unpack_budget(upload: int, limits: ImportLimits) -> int:
    """Bytes the chosen files may unpack to: they are held together with the upload, so both
    the unpacked-size limit and the memory limit bound them (the latter may leave nothing)."""
    return min(limits.max_uncompressed_bytes, limits.max_import_memory_bytes - upload)


def _read_zip(data: bytes, label: str, limits: ImportLimits) -> list[_CsvFile]:
    """The export CSVs of a zip, parsed. Refuses unsafe, encrypted, corrupt and bomb zips."""
    # zipfile builds an object per entry of the table of contents before anything can be
    # checked; every entry starts with its signature, so counting those bounds the entries.
    entries = data.count(_CENTRAL_ENTRY)
    if entries > limits.max_zip_members:
        raise ExportError(
            f"{label} holds {entries:,} files, more than the {limits.max_zip_members:,} allowed. "
            f"{_ZIP_HINT}"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            for info in infos:
                if _unsafe_member(info.filename):
                    raise ExportError(
                        f"{label} holds a file whose path leaves its folder "
                        f'("{_clip(info.filename, 60)}"), so Letterboxd did not make it and it '
                        f"will not be opened. {_ZIP_HINT}"
                    )
                if _link_or_special(info):
                    raise ExportError(
                        f'{label} holds a link or special file ("{_clip(info.filename, 60)}"), '
                        f"not a plain file, so Letterboxd did not make it and it will not be "
                        f"opened. {_ZIP_HINT}"
                    )
            members = _select_members(infos, label)
            for name, _, info in members:
                _refuse_unreadable(label, name, info)
            declared = _declared_size(info for _, _, info in members)
            if declared > _unpack_budget(len(data), limits):
                raise _unpacked_too_big(label, declared, len(data), limits)
            raw: list[tuple[str, FileKind, bytes]] = []
            read = 0
            for name, kind, info in members:
                content = _read_member(zf, info, name, read, label, len(data), limits)
                read += len(content)
                raw.append((name, kind, content))
    except ExportError:
        raise
    except Exception as exc:  # zipfile raises many types on crafted or damaged archives
        log.debug("Could not read zip %s: %s: %s", label, type(exc).__name__, exc)
        raise ExportError(_corrupt_zip_message(label)) from None

    # Each member's bytes are let go once parsed; what is held meanwhile counts against the
    # memory limit: the upload, the members not parsed yet, the rows of those parsed.
    files: list[_CsvFile] = []
    unparsed = read
    held = len(data)
    raw.reverse()
    while raw:
        name, kind, content = raw.pop()
        unparsed -= len(content)
        if not _NOT_SPACE.search(content):  # all NUL bytes is damage, and _parse_csv says so
            log.debug("%s in %s is empty", name, label)
            files.append(_CsvFile(label=name, kind=kind, rows=()))
        else:
            files.append(_parse_csv(content, name, kind, limits, held + unparsed, label))
            held += files[-1].held_bytes
    return files

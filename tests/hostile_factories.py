"""Hostile uploads for tests: zips whose headers lie, links, odd compressions, bombs.

Everything is built in memory at run time; nothing large is ever written or held whole (a 1 GiB
bomb is about 1 MB of deflate data).
"""

from __future__ import annotations

import stat
import struct
import zlib
from dataclasses import dataclass

GIB = 1 << 30
STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
UNIX = 3  # "made by" system whose external attributes hold a st_mode


@dataclass(frozen=True)
class Member:
    """One zip member exactly as its headers will claim it, lies included.

    ``payload`` is written as it is (already compressed for ``method``); ``crc``, ``file_size``
    and ``compress_size`` default to the truth about ``payload`` read as stored bytes.
    """

    name: str
    payload: bytes = b""
    method: int = STORED
    file_size: int | None = None
    crc: int | None = None
    flags: int = 0
    mode: int = 0  # st_mode for the external attributes, e.g. stat.S_IFLNK | 0o777


def link(name: str, target: str = "/etc/passwd") -> Member:
    """A symbolic link member: its content is the path it points at."""
    return Member(name, target.encode(), mode=stat.S_IFLNK | 0o777)


def deflated(name: str, content: bytes, **claims: int) -> Member:
    """A deflate member holding ``content``; ``claims`` (file_size, crc...) may lie."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = compressor.compress(content) + compressor.flush()
    truth = {"file_size": len(content), "crc": zlib.crc32(content)}
    return Member(name, payload, DEFLATED, **(truth | claims))


def zero_bomb(size: int = GIB, head: bytes = b"", segment: int = 1 << 20) -> bytes:
    """Raw deflate data for ``head`` then ``size`` zero bytes (``size`` a multiple of
    ``segment``), built from one compressed segment repeated: a full flush resets the
    compressor, so every segment of zeros compresses to the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    zeros = compressor.compress(bytes(segment)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return start + zeros * (size // segment) + compressor.flush()


def raw_zip(members: list[Member]) -> bytes:
    """A zip whose local and central headers say exactly what each ``Member`` claims."""
    local: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for m in members:
        name = m.name.encode("utf-8")
        flags = m.flags | 0x800  # names in UTF-8
        crc = zlib.crc32(m.payload) if m.crc is None else m.crc
        size = len(m.payload) if m.file_size is None else m.file_size
        fields = (m.method, 0, 0x21, crc, len(m.payload), size, len(name))
        header = struct.pack("<4s2H", b"PK\x03\x04", 20, flags) + struct.pack("<3H3I2H", *fields, 0)
        local.append(header + name + m.payload)
        central.append(
            struct.pack("<4s4H", b"PK\x01\x02", (UNIX << 8) | 20, 20, flags, m.method)
            + struct.pack("<2H3I5H2I", *fields[1:], 0, 0, 0, 0, m.mode << 16, offset)
            + name
        )
        offset += len(local[-1])
    directory = b"".join(central)
    count = min(len(members), 0xFFFE)  # zipfile reads the whole directory whatever this says
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, len(directory), offset, 0)
    return b"".join(local) + directory + end

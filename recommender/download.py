"""Download MovieLens datasets from GroupLens, verify them, and unpack them atomically.

The archive streams into a temporary file inside the data folder (same filesystem) while it is
hashed. Its checksum is verified before anything is unpacked; the members are then checked (no
absolute paths, no ``..``, no links, sane sizes), extracted into a temporary folder inside the
data folder, verified against their known md5s, and the complete dataset folder is moved into
place with a rename only at the very end. Any failure leaves the data folder as it was before.

Only ``https://`` is accepted, except ``http://`` to ``127.0.0.1``/``localhost`` (tests).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import logging
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO

from recommender.errors import DataError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes downloaded so far, total bytes or ``None`` when the server did not say)."""

_BASE_URL = "https://files.grouplens.org/datasets/movielens"
_REQUIRED_FILES = ("ratings.csv", "movies.csv")
_CHUNK = 1024 * 1024
_USER_AGENT = "boxdrec (MovieLens downloader; https://grouplens.org/datasets/movielens/)"

# ml-latest.zip is ~335 MB and unpacks to ~1.3 GB; these limits leave a wide margin.
MAX_DOWNLOAD_BYTES = 4 * 1024**3
MAX_UNPACKED_BYTES = 16 * 1024**3
MAX_MEMBERS = 1_000
_MAX_CHECKSUM_FILE_BYTES = 4096


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset's zip lives and how to verify it.

    ``sha256`` is the archive's sha256 when known; otherwise ``md5_url`` names GroupLens' published
    ``<zip>.md5`` file, fetched over HTTPS before the download. ``member_md5`` maps a file name
    inside the archive's top folder (``"ratings.csv"``) to its md5, checked after unpacking.
    """

    name: str
    url: str
    sha256: str | None
    md5_url: str | None
    member_md5: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


DATASETS: Mapping[str, DatasetSource] = MappingProxyType(
    {
        "ml-latest-small": DatasetSource(
            name="ml-latest-small",
            url=f"{_BASE_URL}/ml-latest-small.zip",
            sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            md5_url=None,
            # Computed from the GroupLens archive whose sha256 is above.
            member_md5=MappingProxyType(
                {
                    "links.csv": "316913f95cdad64c745ca22f3630e230",
                    "movies.csv": "ed94fab72b62442ef8150d9446e000d6",
                    "ratings.csv": "325a6f09399d1c45671f187505e1a100",
                    "tags.csv": "1b2d21a7be1cc23d327b11155a4a6aea",
                }
            ),
        ),
        "ml-32m": DatasetSource(
            name="ml-32m",
            url=f"{_BASE_URL}/ml-32m.zip",
            sha256=None,
            md5_url=f"{_BASE_URL}/ml-32m.zip.md5",
            # GroupLens' ml-32m/checksums.txt.
            member_md5=MappingProxyType(
                {
                    "links.csv": "8f033867bcb4e6be8792b21468b4fa6e",
                    "movies.csv": "0df90835c19151f9d819d0822e190797",
                    "ratings.csv": "cf12b74f9ad4b94a011f079e26d4270a",
                    "tags.csv": "963bf4fa4de6b8901868fddd3eb54567",
                }
            ),
        ),
        "ml-latest": DatasetSource(
            name="ml-latest",
            url=f"{_BASE_URL}/ml-latest.zip",
            sha256=None,
            md5_url=f"{_BASE_URL}/ml-latest.zip.md5",
        ),
    }
)


def _is_complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in _REQUIRED_FILES)


def _fallback_hint(name: str, root: Path, *, sentence: bool = False) -> str:
    verb = "Download" if sentence else "download"
    return (
        f"{verb} the zip yourself and unzip it into {root / name}, "
        "or set BOXDREC_DATA_DIR to a folder that holds it"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()  # it holds the response and its socket
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed after {len(exc.partial)} more bytes, before the end"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, what: str, *, local_http: bool = True) -> None:
    """Refuse anything but https, or (when ``local_http``) http to this machine (tests)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise DataError(f"Refusing to download {what}: {url!r} is not a valid URL.") from exc
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and local_http and _is_loopback(host):
        return
    if parts.scheme == "http":
        raise DataError(
            f"Refusing to download {what} over plain http from {url}: use an https:// URL."
        )
    raise DataError(
        f"Refusing to download {what} from {url!r}: only https:// URLs are allowed "
        "(http:// only to 127.0.0.1 or localhost)."
    )


class _SafeRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs :func:`_check_url` accepts (no https → http downgrade).

    Plain http to this machine is followed only when the download started there (tests).
    """

    def __init__(self, what: str, local_http: bool) -> None:
        super().__init__()
        self._what = what
        self._local_http = local_http

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        target = urllib.parse.urljoin(req.full_url, newurl)
        try:
            _check_url(target, self._what, local_http=self._local_http)
        except DataError:
            fp.close()
            raise
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str, what: str, timeout: float) -> http.client.HTTPResponse:
    _check_url(url, what)
    local = _is_loopback(urllib.parse.urlsplit(url).hostname)
    handlers: list[urllib.request.BaseHandler] = [_SafeRedirectHandler(what, local)]
    if local:
        handlers.append(urllib.request.ProxyHandler({}))  # never send local traffic to a proxy
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    return opener.open(request, timeout=timeout)  # type: ignore[no-any-return]


_NET_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, zlib.error)


class _LocalWriteError(Exception):
    """Writing to the data folder failed (disk full, permissions): not a network problem."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(exc.strerror or str(exc))
        self.exc = exc


def _write_failed(name: str, root: Path, exc: OSError) -> DataError:
    return DataError(
        f"Could not write {name} into {root}: {exc.strerror or exc}. Free some space or fix the "
        "folder's permissions, or set BOXDREC_DATA_DIR to another folder."
    )


def _fetch_md5(source: DatasetSource, md5_url: str, root: Path, timeout: float) -> str:
    """GroupLens' ``<zip>.md5`` file: the one md5 it holds, in any common layout."""
    what = f"the checksum of {source.name}"
    try:
        with _open(md5_url, what, timeout) as resp:
            text = resp.read(_MAX_CHECKSUM_FILE_BYTES + 1)
    except _NET_ERRORS as exc:
        raise DataError(
            f"Could not fetch {what} from {md5_url}: {_reason(exc)}. Check the connection, or "
            f"{_fallback_hint(source.name, root)}."
        ) from exc
    found = set()
    if len(text) <= _MAX_CHECKSUM_FILE_BYTES:
        decoded = text.decode("ascii", errors="replace")
        found = {m.lower() for m in re.findall(r"\b[0-9a-fA-F]{32}\b", decoded)}
    if len(found) != 1:
        raise DataError(
            f"{md5_url} does not hold exactly one md5 checksum, so {source.name} cannot be "
            f"verified; {_fallback_hint(source.name, root)}."
        )
    return found.pop()


def _stream(
    resp: http.client.HTTPResponse,
    out: IO[bytes],
    progress: ProgressCallback | None,
) -> tuple[str, str, int]:
    """Copy the response body into ``out``; return (sha256, md5, size)."""
    header = resp.headers.get("Content-Length")
    total = int(header) if header and header.isdigit() else None
    if total is not None and total > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"the server announces {total} bytes, more than {MAX_DOWNLOAD_BYTES}")
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    done = 0
    next_log = 0.1
    if progress:
        progress(0, total)
    while chunk := resp.read(_CHUNK):
        done += len(chunk)
        if done > MAX_DOWNLOAD_BYTES:
            raise ValueError(f"the download exceeds {MAX_DOWNLOAD_BYTES} bytes")
        sha.update(chunk)
        md5.update(chunk)
        try:
            out.write(chunk)
        except OSError as exc:
            raise _LocalWriteError(exc) from exc
        if progress:
            progress(done, total)
        if total and done / total >= next_log:
            log.debug("downloaded %d of %d bytes (%.0f%%)", done, total, 100 * done / total)
            next_log += 0.1
    if total is not None and done != total:
        raise ValueError(f"received {done} of the {total} bytes the server announced")
    return sha.hexdigest(), md5.hexdigest(), done


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The path parts of a member, or a :class:`ValueError` saying why it is unsafe."""
    name = info.filename
    if not name or "\\" in name or "\x00" in name:
        raise ValueError(f"member {name!r} has an unusable name")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ValueError(f"member {name!r} has an absolute path")
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    if not parts:
        raise ValueError(f"member {name!r} has an empty path")
    if ".." in parts:
        raise ValueError(f"member {name!r} points outside the archive ('..')")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no Unix type
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise ValueError(f"member {name!r} is a link or special file")
    if info.flag_bits & 0x1:
        raise ValueError(f"member {name!r} is encrypted")
    return parts


def _plan(zf: zipfile.ZipFile) -> tuple[str, list[tuple[zipfile.ZipInfo, tuple[str, ...]]], int]:
    """Check every member; return (top folder, files with their parts below it, total size)."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"it holds {len(infos)} members, more than {MAX_MEMBERS}")
    tops: set[str] = set()
    files: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    for info in infos:
        parts = _member_parts(info)
        tops.add(parts[0])
        if info.is_dir():
            continue
        if len(parts) < 2:
            raise ValueError(f"member {info.filename!r} is not inside the dataset folder")
        key = tuple(p.casefold() for p in parts[1:])
        if key in seen:
            raise ValueError(f"member {info.filename!r} appears twice")
        seen.add(key)
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            raise ValueError(f"it unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        files.append((info, parts[1:]))
    if len(tops) != 1:
        raise ValueError(f"it should hold one top folder, not {sorted(tops)}")
    return tops.pop(), files, total


def _extract(
    zf: zipfile.ZipFile,
    files: list[tuple[zipfile.ZipInfo, tuple[str, ...]]],
    dest: Path,
) -> dict[str, str]:
    """Write the planned files below ``dest``; return the md5 of each, keyed by relative path."""
    dest_real = dest.resolve()
    md5s: dict[str, str] = {}
    for info, parts in files:
        target = dest.joinpath(*parts)
        if not target.resolve().is_relative_to(dest_real):  # belt and braces after _plan
            raise ValueError(f"member {info.filename!r} points outside the archive")
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.md5(usedforsecurity=False)
        written = 0
        with zf.open(info) as src, open(target, "xb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > info.file_size:
                    raise ValueError(f"member {info.filename!r} is larger than it declares")
                digest.update(chunk)
                out.write(chunk)
        md5s["/".join(parts)] = digest.hexdigest()
    return md5s


def _unpack(
    source: DatasetSource, archive: Path, root: Path, work: Path, member_md5: Mapping[str, str]
) -> Path:
    """Check and extract ``archive`` into ``work``; return the complete dataset folder."""
    name = source.name
    try:
        with zipfile.ZipFile(archive) as zf:
            top, files, total = _plan(zf)
            if top != name:
                log.warning("%s: the archive's folder is %r; it becomes %s", name, top, name)
            free = shutil.disk_usage(root).free
            if total > free:
                raise DataError(
                    f"{name} needs {total / 1e6:.0f} MB to unpack but {root} has only "
                    f"{free / 1e6:.0f} MB free; free some space or set BOXDREC_DATA_DIR to "
                    "another folder."
                )
            folder = work / name
            folder.mkdir()  # honours the umask, unlike the 0700 temporary folder around it
            md5s = _extract(zf, files, folder)
    except (*_ZIP_ERRORS, NotImplementedError) as exc:
        raise DataError(
            f"Refusing to unpack {name}: the archive is unsafe or damaged ({exc}). Nothing was "
            f"installed; {_fallback_hint(name, root)}."
        ) from exc
    except OSError as exc:
        raise _write_failed(name, root, exc) from exc
    for member, expected in member_md5.items():
        got = md5s.get(member)
        if got is None:
            raise DataError(
                f"The {name} archive lacks {member}; it was not installed. "
                f"{_fallback_hint(name, root, sentence=True)}."
            )
        if got != expected.lower():
            raise DataError(
                f"{member} in {name} fails its checksum: expected md5 {expected}, got {got}. "
                f"Nothing was installed; try again, or {_fallback_hint(name, root)}."
            )
    missing = [f for f in _REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"The {name} archive lacks {', '.join(missing)}, so it is not a complete MovieLens "
            f"dataset; it was not installed. {_fallback_hint(name, root, sentence=True)}."
        )
    return folder


def _install(new: Path, target: Path, work: Path) -> None:
    """Move the complete folder ``new`` to ``target``, replacing whatever is there safely."""
    if not (target.exists() or target.is_symlink()):
        os.rename(new, target)
        return
    aside = work / "old"
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(aside, target)  # put the old one back
        raise
    log.info("replaced the previous %s", target)


def download_dataset(
    name: str,
    root: Path,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download dataset ``name`` into ``root / name`` and return that folder.

    ``url`` and ``sha256`` override the entry in :data:`DATASETS` (a mirror, or tests). Without
    a sha256, the archive is checked against the md5 in ``<url>.md5`` (for an overridden url) or
    the dataset's ``md5_url``. The dataset's member md5s are checked unless ``sha256`` is given
    (an explicit sha256 names another archive). ``progress`` is called with (bytes so far,
    total or ``None``); ``timeout`` is how many seconds to wait for the server at each step.
    A folder already at ``root / name`` is replaced only once the new one is complete; on any
    failure :class:`DataError` is raised and ``root`` holds just what it held before.
    """
    source = DATASETS.get(name)
    if source is None:
        raise DataError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    url = url or source.url
    expected_sha = (sha256 or source.sha256 or "").lower() or None
    md5_url = None
    if expected_sha is None:
        md5_url = f"{url}.md5" if url != source.url else source.md5_url
        if md5_url is None:
            raise DataError(
                f"{name} has no known checksum, so it cannot be downloaded safely; "
                f"{_fallback_hint(name, root)}."
            )
    _check_url(url, name)
    root = Path(root)
    expected_md5 = _fetch_md5(source, md5_url, root, timeout) if md5_url else None
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Could not create the data folder {root}: {exc.strerror or exc}. "
            "Set BOXDREC_DATA_DIR to a folder you can write to."
        ) from exc
    log.info("downloading %s from %s into %s", name, url, root)
    try:
        work = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}-download-"))
    except OSError as exc:
        raise _write_failed(name, root, exc) from exc
    try:
        archive = work / f"{name}.zip"
        try:
            with _open(url, name, timeout) as resp, open(archive, "xb") as out:
                got_sha, got_md5, size = _stream(resp, out, progress)
        except DataError:
            raise
        except _LocalWriteError as exc:
            raise _write_failed(name, root, exc.exc) from exc.exc
        except _NET_ERRORS as exc:
            raise DataError(
                f"Could not download {name} from {url}: {_reason(exc)}. Check the connection, "
                f"or {_fallback_hint(name, root)}."
            ) from exc
        if expected_sha is not None:
            kind, expected, got = "sha256", expected_sha, got_sha
        else:
            kind, expected, got = "md5", expected_md5, got_md5
        if got != expected:
            raise DataError(
                f"{name}.zip from {url} fails its checksum: expected {kind} {expected}, got "
                f"{got} ({size} bytes). The download is damaged or the file changed; nothing "
                f"was installed. Try again, or {_fallback_hint(name, root)}."
            )
        log.info("%s: %d bytes, %s checksum verified; unpacking", name, size, kind)
        # An explicit sha256 names another archive; the table's member md5s describe GroupLens'.
        member_md5 = source.member_md5 if sha256 is None else {}
        folder = _unpack(source, archive, root, work, member_md5)
        archive.unlink()
        target = root / name
        try:
            _install(folder, target, work)
        except OSError as exc:
            raise DataError(
                f"Could not move the unpacked {name} into {target}: {exc.strerror or exc}. "
                f"Check that nothing else uses that folder, then try again."
            ) from exc
    finally:
        try:
            shutil.rmtree(work)
        except OSError as exc:
            log.warning("could not remove the temporary folder %s: %s", work, exc)
    log.info("%s is ready in %s", name, target)
    return target


def ensure_dataset(
    name: str,
    root: Path,
    *,
    url: str | None = None,
    sha256: str | None = None,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return ``root / name`` if it holds ratings.csv and movies.csv; otherwise download it."""
    folder = Path(root) / name
    if _is_complete(folder):
        log.info("%s is already in %s", name, folder)
        return folder
    return download_dataset(name, root, url=url, sha256=sha256, progress=progress, timeout=timeout)

"""Downloading MovieLens: a real HTTP server on 127.0.0.1 serves the GroupLens archive."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import socket
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from recommender import download
from recommender.download import DATASETS, DatasetSource, download_dataset, ensure_dataset
from recommender.errors import DataError

pytestmark = pytest.mark.movielens

SMALL = "ml-latest-small"
SMALL_SHA256 = "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"
RATINGS_SHA256 = "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"
CSVS = ("movies.csv", "ratings.csv", "links.csv", "tags.csv")


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None  # a Content-Length that differs from the body (a lie)


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    requests: list[str]

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body: bytes, **kw: object) -> str:
        self.routes[path] = Route(body=body, **kw)  # type: ignore[arg-type]
        return self.url(path)


@pytest.fixture(scope="session")
def small_zip(movielens_dir: Path) -> bytes:
    data = (movielens_dir / f"{SMALL}.zip").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SMALL_SHA256
    return data


@pytest.fixture
def server() -> Iterator[Server]:
    routes: dict[str, Route] = {}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            route = routes.get(self.path, Route(status=404, body=b"not found"))
            self.send_response(route.status)
            length = route.declared_length if route.declared_length is not None else None
            self.send_header("Content-Length", str(length or len(route.body)))
            for key, value in route.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", routes, requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with its sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_zip(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def good_members() -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    return [
        (f"{SMALL}/movies.csv", b"movieId,title,genres\r\n1,Toy Story (1995),Animation\r\n"),
        (f"{SMALL}/ratings.csv", b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n"),
    ]


# --- the good path -------------------------------------------------------------------------


def test_good_download_unpacks_verified_files_and_leaves_no_temp(
    server: Server, small_zip: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.serve("/ml-latest-small.zip", small_zip)
    root = tmp_path / "not" / "yet" / "there"
    calls: list[tuple[int, int | None]] = []

    with caplog.at_level(logging.INFO, logger="recommender.download"):
        folder = download_dataset(
            SMALL, root, url=url, progress=lambda d, t: calls.append((d, t)), timeout=10
        )

    assert folder == root / SMALL
    for name in CSVS:
        assert (folder / name).is_file(), name
    assert sha256((folder / "ratings.csv").read_bytes()) == RATINGS_SHA256
    assert listing(root) == [SMALL]  # no .part, no temp folder, no zip
    assert calls[0] == (0, len(small_zip))
    assert calls[-1] == (len(small_zip), len(small_zip))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert server.requests == ["/ml-latest-small.zip"]
    assert any("checksum verified" in r.getMessage() for r in caplog.records)
    assert any("is ready" in r.getMessage() for r in caplog.records)


def test_download_follows_a_redirect_on_the_same_host(
    server: Server, small_zip: bytes, tmp_path: Path
) -> None:
    server.serve("/real.zip", small_zip)
    url = server.serve("/moved.zip", b"", status=302, headers={"Location": "/real.zip"})

    folder = download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert sha256((folder / "ratings.csv").read_bytes()) == RATINGS_SHA256
    assert server.requests == ["/moved.zip", "/real.zip"]


def test_download_replaces_an_incomplete_folder(
    server: Server, small_zip: bytes, tmp_path: Path
) -> None:
    old = tmp_path / SMALL
    old.mkdir()
    (old / "movies.csv").write_text("movieId,title,genres\n")
    (old / "stray.txt").write_text("left over from a broken unzip")
    url = server.serve("/ml-latest-small.zip", small_zip)

    download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert not (old / "stray.txt").exists()
    assert sha256((old / "ratings.csv").read_bytes()) == RATINGS_SHA256
    assert listing(tmp_path) == [SMALL]


# --- damaged downloads ----------------------------------------------------------------------


def _flipped(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]


@pytest.mark.parametrize(
    "damage", [_flipped, lambda d: d[: len(d) // 2]], ids=["flipped-byte", "truncated"]
)
def test_damaged_download_fails_checksum_and_leaves_nothing(
    server: Server, small_zip: bytes, tmp_path: Path, damage
) -> None:
    bad = damage(small_zip)
    url = server.serve("/ml-latest-small.zip", bad)
    root = tmp_path / "data"

    with pytest.raises(DataError, match="checksum") as err:
        download_dataset(SMALL, root, url=url, timeout=10)

    message = str(err.value)
    assert SMALL_SHA256 in message and sha256(bad) in message
    assert "\n" not in message
    assert not (root / SMALL).exists()
    assert listing(root) == []


def test_connection_cut_short_is_a_download_error(
    server: Server, small_zip: bytes, tmp_path: Path
) -> None:
    url = server.serve("/ml-latest-small.zip", small_zip[:1000], declared_length=len(small_zip))

    with pytest.raises(DataError, match="Could not download ml-latest-small"):
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert listing(tmp_path) == []


def test_404_is_a_clear_error(server: Server, tmp_path: Path) -> None:
    url = server.url("/missing.zip")

    with pytest.raises(DataError) as err:
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    message = str(err.value)
    assert message.startswith(f"Could not download {SMALL} from {url}: HTTP 404")
    assert "BOXDREC_DATA_DIR" in message and str(tmp_path / SMALL) in message
    assert listing(tmp_path) == []


def test_connection_refused_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with pytest.raises(DataError, match=r"Could not download .*Check the connection"):
        download_dataset(SMALL, tmp_path, url=f"http://127.0.0.1:{port}/x.zip", timeout=10)

    assert listing(tmp_path) == []


@pytest.mark.parametrize("failure", ["corrupt", "404", "unsafe-zip"])
def test_existing_good_dataset_is_kept_when_redownload_fails(
    server: Server, small_zip: bytes, tmp_path: Path, failure: str
) -> None:
    download_dataset(SMALL, tmp_path, url=server.serve("/good.zip", small_zip), timeout=10)
    before = tree(tmp_path)
    if failure == "corrupt":
        url, sha = server.serve("/bad.zip", _flipped(small_zip)), None
    elif failure == "404":
        url, sha = server.url("/gone.zip"), None
    else:
        evil = make_zip([*good_members(), ("../evil", b"x")])
        url, sha = server.serve("/evil.zip", evil), sha256(evil)

    with pytest.raises(DataError):
        download_dataset(SMALL, tmp_path, url=url, sha256=sha, timeout=10)

    assert tree(tmp_path) == before
    assert listing(tmp_path) == [SMALL]


def test_failed_swap_puts_the_old_folder_back(
    server: Server, small_zip: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / SMALL
    old.mkdir()
    (old / "movies.csv").write_text("movieId,title,genres\n")
    before = tree(tmp_path)
    url = server.serve("/ml-latest-small.zip", small_zip)
    real_rename = os.rename

    def rename(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(dst) == old and Path(src).name == SMALL:  # moving the new folder in
            raise OSError(16, "Device or resource busy")
        real_rename(src, dst)

    monkeypatch.setattr(download.os, "rename", rename)

    with pytest.raises(DataError, match="Could not move the unpacked ml-latest-small"):
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert tree(tmp_path) == before
    assert listing(tmp_path) == [SMALL]


# --- unsafe archives ------------------------------------------------------------------------


def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(f"{SMALL}/link.csv")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "extra",
    [
        ("../evil", b"pwned"),
        (f"{SMALL}/../../evil", b"pwned"),
        (f"{SMALL}/sub/../../../evil", b"pwned"),
        ("/tmp/evil-absolute", b"pwned"),
        (f"{SMALL}\\..\\..\\evil", b"pwned"),
        ("other-folder/evil.csv", b"pwned"),
        (f"{SMALL}/movies.csv", b"a second copy"),
        (_symlink_member(), b"/etc/passwd"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "deep-dotdot",
        "absolute",
        "backslash",
        "two-tops",
        "dup",
        "link",
    ],
)
@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_unsafe_archive_is_refused_and_nothing_is_written(
    server: Server, tmp_path: Path, extra: tuple[str | zipfile.ZipInfo, bytes]
) -> None:
    evil = make_zip([*good_members(), extra])
    url = server.serve("/evil.zip", evil)
    root = tmp_path / "a" / "data"

    with pytest.raises(DataError, match="Refusing to unpack ml-latest-small"):
        download_dataset(SMALL, root, url=url, sha256=sha256(evil), timeout=10)

    assert listing(root) == []
    assert [p for p in tmp_path.rglob("*") if "evil" in p.name] == []
    assert not Path("/tmp/evil-absolute").exists()


def test_archive_without_ratings_is_not_installed(server: Server, tmp_path: Path) -> None:
    data = make_zip([good_members()[0]])
    url = server.serve("/small.zip", data)

    with pytest.raises(DataError, match=r"lacks ratings\.csv"):
        download_dataset(SMALL, tmp_path, url=url, sha256=sha256(data), timeout=10)

    assert listing(tmp_path) == []


def test_not_a_zip_is_refused(server: Server, tmp_path: Path) -> None:
    data = b"<html>maintenance</html>"
    url = server.serve("/small.zip", data)

    with pytest.raises(DataError, match="unsafe or damaged"):
        download_dataset(SMALL, tmp_path, url=url, sha256=sha256(data), timeout=10)

    assert listing(tmp_path) == []


def test_member_larger_than_the_limit_is_refused(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(download, "MAX_UNPACKED_BYTES", 1000)
    data = make_zip([*good_members(), (f"{SMALL}/big.csv", b"0" * 5000)])
    url = server.serve("/small.zip", data)

    with pytest.raises(DataError, match="more than 1000 bytes"):
        download_dataset(SMALL, tmp_path, url=url, sha256=sha256(data), timeout=10)

    assert listing(tmp_path) == []


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        "ftp://files.grouplens.org/ml-latest-small.zip",
        "file:///etc/passwd",
        "https:///no-host.zip",
    ],
)
def test_unsafe_urls_are_refused_before_any_connection(url: str, tmp_path: Path) -> None:
    root = tmp_path / "data"

    with pytest.raises(DataError, match="Refusing to download"):
        download_dataset(SMALL, root, url=url, timeout=10)

    assert not root.exists()


def test_redirect_to_plain_http_elsewhere_is_refused(server: Server, tmp_path: Path) -> None:
    url = server.serve(
        "/moved.zip", b"", status=302, headers={"Location": "http://example.com/ml.zip"}
    )

    with pytest.raises(DataError, match="plain http"):
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert listing(tmp_path) == []


def test_plain_http_to_this_machine_only_when_the_download_started_here() -> None:
    download._check_url("http://127.0.0.1:8000/x.zip", "x")
    download._check_url("http://localhost/x.zip", "x")
    with pytest.raises(DataError, match="plain http"):
        download._check_url("http://127.0.0.1:8000/x.zip", "x", local_http=False)


def test_unknown_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Unknown dataset 'ml-1b'.*ml-latest-small"):
        download_dataset("ml-1b", tmp_path)


# --- md5-verified datasets ------------------------------------------------------------------


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
def md5_source(monkeypatch: pytest.MonkeyPatch, small_zip: bytes) -> DatasetSource:
    """A dataset checked like ml-32m (a .md5 file and member md5s), made of ml-latest-small."""
    with zipfile.ZipFile(io.BytesIO(small_zip)) as zf:
        members = {n: _md5(zf.read(f"{SMALL}/{n}")) for n in CSVS}
    source = DatasetSource(
        name=SMALL,
        url="https://files.example.invalid/ml-latest-small.zip",
        sha256=None,
        md5_url="https://files.example.invalid/ml-latest-small.zip.md5",
        member_md5=members,
    )
    monkeypatch.setattr(download, "DATASETS", {SMALL: source})
    return source


@pytest.mark.parametrize(
    "md5_text",
    ["{h}  ml-latest-small.zip\n", "MD5 (ml-latest-small.zip) = {h}\n", "{h}"],
    ids=["gnu", "bsd", "bare"],
)
def test_md5_file_verifies_the_archive(
    server: Server, small_zip: bytes, tmp_path: Path, md5_source: DatasetSource, md5_text: str
) -> None:
    url = server.serve("/ml.zip", small_zip)
    server.serve("/ml.zip.md5", md5_text.format(h=_md5(small_zip)).encode())

    folder = download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert sha256((folder / "ratings.csv").read_bytes()) == RATINGS_SHA256
    assert server.requests == ["/ml.zip.md5", "/ml.zip"]
    assert listing(tmp_path) == [SMALL]


def test_md5_mismatch_fails_checksum(
    server: Server, small_zip: bytes, tmp_path: Path, md5_source: DatasetSource
) -> None:
    url = server.serve("/ml.zip", small_zip)
    server.serve("/ml.zip.md5", b"0" * 32 + b"  ml-latest-small.zip\n")

    with pytest.raises(DataError, match=r"checksum: expected md5 0{32}, got"):
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert listing(tmp_path) == []


def test_missing_md5_file_stops_before_the_download(
    server: Server, small_zip: bytes, tmp_path: Path, md5_source: DatasetSource
) -> None:
    url = server.serve("/ml.zip", small_zip)

    with pytest.raises(DataError, match="Could not fetch the checksum of ml-latest-small"):
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert server.requests == ["/ml.zip.md5"]
    assert listing(tmp_path) == []


def test_member_md5_mismatch_installs_nothing(
    server: Server,
    small_zip: bytes,
    tmp_path: Path,
    md5_source: DatasetSource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = DatasetSource(
        name=SMALL,
        url=md5_source.url,
        sha256=None,
        md5_url=md5_source.md5_url,
        member_md5={**md5_source.member_md5, "ratings.csv": "f" * 32},
    )
    monkeypatch.setattr(download, "DATASETS", {SMALL: wrong})
    url = server.serve("/ml.zip", small_zip)
    server.serve("/ml.zip.md5", _md5(small_zip).encode())

    with pytest.raises(DataError, match=r"ratings\.csv in ml-latest-small fails its checksum"):
        download_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert listing(tmp_path) == []


def test_dataset_without_any_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = DatasetSource(SMALL, "https://example.invalid/x.zip", None, None, {})
    monkeypatch.setattr(download, "DATASETS", {SMALL: source})

    with pytest.raises(DataError, match="no known checksum"):
        download_dataset(SMALL, tmp_path)

    assert listing(tmp_path) == []


# --- ensure_dataset -------------------------------------------------------------------------


def test_ensure_dataset_does_not_download_a_complete_folder(
    server: Server, small_zip: bytes, movielens_dir: Path, tmp_path: Path
) -> None:
    url = server.serve("/ml-latest-small.zip", small_zip)
    folder = tmp_path / SMALL
    folder.mkdir()
    for name in ("movies.csv", "ratings.csv"):
        shutil.copyfile(movielens_dir / SMALL / name, folder / name)
    before = tree(tmp_path)

    assert ensure_dataset(SMALL, tmp_path, url=url, timeout=10) == folder

    assert server.requests == []
    assert tree(tmp_path) == before


def test_ensure_dataset_downloads_an_incomplete_folder(
    server: Server, small_zip: bytes, tmp_path: Path
) -> None:
    (tmp_path / SMALL).mkdir()
    (tmp_path / SMALL / "movies.csv").write_text("movieId,title,genres\n")
    url = server.serve("/ml-latest-small.zip", small_zip)

    folder = ensure_dataset(SMALL, tmp_path, url=url, timeout=10)

    assert server.requests == ["/ml-latest-small.zip"]
    assert sha256((folder / "ratings.csv").read_bytes()) == RATINGS_SHA256


# --- the production table -------------------------------------------------------------------


def test_production_table_carries_the_real_urls_and_checksums() -> None:
    base = "https://files.grouplens.org/datasets/movielens"
    small = DATASETS[SMALL]
    assert (small.url, small.sha256) == (f"{base}/ml-latest-small.zip", SMALL_SHA256)
    big = DATASETS["ml-32m"]
    assert big.url == f"{base}/ml-32m.zip" and big.md5_url == f"{base}/ml-32m.zip.md5"
    assert dict(big.member_md5) == {
        "links.csv": "8f033867bcb4e6be8792b21468b4fa6e",
        "movies.csv": "0df90835c19151f9d819d0822e190797",
        "ratings.csv": "cf12b74f9ad4b94a011f079e26d4270a",
        "tags.csv": "963bf4fa4de6b8901868fddd3eb54567",
    }
    latest = DATASETS["ml-latest"]
    assert latest.url == f"{base}/ml-latest.zip" and latest.md5_url == f"{base}/ml-latest.zip.md5"
    for name, source in DATASETS.items():
        assert source.name == name
        assert source.sha256 or source.md5_url


def test_ml_32m_member_md5s_match_the_shared_catalogue(movielens_dir: Path) -> None:
    movies = (movielens_dir / "ml-32m" / "movies.csv").read_bytes()
    assert _md5(movies) == DATASETS["ml-32m"].member_md5["movies.csv"]


def test_ml_latest_small_member_md5s_match_the_archive(small_zip: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(small_zip)) as zf:
        for name, expected in DATASETS[SMALL].member_md5.items():
            assert _md5(zf.read(f"{SMALL}/{name}")) == expected, name

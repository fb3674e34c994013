"""Downloads against a local HTTP server (127.0.0.1, port 0): mirror fallback, checksum rejection,
atomic placement. No test here touches the internet."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tinygrad_mnist.data import (
    MIRRORS_ENV_VAR,
    DownloadError,
    MNISTFile,
    MNISTNotFoundError,
    download_file,
    load_mnist,
    resolve_mirrors,
    write_idx,
)
from tinygrad_mnist.data.idx import idx_header

# --- a small fake MNIST, served by a local server -------------------------------------------------------

RNG = np.random.default_rng(0)
ARRAYS = {
    "train_images": RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8),
    "train_labels": np.array([0, 1, 2, 3, 4, 5], np.uint8),
    "test_images": RNG.integers(0, 256, (4, 28, 28), dtype=np.uint8),
    "test_labels": np.array([9, 8, 7, 6], np.uint8),
}
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass
class Server:
    url: str
    payloads: dict[str, bytes]  # path -> body served with status 200
    hits: list[str] = field(default_factory=list)


def _gz(key: str) -> bytes:
    raw = idx_header(ARRAYS[key]) + ARRAYS[key].tobytes()
    return gzip.compress(raw, mtime=0)


def _fake_files() -> dict[str, MNISTFile]:
    """The file table for the fake data set: its names with checksums of the served bytes."""
    out = {}
    for key, name in NAMES.items():
        gz = _gz(key)
        raw_sha = hashlib.sha256(gzip.decompress(gz)).hexdigest()
        out[key] = MNISTFile(name, hashlib.md5(gz).hexdigest(), raw_sha)
    return out


@pytest.fixture
def server() -> Iterator[Server]:
    payloads: dict[str, bytes] = {}
    for key, name in NAMES.items():
        good = _gz(key)
        payloads[f"/good/{name}.gz"] = good
        payloads[f"/bad/{name}.gz"] = good[:20] + bytes(b ^ 0xFF for b in good[20:30]) + good[30:]
    state = Server("", payloads)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            state.hits.append(self.path)
            if self.path.startswith("/short/"):  # promises more bytes than it sends, then closes
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"only a little")
                self.close_connection = True
                return
            body = state.payloads.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def dead_url() -> str:
    """A URL on a port nobody listens on: connection refused, immediately."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Even a test that forgets `mirrors=` or `root=` cannot reach the real mirrors or the real cache."""
    monkeypatch.setenv(MIRRORS_ENV_VAR, "http://127.0.0.1:9/unreachable/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGRAD_MNIST_DATA", raising=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- download_file ----------------------------------------------------------------------------------------

LABELS = "train-labels-idx1-ubyte.gz"


def test_falls_back_past_dead_and_missing_mirrors(server: Server, dead_url: str, tmp_path: Path) -> None:
    good = server.payloads[f"/good/{LABELS}"]
    urls = [dead_url + LABELS, f"{server.url}/missing/{LABELS}", f"{server.url}/good/{LABELS}"]
    dest = download_file(urls, tmp_path / "out" / LABELS, hashlib.md5(good).hexdigest(), progress=False)
    assert dest.read_bytes() == good
    assert server.hits == [f"/missing/{LABELS}", f"/good/{LABELS}"]
    assert _leftovers(tmp_path / "out") == [LABELS]


def test_checksum_mismatch_deletes_and_says_so(server: Server, tmp_path: Path) -> None:
    md5 = hashlib.md5(server.payloads[f"/good/{LABELS}"]).hexdigest()
    with pytest.raises(DownloadError) as err:
        download_file([f"{server.url}/bad/{LABELS}"], tmp_path / LABELS, md5, progress=False)
    message = str(err.value)
    assert f"MD5 mismatch: expected {md5}" in message
    assert "deleted" in message and f"/bad/{LABELS}" in message
    assert _leftovers(tmp_path) == []  # neither the final name nor a temporary file


def test_checksum_mismatch_moves_on_to_next_mirror(server: Server, tmp_path: Path) -> None:
    good = server.payloads[f"/good/{LABELS}"]
    urls = [f"{server.url}/bad/{LABELS}", f"{server.url}/good/{LABELS}"]
    download_file(urls, tmp_path / LABELS, hashlib.md5(good).hexdigest(), progress=True)
    assert (tmp_path / LABELS).read_bytes() == good


def test_incomplete_transfer_leaves_nothing(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="incomplete transfer: got 13 of 1000 bytes"):
        download_file([f"{server.url}/short/{LABELS}"], tmp_path / LABELS, progress=False)
    assert _leftovers(tmp_path) == []


def test_failed_download_keeps_existing_file(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / LABELS
    dest.write_bytes(b"previous")
    with pytest.raises(DownloadError):
        download_file([f"{server.url}/bad/{LABELS}"], dest, "0" * 32, progress=False)
    assert dest.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == [LABELS]


def test_error_lists_every_url_and_reason(server: Server, dead_url: str, tmp_path: Path) -> None:
    urls = [dead_url + LABELS, f"{server.url}/missing/{LABELS}"]
    with pytest.raises(DownloadError) as err:
        download_file(urls, tmp_path / LABELS, progress=False)
    assert isinstance(err.value, OSError)
    message = str(err.value)
    assert f"could not download {LABELS} to {tmp_path}" in message
    assert f"{dead_url}{LABELS}: cannot connect" in message
    assert f"{server.url}/missing/{LABELS}: HTTP 404" in message
    assert [u for u, _ in err.value.attempts] == urls


def test_rejects_a_single_string(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        download_file("http://127.0.0.1/x", tmp_path / "x")


# --- mirrors ----------------------------------------------------------------------------------------------


def test_mirrors_argument_env_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_mirrors(["http://a/x", "http://b/y/"]) == ["http://a/x/", "http://b/y/"]
    monkeypatch.setenv(MIRRORS_ENV_VAR, "http://c/, http://d/z")
    assert resolve_mirrors() == ["http://c/", "http://d/z/"]
    monkeypatch.delenv(MIRRORS_ENV_VAR)
    assert resolve_mirrors() == [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]


# --- load_mnist with downloading --------------------------------------------------------------------------


def test_load_mnist_downloads_into_root(server: Server, dead_url: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    data = load_mnist(root, mirrors=[dead_url, f"{server.url}/good"], files=_fake_files(), progress=False)
    np.testing.assert_array_equal(data.train_images, ARRAYS["train_images"])
    np.testing.assert_array_equal(data.test_labels, ARRAYS["test_labels"])
    assert data.train_labels.dtype == np.int64
    assert _leftovers(root) == sorted(n + ".gz" for n in NAMES.values())
    # second load: found locally, nothing fetched
    hits = len(server.hits)
    load_mnist(root, download=False, files=_fake_files())
    assert len(server.hits) == hits


def test_load_mnist_downloads_into_cache_without_root(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIRRORS_ENV_VAR, f"{server.url}/good")  # mirrors from the environment
    load_mnist(files=_fake_files(), progress=False)
    assert _leftovers(tmp_path / "cache" / "tinygrad_mnist" / "mnist") == sorted(
        n + ".gz" for n in NAMES.values()
    )


def test_load_mnist_fetches_only_missing_files(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte", ARRAYS["train_images"])  # present, raw
    load_mnist(root, mirrors=[f"{server.url}/good"], files=_fake_files(), progress=False)
    assert "/good/train-images-idx3-ubyte.gz" not in server.hits
    assert len(server.hits) == 3


def test_load_mnist_all_mirrors_fail(server: Server, dead_url: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    with pytest.raises(MNISTNotFoundError) as err:
        load_mnist(root, mirrors=[dead_url, f"{server.url}/bad"], files=_fake_files(), progress=False)
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    for name in NAMES.values():
        assert name in message
    assert f"Downloading into {root} failed" in message
    assert "MD5 mismatch" in message and "cannot connect" in message
    assert str(root) in message and "TINYGRAD_MNIST_DATA" in message and "root=FOLDER" in message
    assert "--data-dir" in err.value.cli_message()  # the command line names its own flag
    assert _leftovers(root) == []  # no partial or corrupted file left behind

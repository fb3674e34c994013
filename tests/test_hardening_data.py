"""Issue 15 items 5 (downloads' temp files), 6 (download deadline and size cap), 7 (IDX bombs) and
10 (label 200 with verify=False). Servers listen on 127.0.0.1 only; every loop is bounded."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from clitools import ROOT

from tinygrad_mnist.data import (
    MIRRORS_ENV_VAR,
    DownloadError,
    MNISTFile,
    download_file,
    load_mnist,
    write_idx,
)
from tinygrad_mnist.data.idx import IMAGES_MAGIC, IDXError, idx_header, read_images

DEAD_PID = 2**31 - 1  # above any pid_max: no such process


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MIRRORS_ENV_VAR, "http://127.0.0.1:9/unreachable/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TINYGRAD_MNIST_DATA", raising=False)


@pytest.fixture
def url() -> Iterator[str]:
    """/trickle: 1 byte every 20 ms of a promised 1000; /endless: 64 KiB blocks, no Content-Length;
    /exact/<n>: n bytes with a Content-Length."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            try:
                self.send_response(200)
                if self.path == "/trickle":
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    for _ in range(1000):  # bounded: 20 s at most, the client leaves after ~1 s
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.02)
                elif self.path.startswith("/endless"):
                    self.end_headers()  # no Content-Length: the body ends when the connection does
                    for _ in range(160):  # 10 MiB at most
                        self.wfile.write(bytes(1 << 16))
                    self.close_connection = True
                else:
                    n = int(self.path.rsplit("/", 1)[1])
                    self.send_header("Content-Length", str(n))
                    self.end_headers()
                    self.wfile.write(bytes(n))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# --------------------------------------------------------------------------- item 6: downloads
def test_a_trickling_server_is_cut_off_at_the_deadline(url: str, tmp_path: Path):
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"trickle: (too slow|timed out)"):
        download_file([f"{url}/trickle"], tmp_path / "f.gz", progress=False, timeout=3, deadline=0.5)
    assert time.monotonic() - start < 3  # each read alone never hits the 3 s timeout
    assert list(tmp_path.iterdir()) == []


def test_a_body_longer_than_expected_is_cut_off(url: str, tmp_path: Path):
    with pytest.raises(DownloadError, match=r"endless: more than the 4542 bytes expected"):
        download_file([f"{url}/endless"], tmp_path / "f.gz", progress=False, max_bytes=4542)
    with pytest.raises(DownloadError, match=r"announces 5000 bytes, more than the 4542"):
        download_file([f"{url}/exact/5000"], tmp_path / "f.gz", progress=False, max_bytes=4542)
    assert list(tmp_path.iterdir()) == []
    download_file([f"{url}/exact/4542"], tmp_path / "f.gz", progress=False, max_bytes=4542)


def test_mnist_downloads_are_capped_at_the_published_sizes(url: str, tmp_path: Path):
    from tinygrad_mnist.data.mnist import MNIST_FILES

    assert [f.gz_size for f in MNIST_FILES.values()] == [9_912_422, 28_881, 1_648_877, 4_542]
    files = {k: MNISTFile(f.name, f.md5_gz, f.sha256, 100) for k, f in MNIST_FILES.items()}
    with pytest.raises(FileNotFoundError, match="more than the 100 bytes expected"):
        load_mnist(tmp_path, mirrors=[f"{url}/endless"], files=files, progress=False)


# --------------------------------------------------------------------------- item 5: temp files
def test_a_killed_download_s_temp_file_is_removed_by_the_next_one(url: str, tmp_path: Path):
    stale = tmp_path / f".f.gz.{DEAD_PID}.abcd1234.part"
    stale.write_bytes(bytes(1000))
    other = tmp_path / f".other.gz.{DEAD_PID}.abcd1234.part"  # another target's: not ours to touch
    other.write_bytes(b"x")
    download_file([f"{url}/exact/10"], tmp_path / "f.gz", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "f.gz"]


# --------------------------------------------------------------------------- item 7: IDX bombs
def _bomb(path: Path, claimed: int, zeros: int) -> Path:
    """A gzip stream: an images header claiming `claimed` 28x28 images, then `zeros` zero bytes."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip container
    with open(path, "wb") as f:
        f.write(packer.compress(struct.pack(">IIII", IMAGES_MAGIC, claimed, 28, 28)))
        block = bytes(1 << 22)
        for _ in range(zeros // len(block)):
            f.write(packer.compress(block))
        f.write(packer.flush())
    return path


def test_idx_bombs_are_refused_within_a_small_memory_limit(tmp_path: Path):
    files = {
        "claims_2_32": _bomb(tmp_path / "bomb.gz", 2**32 - 1, 256 << 20),  # 256 MiB of zeros, ~250 KB file
        "raw_claims_more": tmp_path / "raw",
    }
    files["raw_claims_more"].write_bytes(struct.pack(">IIII", IMAGES_MAGIC, 2**31, 28, 28) + bytes(1000))
    write_idx(tmp_path / "good.gz", np.zeros((10_000, 28, 28), np.uint8))  # MNIST's test-set size: loads
    files["good"] = tmp_path / "good.gz"
    script = textwrap.dedent(
        """
        import json, resource, sys
        from tinygrad_mnist.data.idx import IDXError, read_images
        vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * 2**20, resource.RLIM_INFINITY))
        results = {}
        for name, path in json.loads(sys.argv[1]).items():
            try:
                read_images(path)
                results[name] = "loaded"
            except IDXError as error:
                results[name] = "refused: " + str(error)
            except MemoryError:
                results[name] = "MemoryError"
        print(json.dumps(results))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps({k: str(v) for k, v in files.items()})],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert results["good"] == "loaded"
    assert results["claims_2_32"].startswith("refused: ") and "over the limit" in results["claims_2_32"]
    assert (
        results["raw_claims_more"].startswith("refused: ") and "truncated data" in results["raw_claims_more"]
    )


def test_trailing_gzip_data_is_not_drained(tmp_path: Path):
    """A header claiming 1 image followed by 256 MiB: reported without decompressing it all."""
    path = _bomb(tmp_path / "tail.gz", 1, 256 << 20)
    with pytest.raises(IDXError, match=r"size mismatch.*more than \d+ are present"):
        read_images(path)


# --------------------------------------------------------------------------- item 10: labels
def test_labels_outside_0_to_9_are_refused_even_without_verification(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.array([1, 200, 3], np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([4, 5], np.uint8),
    }
    files = {}
    for key, (name, array) in zip(
        ("train_images", "train_labels", "test_images", "test_labels"), arrays.items()
    ):
        write_idx(tmp_path / name, array)
        raw = idx_header(array) + array.tobytes()
        files[key] = MNISTFile(
            name[:-3], hashlib.md5(gzip.compress(raw)).hexdigest(), hashlib.sha256(raw).hexdigest()
        )
    with pytest.raises(IDXError, match=r"train-labels-idx1-ubyte\.gz: label 200 at index 1.*0\.\.9"):
        load_mnist(tmp_path, download=False, verify=False, files=files)

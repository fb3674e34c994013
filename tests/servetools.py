"""A live `tinygrad-mnist serve` server in a background thread, for the API and browser tests."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tinygrad_mnist.serve import Models, make_server


@contextmanager
def running_server(models: Models | None = None, **options: Any) -> Iterator[Any]:
    """Serve on a free port of 127.0.0.1 until the block ends; yields the server (`.url`, `.server_address`)."""
    server = make_server(models or Models.load(), "127.0.0.1", 0, quiet=True, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def request(
    server: Any, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One request on a fresh connection: (status, headers, decoded JSON or raw bytes)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        kind = response.getheader("Content-Type", "")
        return response.status, dict(response.getheaders()), json.loads(data) if "json" in kind else data
    finally:
        connection.close()

"""The local web server: the page's static files and the JSON API, on the standard library's http.server.

Every response is JSON or one of the page's files; every error (bad request, wrong method, unknown path,
even a malformed request line) is a JSON {"error": ...} with a 4xx status, never an HTML traceback, and
the server goes on serving. Request bodies are capped at `MAX_BODY_BYTES` before anything is read.

    server = make_server(Models.load(), host="127.0.0.1", port=0)   # port 0: a free port
    print(server.url); server.serve_forever()
"""

from __future__ import annotations

import json
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tinygrad_mnist.serve import api
from tinygrad_mnist.serve.api import ApiError, Models

STATIC_DIR = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
ROUTES = {  # path -> {method: handler(server, query, content_type, body)}
    "/api/models": {"GET": lambda s, q, t, b: api.list_models(s.models)},
    "/api/weights": {"GET": lambda s, q, t, b: api.weights(s.models, q)},
    "/api/predict": {"POST": lambda s, q, t, b: api.predict(s.models, q, t, b)},
    "/api/backprop": {"POST": lambda s, q, t, b: api.backprop(s.models, q, t, b)},
}


class DigitServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung client never keeps the process alive

    def __init__(self, address: tuple[str, int], models: Models, max_body: int, quiet: bool):
        super().__init__(address, Handler)
        self.models, self.max_body, self.quiet = models, max_body, quiet
        self.static = {f"/static/{p.name}": p for p in STATIC_DIR.iterdir() if p.suffix in CONTENT_TYPES}
        self.static["/"] = STATIC_DIR / "index.html"

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    server: DigitServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take to send its request

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            if url.path in self.server.static:
                if method != "GET":
                    raise ApiError(405, f"{method} {url.path}: this is a page file; use GET")
                return self._send_file(self.server.static[url.path])
            handlers = ROUTES.get(url.path)
            if handlers is None:
                raise ApiError(
                    404,
                    f"no such path {url.path!r}; the API is /api/models, /api/weights, /api/predict, /api/backprop",
                )
            if method not in handlers:
                raise ApiError(405, f"{method} {url.path} is not allowed; use {', '.join(handlers)}")
            query = dict(parse_qsl(url.query))
            body = self._read_body() if method == "POST" else b""
            self._send_json(
                200, handlers[method](self.server, query, self.headers.get("Content-Type", ""), body)
            )
        except ApiError as error:
            allow = ", ".join(ROUTES.get(url.path, {"GET": None})) if error.status == 405 else None
            self._send_json(error.status, {"error": error.message}, allow=allow)
        except Exception as error:  # a bug, not the client's fault: log it, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            self._send_json(500, {"error": f"internal error ({type(error).__name__}); see the server's log"})

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(411, "chunked bodies are not accepted: send a Content-Length")
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            raise ApiError(411, "a POST needs a Content-Length header")
        if not length.strip().isdigit():
            self.close_connection = True
            raise ApiError(400, f"Content-Length must be a non-negative integer, got {length!r}")
        size = int(length)
        if size > self.server.max_body:
            self.close_connection = True  # the body is never read: the connection can't be reused
            raise ApiError(413, f"the body is {size:,} bytes; at most {self.server.max_body:,} are accepted")
        return self.rfile.read(size)

    def _send_json(self, status: int, payload: Any, allow: str | None = None) -> None:
        body = json.dumps(payload, allow_nan=False).encode("utf-8")
        self._send(status, "application/json", body, {"Allow": allow} if allow else {})

    def _send_file(self, path: Path) -> None:
        self._send(200, CONTENT_TYPES[path.suffix], path.read_bytes(), {})

    def _send(self, status: int, content_type: str, body: bytes, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method, headers too long) as JSON too."""
        self.close_connection = True
        code = 405 if code == HTTPStatus.NOT_IMPLEMENTED else code  # an unknown method is the client's error
        text = message or HTTPStatus(code).phrase
        request = f"{getattr(self, 'command', None) or '?'} {getattr(self, 'path', None) or '?'}"
        try:
            self._send_json(code, {"error": f"{text} ({request})"})
        except OSError:
            pass  # the client is gone

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(
    models: Models,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body: int = api.MAX_BODY_BYTES,
    quiet: bool = False,
) -> DigitServer:
    """A server bound to (host, port), not yet serving: call `serve_forever()` (port 0 picks a free port)."""
    return DigitServer((host, port), models, max_body, quiet)

"""The local stub that a quarantined package's endpoints point at: an HTTP server on 127.0.0.1 that accepts
every request (202), answers CONNECT (HTTPS through a proxy) with 403, and reports each request it received:
method, the host the package meant to reach (the first path segment the quarantine put there, or the
proxy request's host) and the path without its query. Bodies are read and dropped, never stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class StubRequest:
    at: float
    method: str
    host: str  # the host the package meant to reach
    path: str
    status: int


class Stub:
    """Verbs: start() -> its base URL, close(). `on_request` is called from the server's threads."""

    def __init__(self, on_request: Callable[[StubRequest], None]) -> None:
        self.on_request = on_request
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def _answer(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                if length:
                    self.rfile.read(length)
                status = 403 if self.command == "CONNECT" else 202
                body = b'{"rehearse": "stub: nothing leaves the machine during a rehearsal"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                stub.on_request(StubRequest(time.time(), self.command, *_target(self.command, self.path,
                                                                                self.headers.get("Host", "")),
                                            status))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_CONNECT = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="rehearse-stub", daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.thread = None


def _target(method: str, path: str, host_header: str) -> tuple[str, str]:
    """(host meant, path without query) of a request: proxy form, CONNECT, or the stub's /host/path form."""
    if method == "CONNECT":
        return path.rsplit(":", 1)[0], ""
    if "://" in path:
        parts = urlsplit(path)
        return parts.hostname or "", parts.path or "/"
    clean = urlsplit(path).path
    first, _, rest = clean.lstrip("/").partition("/")
    if "." in first:
        return first.lower(), "/" + rest
    return host_header.split(":")[0], clean

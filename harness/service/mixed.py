"""Mixed versions: a second instance of the other version beside the running one, and a small loopback proxy
that splits the load between them and says who answered.

The proxy runs in the harness (threads, one per client connection, loopback only). It forwards every request
to the primary instance (the one the timeline swaps), or, while another version runs beside it, to that one
for a share of requests; each response carries X-Rehearse-Served-By: <version>, which the Locust recorder
keeps with the request. When an instance cannot be reached the client's connection is closed without an
answer, as it would be without the proxy (a swap's downtime stays a connection error).
"""

from __future__ import annotations

import http.client
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.core.errors import EnvironmentFailure
from harness.core.processes import free_loopback_port
from harness.load.contract import SERVED_BY_HEADER
from harness.service.health import is_healthy

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}
UPSTREAM_TIMEOUT_S = 60.0


@dataclass
class Upstream:
    host: str
    port: int
    version: str


def _upstream(url: str, version: str) -> Upstream:
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname is None or not (parsed.hostname.startswith("127.") or parsed.hostname == "localhost"):
        raise EnvironmentFailure(f"refusing to proxy to {url}: only loopback (127.0.0.0/8) is allowed")
    return Upstream(parsed.hostname, parsed.port or 80, version)


class MixedProxy:
    """Verbs: url, set_primary(version), add_other(url, version, share), remove_other(), close()."""

    def __init__(self, primary_url: str, primary_version: str) -> None:
        self.primary = _upstream(primary_url, primary_version)
        self.other: Upstream | None = None
        self.share = 0.0
        self.port = free_loopback_port()
        proxy = self

        class Handler(_Forwarder):
            def choose(self) -> Upstream:
                other = proxy.other
                if other is not None and random.random() < proxy.share:
                    return other
                return proxy.primary

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="mixed-proxy", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_primary(self, version: str) -> None:
        self.primary = Upstream(self.primary.host, self.primary.port, version)

    def add_other(self, url: str, version: str, share: float) -> None:
        self.other, self.share = _upstream(url, version), share

    def remove_other(self) -> None:
        self.other, self.share = None, 0.0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _Forwarder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    local = threading.local()

    def choose(self) -> Upstream:
        raise NotImplementedError

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        return

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's names
        self._forward()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        target = self.choose()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        for attempt in (1, 2):  # a kept-alive upstream connection may have been closed meanwhile
            conn, reused = self._connection(target)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._connections().pop((target.host, target.port), None)
                if reused and attempt == 1:
                    continue
                self.close_connection = True  # no answer: the client sees the connection drop
                return
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header(SERVED_BY_HEADER, target.version)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return

    def finish(self) -> None:
        super().finish()
        for conn in self._connections().values():
            conn.close()
        self._connections().clear()

    def _connections(self) -> dict[tuple[str, int], http.client.HTTPConnection]:
        if not hasattr(self.local, "connections"):
            self.local.connections = {}
        return self.local.connections

    def _connection(self, target: Upstream) -> tuple[http.client.HTTPConnection, bool]:
        pool = self._connections()
        key = (target.host, target.port)
        if key in pool:
            return pool[key], True
        pool[key] = http.client.HTTPConnection(target.host, target.port, timeout=UPSTREAM_TIMEOUT_S)
        return pool[key], False


def wait_other_healthy(url: str, failure: Callable[[], str | None], timeout: float) -> float:
    """Poll the instance beside the primary until healthy; fails fast when it exits."""
    started = time.monotonic()
    while not is_healthy(url, timeout=min(1.0, timeout)):
        why = failure()
        if why is not None:
            raise EnvironmentFailure(f"the instance beside the service {why}")
        if time.monotonic() - started > timeout:
            raise EnvironmentFailure(f"the instance beside the service is not healthy at {url} after {timeout:g}s")
        time.sleep(0.05)
    return time.monotonic() - started

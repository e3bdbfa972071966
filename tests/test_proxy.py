"""The blue_green proxy against real processes: it forwards request by request, switches without refusing
anything, drains what is in flight, refuses non-loopback backends, and leaves nothing behind."""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.core.processes import RUN_ID_ENV, OwnedProcess, free_loopback_port, wait_until
from harness.service.health import is_healthy
from harness.service.proxy import Proxy, ProxyError

from .leftovers import processes_of

BACKEND = """
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        body = (os.environ["NAME"] + " " + self.path).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _backend(tmp_path: Path, name: str, run_id: str) -> tuple[OwnedProcess, str]:
    port = free_loopback_port()
    process = OwnedProcess(name, [sys.executable, "-c", BACKEND], tmp_path / f"{name}.log",
                           env={**os.environ, "NAME": name, "PORT": str(port), RUN_ID_ENV: run_id})
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: is_healthy(url + "/"), 20, what=name, alive=process)
    return process, url


def test_switch_and_drain_without_a_refused_request(tmp_path: Path) -> None:
    run_id = f"proxy-test-{os.getpid()}"
    blue, blue_url = _backend(tmp_path, "blue", run_id)
    green, green_url = _backend(tmp_path, "green", run_id)
    proxy = Proxy(free_loopback_port(), tmp_path / "proxy.log", {**os.environ, RUN_ID_ENV: run_id})
    try:
        url = proxy.start()
        proxy.route(blue_url)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)  # one keep-alive connection
        conn.request("GET", "/a?x=1")
        assert conn.getresponse().read() == b"blue /a?x=1"
        slow: list[bytes] = []
        in_flight = threading.Thread(target=lambda: slow.append(_get(url + "/slow")))
        in_flight.start()
        time.sleep(0.2)
        proxy.route(green_url)
        conn.request("GET", "/b")  # the same connection follows the switch
        assert conn.getresponse().read() == b"green /b"
        started = time.monotonic()
        assert proxy.drain(blue_url, 5) == 0
        assert time.monotonic() - started > 0.3, "the drain waited for the slow request"
        in_flight.join(5)
        assert slow == [b"blue /slow"], "the request in flight finished on the old version"
        assert proxy.drain(blue_url, 1) == 0
        with pytest.raises(ProxyError, match="only loopback"):
            proxy.route("http://192.0.2.1:80")  # refused before anything is sent (TEST-NET-1)
        conn.close()
    finally:
        proxy.stop()
        blue.stop()
        green.stop()
    assert processes_of(run_id) == []


def test_a_backend_that_is_gone_is_a_502_naming_it(tmp_path: Path) -> None:
    proxy = Proxy(free_loopback_port(), tmp_path / "proxy.log")
    try:
        proxy.start()
        dead = f"http://127.0.0.1:{free_loopback_port()}"
        proxy.route(dead)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 502 and dead.encode() in response.read()
    finally:
        proxy.stop()
    assert "502 GET / ->" in (tmp_path / "proxy.log").read_text()


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.read()

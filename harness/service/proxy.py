"""The harness's loopback HTTP proxy in front of the service: one URL for the load for the whole run, while
the versions behind it change (blue_green swaps) or share the traffic (mixed versions).

The proxy is a process of its own (python -m harness.service.proxy, aiohttp), started by `Proxy.start`: the
load talks to it, and it forwards request by request (a keep-alive connection of the load follows a switch):
- to the primary backend (`route`: the service; a blue_green swap routes to the new version, requests already
  in flight finish on the old one, `drain` waits until none is left there);
- or, while another backend is `split` in beside it, to that one for a share of the requests.
Every answer carries X-Rehearse-Served-By: <version of the backend that answered>, which the Locust recorder
keeps (requests.csv served_by). When a backend cannot be reached, the client's connection is closed without an
answer, as it would be without the proxy (a restart's downtime stays a refused request); logs/proxy.log says
why. Backends must be on loopback.

Controlled over its stdin/stdout, one JSON object a line: {"verb": "route", "url", "version"},
{"verb": "split", "url", "version", "share"}, {"verb": "unsplit"}, {"verb": "drain", "url", "seconds"}; each
answered by {"done": verb, ...} ({"done": "drain", "left": N}: requests still in flight when it gave up). EOF on
stdin ends it; so does the harness's death (a parent-death signal; the run's registry names it for the watchdog).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.core.child import JsonChild, answer
from harness.core.redaction import redact
from harness.load.contract import SERVED_BY_HEADER

READY_TIMEOUT_S = 20.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade", "host", "content-length"})
RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # safe to resend on a stale connection
LOGGED_FAILURES = 20  # the first ones say why; the load records every one


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.")


class ProxyError(Exception):
    """The proxy did not start or did not answer a command."""


class Proxy(JsonChild):
    """The controller. Verbs: start() -> the URL the load uses, route(url, version), split(url, version, share),
    unsplit(), drain(url, timeout) -> in flight left, stop() (idempotent; kills it if it does not end on EOF)."""

    def __init__(self, port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        super().__init__("proxy", ["-m", "harness.service.proxy", "--port", str(port)], log_path, env, ProxyError)
        self.port = port
        self.backend: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.launch(READY_TIMEOUT_S)
        return self.url

    def route(self, backend: str, version: str) -> None:
        """Send every request from now on (but a split's share) to `backend` (on loopback), tagged `version`."""
        self._loopback(backend)
        self.command({"verb": "route", "url": backend, "version": version}, 10.0)
        self.backend = backend

    def split(self, backend: str, version: str, share: float) -> None:
        """Send `share` of the requests from now on to `backend` (on loopback), tagged `version`."""
        self._loopback(backend)
        self.command({"verb": "split", "url": backend, "version": version, "share": share}, 10.0)

    def unsplit(self) -> None:
        """Send every request to the primary backend again."""
        self.command({"verb": "unsplit"}, 10.0)

    def drain(self, backend: str, timeout_s: float) -> int:
        """Wait until no request is in flight to `backend` (at most `timeout_s`); returns how many still are."""
        return int(self.command({"verb": "drain", "url": backend, "seconds": timeout_s}, timeout_s + 10.0)["left"])

    @staticmethod
    def _loopback(backend: str) -> None:
        if not is_loopback(backend):
            raise ProxyError(f"refusing to proxy to {backend}: only loopback (127.0.0.0/8) is allowed")


# ---------------------------------------------------------------- the proxy process (aiohttp)

@dataclass(frozen=True)
class Backend:
    url: str
    version: str


class _Routes:
    def __init__(self) -> None:
        self.primary: Backend | None = None
        self.other: Backend | None = None
        self.share = 0.0
        self.inflight: Counter[str] = Counter()
        self.sessions: dict[str, Any] = {}
        self.changed = asyncio.Event()
        self.failures = 0

    def choose(self) -> Backend | None:
        other = self.other
        if other is not None and random.random() < self.share:  # noqa: S311 - a load split, not a secret
            return other
        return self.primary

    def session(self, backend: str) -> Any:
        import aiohttp

        if backend not in self.sessions:
            self.sessions[backend] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=5), auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        return self.sessions[backend]

    async def forget(self, backend: str) -> None:
        session = self.sessions.pop(backend, None)
        if session is not None:
            await session.close()


def _say(line: str) -> None:
    print(redact(line), file=sys.stderr, flush=True)


async def _forward(routes: _Routes, request: Any) -> Any:
    import aiohttp
    from aiohttp import web
    from yarl import URL

    backend = routes.choose()
    if backend is None:
        return web.Response(status=503, text="rehearse proxy: no backend routed yet")
    routes.inflight[backend.url] += 1
    try:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        target = URL(backend.url + request.raw_path, encoded=True)
        for attempt in (1, 2):
            try:
                async with routes.session(backend.url).request(request.method, target, headers=headers,
                                                               data=body or None, allow_redirects=False) as response:
                    payload = await response.read()
                    out = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
                    out.append((SERVED_BY_HEADER, backend.version))
                    return web.Response(status=response.status, body=payload, headers=out)
            except aiohttp.ServerDisconnectedError:
                if attempt == 2 or request.method not in RETRYABLE:  # a stale keep-alive connection: once more
                    raise
        raise AssertionError("unreachable")
    except (aiohttp.ClientError, OSError) as exc:
        routes.failures += 1
        if routes.failures <= LOGGED_FAILURES:
            _say(f"{time.strftime('%H:%M:%S')} no answer for {request.method} {request.raw_path}: {backend.url} "
                 f"({backend.version}) failed: {type(exc).__name__}: {exc}; the client's connection is closed")
        if request.transport is not None:  # no answer at all, as without the proxy: the load sees a refusal
            request.transport.abort()
        return web.Response(status=502)  # never sent: the connection is gone
    finally:
        routes.inflight[backend.url] -= 1
        routes.changed.set()


async def _drain(routes: _Routes, backend: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while routes.inflight[backend] > 0 and time.monotonic() < deadline:
        routes.changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(routes.changed.wait(), max(0.01, deadline - time.monotonic()))
    left = routes.inflight[backend]
    if left == 0 and backend not in {b.url for b in (routes.primary, routes.other) if b is not None}:
        await routes.forget(backend)
    return left


async def _command(routes: _Routes, line: str) -> None:
    try:
        command = json.loads(line)
        verb = command["verb"]
        if verb in ("route", "split"):
            url = str(command["url"]).rstrip("/")
            if not is_loopback(url):
                raise ValueError(f"{url} is not on loopback")
            backend = Backend(url, str(command["version"]))
            if verb == "route":
                routes.primary = backend
            else:
                routes.other, routes.share = backend, float(command["share"])
            answer(done=verb, url=url)
        elif verb == "unsplit":
            routes.other, routes.share = None, 0.0
            answer(done=verb)
        elif verb == "drain":
            url = str(command["url"]).rstrip("/")
            answer(done=verb, url=url, left=await _drain(routes, url, float(command["seconds"])))
        else:
            raise ValueError(f"unknown verb {verb!r}")
    except (ValueError, KeyError, TypeError) as exc:
        _say(f"bad command {line.strip()!r}: {exc}")


async def _serve(port: int) -> None:
    from aiohttp import web

    routes = _Routes()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _forward(routes, request)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    answer(done="listening", port=port)
    try:
        while line := (await commands.readline()).decode():
            if line.strip():
                await _command(routes, line)
    finally:
        await runner.cleanup()
        for backend in list(routes.sessions):
            await routes.forget(backend)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="rehearse's loopback proxy (controlled on stdin)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()

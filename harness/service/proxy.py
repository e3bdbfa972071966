"""A small HTTP proxy on loopback in front of the service, so that blue_green swaps never change its URL.

The proxy is a process of its own (python -m harness.service.proxy), started by `Proxy.start` for the whole
run: the load talks to it, it forwards each request to the backend it routes to now. A swap starts the new
version beside the old one, `route`s to it (requests already in flight finish on the old one), `drain`s the
old one (waits until nothing is in flight there), then stops it. It forwards request by request, so a
keep-alive connection of the load follows the switch. Backends must be on loopback. Controlled over its
stdin/stdout, one line per command: `route URL` -> `routed URL`; `drain URL SECONDS` -> `drained URL N` (N:
requests still in flight when it gave up); EOF on stdin ends it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 20.0
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                        "transfer-encoding", "upgrade", "host", "content-length"})
RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # safe to resend on a stale connection


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.")


class ProxyError(Exception):
    """The proxy did not start or did not answer a command."""


class Proxy:
    """The controller. Verbs: start() -> the URL the load uses, route(url), drain(url, timeout) -> in flight
    left, stop() (idempotent; also kills it if it does not end on EOF)."""

    def __init__(self, port: int, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port, self.log_path = port, log_path
        self.env = dict(env if env is not None else os.environ)
        self.popen: subprocess.Popen[str] | None = None
        self.backend: str | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = self.env | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), self.env.get("PYTHONPATH")]))}
        self.popen = subprocess.Popen([sys.executable, "-m", "harness.service.proxy", "--port", str(self.port)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                      bufsize=1, env=env, cwd=REPO_ROOT, start_new_session=True)
        self._expect("listening", READY_TIMEOUT_S)
        return self.url

    def route(self, backend: str) -> None:
        """Send every request from now on to `backend` (on loopback)."""
        if not is_loopback(backend):
            raise ProxyError(f"refusing to proxy to {backend}: only loopback (127.0.0.0/8) is allowed")
        self._send(f"route {backend}")
        self._expect("routed", 10.0)
        self.backend = backend

    def drain(self, backend: str, timeout_s: float) -> int:
        """Wait until no request is in flight to `backend` (at most `timeout_s`); returns how many still are."""
        self._send(f"drain {backend} {timeout_s:g}")
        return int(self._expect("drained", timeout_s + 10.0).split()[-1])

    def stop(self) -> None:
        popen, self.popen = self.popen, None
        if popen is not None:
            with contextlib.suppress(OSError):
                if popen.stdin is not None:
                    popen.stdin.close()
            try:
                popen.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(5)
            if popen.stdout is not None:
                popen.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _send(self, line: str) -> None:
        if self.popen is None or self.popen.stdin is None or self.popen.poll() is not None:
            raise ProxyError(f"the proxy is not running{self._tail()}")
        try:
            self.popen.stdin.write(line + "\n")
            self.popen.stdin.flush()
        except OSError as exc:
            raise ProxyError(f"the proxy stopped listening ({exc.strerror or exc}){self._tail()}") from None

    def _expect(self, word: str, timeout_s: float) -> str:
        assert self.popen is not None and self.popen.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.popen.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.popen.stdout.readline()
            if not line:
                raise ProxyError(f"the proxy exited with code {self.popen.wait()}{self._tail()}")
            if line.startswith(word):
                return line.strip()
        raise ProxyError(f"the proxy did not answer within {timeout_s:g}s{self._tail()}")

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f": {' | '.join(lines[-3:])}" if lines else ""


# ---------------------------------------------------------------- the proxy process (aiohttp, stdlib)

class _Routes:
    def __init__(self) -> None:
        self.current: str | None = None
        self.inflight: Counter[str] = Counter()
        self.sessions: dict[str, Any] = {}
        self.changed = asyncio.Event()
        self.failures = 0

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


async def _forward(routes: _Routes, request: Any) -> Any:
    import aiohttp
    from aiohttp import web
    from yarl import URL

    backend = routes.current
    if backend is None:
        return web.Response(status=503, text="rehearse proxy: no backend routed yet")
    routes.inflight[backend] += 1
    try:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        target = URL(backend + request.raw_path, encoded=True)
        for attempt in (1, 2):
            try:
                async with routes.session(backend).request(request.method, target, headers=headers,
                                                           data=body or None, allow_redirects=False) as response:
                    payload = await response.read()
                    out = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
                    return web.Response(status=response.status, body=payload, headers=out)
            except aiohttp.ServerDisconnectedError:
                if attempt == 2 or request.method not in RETRYABLE:  # a stale keep-alive connection: once more
                    raise
        raise AssertionError("unreachable")
    except (aiohttp.ClientError, OSError) as exc:
        routes.failures += 1
        if routes.failures <= 20:  # the first ones say why; the load records every one
            print(f"502 {request.method} {request.raw_path} -> {backend}: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)
        return web.Response(status=502, text=f"rehearse proxy: {backend} failed: {type(exc).__name__}: {exc}")
    finally:
        routes.inflight[backend] -= 1
        routes.changed.set()


async def _drain(routes: _Routes, backend: str, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while routes.inflight[backend] > 0 and time.monotonic() < deadline:
        routes.changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(routes.changed.wait(), max(0.01, deadline - time.monotonic()))
    left = routes.inflight[backend]
    if left == 0:
        await routes.forget(backend)
    return left


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
    print(f"listening {port}", flush=True)
    try:
        while line := (await commands.readline()).decode().strip():
            verb, *args = line.split()
            if verb == "route" and args and is_loopback(args[0]):
                routes.current = args[0].rstrip("/")
                print(f"routed {routes.current}", flush=True)
            elif verb == "drain" and len(args) == 2:
                left = await _drain(routes, args[0].rstrip("/"), float(args[1]))
                print(f"drained {args[0]} {left}", flush=True)
            else:
                print(f"error unknown command {line!r}", file=sys.stderr, flush=True)
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

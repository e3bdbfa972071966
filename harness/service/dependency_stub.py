"""Loopback stubs of the third-party APIs the service calls (plan [[dependencies]]), with faults to inject.

One process of its own (python -m harness.service.dependency_stub, aiohttp) serves every dependency, each on
127.0.0.1 ports it picks: one port per version of the service, so that every call says which version made it
(`served_by`) whatever path the service calls. The harness passes each version its port's URL in the
dependency's environment variable (`with_urls`). Every call is streamed, as it is answered, to
streams/dependency_calls.jsonl (records.run.DependencyCall); so is every change of how a stub answers
(records.run.DependencySettings): the plan's defaults at the start, each `dependency` action of the timeline,
an action's end after its `seconds`.

How a stub answers a call: it reads and drops the body, waits `latency_ms`, then answers 200 with a small JSON
body, or `status` for a share `error_rate` of the calls (each call drawn on its own; with `error_burst_ms`, time
is cut in windows of that length and each window fails whole with that probability: a brownout, which retries
without backoff run into); during an `outage` it closes the connection without an answer.

Controlled over its stdin/stdout like the proxy (core.child): {"verb": "set", "name", settings..., "seconds"}
answered by {"done": "set"}. EOF on stdin ends it; so does the harness's death.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.core.child import JsonChild, answer
from harness.core.streams import JsonLines
from harness.plan import Dependency, Plan, StubSettings
from harness.records.run import DependencyCall, DependencySettings

READY_TIMEOUT_S = 20.0
MAX_BODY = 1 << 20
MAX_CORRELATION = 200  # characters of a correlation id kept


class StubError(Exception):
    """The dependency stubs did not start or did not answer a command."""


class DependencyStubs(JsonChild):
    """The controller. Verbs: start() -> {(dependency, version): base URL}, with_urls(plan) -> the plan whose
    releases carry their stub URLs, set(name, settings, seconds), stop()."""

    def __init__(self, dependencies: tuple[Dependency, ...], versions: list[str], stream: Path, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        config = {"dependencies": [{"name": d.name, "settings": asdict(d.settings),
                                    "correlation_header": d.correlation_header, "attempt_header": d.attempt_header}
                                   for d in dependencies], "versions": versions}
        super().__init__("dependency stubs", ["-m", "harness.service.dependency_stub", "--stream", str(stream),
                                              "--config", json.dumps(config)], log_path, env, StubError)
        self.dependencies = {d.name: d for d in dependencies}
        self.urls: dict[tuple[str, str], str] = {}

    def start(self) -> dict[tuple[str, str], str]:
        ports = self.launch(READY_TIMEOUT_S)["ports"]
        self.urls = {(name, version): f"http://127.0.0.1:{port}" for name, by_version in ports.items()
                     for version, port in by_version.items()}
        return self.urls

    def with_urls(self, plan: Plan) -> Plan:
        """`plan` with each release's environment carrying its stubs' URLs (over a package manifest's values)."""
        releases = {version: replace(release, env=release.env | {
            dependency.env: self.urls[(dependency.name, version)] for dependency in self.dependencies.values()})
            for version, release in plan.releases.items()}
        return replace(plan, releases=releases)

    def set(self, name: str, settings: StubSettings, seconds: float | None = None) -> None:
        """From now on, stub `name` answers as `settings` says (for `seconds`, then as the plan says again)."""
        self.command({"verb": "set", "name": name, "settings": asdict(settings), "seconds": seconds}, 10.0)


def start_stubs(plan: Plan, stream: Path, log_path: Path, env: dict[str, str]) -> tuple[DependencyStubs | None, Plan]:
    """The run's stubs (None when the plan declares no dependency) and the plan that points the service at them."""
    if not plan.dependencies:
        return None, plan
    stubs = DependencyStubs(plan.dependencies, list(plan.releases), stream, log_path, env)
    try:
        stubs.start()
    except BaseException:
        stubs.stop()
        raise
    return stubs, stubs.with_urls(plan)


# ---------------------------------------------------------------- the stub process (aiohttp)

@dataclass
class _Stub:
    name: str
    defaults: StubSettings
    correlation_header: str
    attempt_header: str
    settings: StubSettings
    window: tuple[int, bool] = (-1, False)  # error_burst_ms: the current window and whether it fails
    expiry: asyncio.TimerHandle | None = None

    def failing(self, at: float) -> bool:
        settings = self.settings
        if settings.error_rate <= 0:
            return False
        if settings.error_burst_ms <= 0:
            return random.random() < settings.error_rate  # noqa: S311 - a fault, not a secret
        window = int(at * 1000 // settings.error_burst_ms)
        if window != self.window[0]:
            self.window = (window, random.random() < settings.error_rate)  # noqa: S311
        return self.window[1]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _settings_row(stub: _Stub, source: str, until: float | None = None) -> dict[str, Any]:
    s = stub.settings
    return DependencySettings(stub.name, time.time(), s.latency_ms, s.error_rate, s.status, s.error_burst_ms,
                              s.outage, source, until).row()


async def _call(stub: _Stub, version: str, stream: JsonLines, request: Any) -> Any:
    from aiohttp import web

    at, started = time.time(), time.monotonic()
    settings = stub.settings
    attempt_text = request.headers.get(stub.attempt_header, "")
    correlation = request.headers.get(stub.correlation_header)
    call = DependencyCall(stub.name, version, at, request.method, urlsplit(request.raw_path).path or "/", 0, 0.0,
                          attempt=int(attempt_text) if attempt_text.strip().isdigit() else None,
                          correlation=correlation[:MAX_CORRELATION] if correlation else None)
    try:
        await request.read()  # dropped; client_max_size bounds it
        if settings.outage:
            call.fault = "outage"
            if request.transport is not None:  # no answer at all: the caller sees its connection closed
                request.transport.abort()
            return web.Response(status=503)  # never sent
        failing = stub.failing(at)
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        if failing:
            call.fault, call.status = "error", settings.status
            return web.json_response({"error": f"rehearse: injected {settings.status} from {stub.name}"},
                                     status=settings.status)
        call.status = 200
        return web.json_response({"ok": True, "dependency": stub.name, "correlation": call.correlation})
    finally:
        call.latency_ms = (time.monotonic() - started) * 1000
        stream.write(call.row())


def _set(stubs: dict[str, _Stub], stream: JsonLines, command: dict[str, Any]) -> None:
    stub = stubs[str(command["name"])]
    if stub.expiry is not None:
        stub.expiry.cancel()
        stub.expiry = None
    stub.settings = StubSettings(**command["settings"])
    stub.window = (-1, False)
    seconds = command.get("seconds")
    until = None
    if seconds is not None:
        until = time.time() + float(seconds)

        def expire() -> None:
            stub.settings, stub.expiry, stub.window = stub.defaults, None, (-1, False)
            stream.write(_settings_row(stub, "expired"))

        stub.expiry = asyncio.get_running_loop().call_later(float(seconds), expire)
    stream.write(_settings_row(stub, "action", until))


async def _serve(stream_path: Path, config: dict[str, Any]) -> None:
    from aiohttp import web

    stream = JsonLines(stream_path)
    stubs = {d["name"]: _Stub(d["name"], StubSettings(**d["settings"]), d["correlation_header"], d["attempt_header"],
                              StubSettings(**d["settings"])) for d in config["dependencies"]}
    runners: list[web.AppRunner] = []
    ports: dict[str, dict[str, int]] = {}
    for stub in stubs.values():
        for version in config["versions"]:
            async def handle(request: web.Request, stub: _Stub = stub, version: str = version) -> web.StreamResponse:
                return await _call(stub, version, stream, request)

            app = web.Application(client_max_size=MAX_BODY)
            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            runners.append(runner)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            await web.SockSite(runner, sock, backlog=1024).start()
            ports.setdefault(stub.name, {})[version] = int(sock.getsockname()[1])
        stream.write(_settings_row(stub, "plan"))
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    answer(done="listening", ports=ports)
    try:
        while line := (await commands.readline()).decode():
            if not line.strip():
                continue
            try:
                command = json.loads(line)
                if command.get("verb") != "set":
                    raise ValueError(f"unknown verb {command.get('verb')!r}")
                _set(stubs, stream, command)
                answer(done="set", name=command["name"])
            except (ValueError, KeyError, TypeError) as exc:
                _say(f"bad command {line.strip()!r}: {exc}")
    finally:
        for runner in runners:
            await runner.cleanup()
        stream.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="rehearse's dependency stubs (controlled on stdin)")
    parser.add_argument("--stream", type=Path, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(_serve(args.stream, json.loads(args.config)))


if __name__ == "__main__":
    main()

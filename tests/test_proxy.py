"""The run's one loopback proxy against real processes: it forwards request by request, switches without
refusing anything, drains what is in flight, splits a share to another version, tags every answer with the
version that served it, closes the connection when a backend is gone, refuses non-loopback backends, is noted in
the run's registry and dies with the harness; ServiceControl runs a blue_green swap and a mixed-versions window
through that one proxy."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.core import ownership
from harness.core.processes import RUN_ID_ENV, OwnedProcess, free_loopback_port, wait_until
from harness.environments.local import LocalEnvironment
from harness.load.contract import SERVED_BY_HEADER
from harness.plan import load_plan
from harness.service.health import is_healthy
from harness.service.proxy import Proxy, ProxyError
from harness.service.swap import ServiceControl

from .conftest import REPO
from .leftovers import processes_of

BACKEND = """
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        body = (os.environ.get("NAME") or os.environ["REHEARSE_VERSION"]) + " " + self.path
        body = body.encode()
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


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[bytes, str | None]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.read(), response.getheader(SERVED_BY_HEADER)


def test_switch_and_drain_without_a_refused_request(tmp_path: Path) -> None:
    run_id = f"proxy-test-{os.getpid()}"
    blue, blue_url = _backend(tmp_path, "blue", run_id)
    green, green_url = _backend(tmp_path, "green", run_id)
    proxy = Proxy(free_loopback_port(), tmp_path / "proxy.log", {**os.environ, RUN_ID_ENV: run_id})
    try:
        url = proxy.start()
        proxy.route(blue_url, "1.0")
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)  # one keep-alive connection
        assert _get(conn, "/a?x=1") == (b"blue /a?x=1", "1.0")
        slow: list[bytes] = []
        in_flight = threading.Thread(target=lambda: slow.append(_fetch(url + "/slow")))
        in_flight.start()
        time.sleep(0.2)
        proxy.route(green_url, "2.0")
        assert _get(conn, "/b") == (b"green /b", "2.0"), "the same connection follows the switch"
        started = time.monotonic()
        assert proxy.drain(blue_url, 5) == 0
        assert time.monotonic() - started > 0.3, "the drain waited for the slow request"
        in_flight.join(5)
        assert slow == [b"blue /slow"], "the request in flight finished on the old version"
        assert proxy.drain(blue_url, 1) == 0
        with pytest.raises(ProxyError, match="only loopback"):
            proxy.route("http://192.0.2.1:80", "x")  # refused before anything is sent (TEST-NET-1)
        conn.close()
    finally:
        proxy.stop()
        blue.stop()
        green.stop()
    assert processes_of(run_id) == []


def test_a_split_sends_a_share_to_the_other_version_and_tags_each_answer(tmp_path: Path) -> None:
    run_id = f"proxy-split-{os.getpid()}"
    blue, blue_url = _backend(tmp_path, "blue", run_id)
    green, green_url = _backend(tmp_path, "green", run_id)
    proxy = Proxy(free_loopback_port(), tmp_path / "proxy.log", {**os.environ, RUN_ID_ENV: run_id})
    try:
        proxy.start()
        proxy.route(blue_url, "1.0")
        proxy.split(green_url, "2.0", 0.3)
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        answers = [_get(conn, f"/{i}") for i in range(400)]
        served = Counter(tag for _, tag in answers)
        assert set(served) == {"1.0", "2.0"} and 70 <= served["2.0"] <= 170, served  # 120 expected, +-5 sigma
        assert all(body.startswith(b"green" if tag == "2.0" else b"blue") for body, tag in answers), \
            "the tag names the backend that answered"
        proxy.unsplit()
        assert {_get(conn, "/after")[1] for _ in range(50)} == {"1.0"}
        conn.close()
    finally:
        proxy.stop()
        blue.stop()
        green.stop()
    assert processes_of(run_id) == []


def test_a_backend_that_is_gone_gets_no_answer_and_the_log_says_why(tmp_path: Path) -> None:
    proxy = Proxy(free_loopback_port(), tmp_path / "proxy.log")
    try:
        proxy.start()
        dead = f"http://127.0.0.1:{free_loopback_port()}"
        proxy.route(dead, "1.0")
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            _get(conn, "/?token=planted-secret-d41d8c")  # as without the proxy: a refused request, no status
    finally:
        proxy.stop()
    log = (tmp_path / "proxy.log").read_text()
    assert "no answer for GET /?token=" in log and dead in log and "connection is closed" in log


def test_the_proxy_is_in_the_run_registry_and_dies_with_the_harness(tmp_path: Path) -> None:
    run_id = f"proxy-registry-{os.getpid()}"
    registry = ownership.RunRegistry(run_id, tmp_path)
    proxy = Proxy(free_loopback_port(), tmp_path / "proxy.log", {**os.environ, RUN_ID_ENV: run_id})
    try:
        with ownership.active(registry):
            proxy.start()
            assert proxy.popen is not None
            assert [p.name for p in registry.record.processes] == ["proxy"]
            assert registry.record.processes[0].pid == proxy.popen.pid
            proxy.stop()
            assert registry.record.processes == []
    finally:
        proxy.stop()
        registry.close()
    # A harness killed with SIGKILL: the kernel's parent-death signal stops its proxy.
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from harness.service.proxy import Proxy
        proxy = Proxy({free_loopback_port()}, Path({str(tmp_path / 'killed.log')!r}))
        proxy.start()
        print(proxy.popen.pid, flush=True)
        time.sleep(60)
    """)
    harness = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, RUN_ID_ENV: f"{run_id}-killed"})
    assert harness.stdout is not None
    proxy_pid = int(harness.stdout.readline())
    assert proxy_pid in processes_of(f"{run_id}-killed")
    harness.send_signal(signal.SIGKILL)
    harness.wait(10)
    wait_until(lambda: processes_of(f"{run_id}-killed") == [], 10, what="the proxy to die with its harness")


@pytest.mark.slow
def test_one_proxy_runs_a_blue_green_swap_and_a_mixed_versions_window(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario"
    for version in ("1", "2"):
        (scenario / "releases" / version).mkdir(parents=True)
        (scenario / "releases" / version / "app.py").write_text(BACKEND)
    (scenario / "locustfile.py").write_text("from locust import HttpUser\n\n\nclass Nobody(HttpUser):\n    pass\n")
    (scenario / "rehearsal.toml").write_text(textwrap.dedent("""
        [scenario]
        name = "proxy-control"
        [environment]
        kind = "local"
        [versions]
        from = "1"
        to = "2"
        [service]
        command = ["{python}", "app.py"]
        health_path = "/health"
        swap = "blue_green"
        env = { LISTEN = "127.0.0.1:{port}" }
        [releases."1"]
        [releases."2"]
        upgrades_from = "1"
        health_path = false
        [load]
        locustfile = "locustfile.py"
    """))
    plan = load_plan(scenario)
    run_id = f"proxy-control-{os.getpid()}"
    env = LocalEnvironment(plan, tmp_path / "run", run_id)
    control = ServiceControl(env, plan, Proxy(free_loopback_port(), tmp_path / "run" / "proxy.log",
                                              {**os.environ, RUN_ID_ENV: run_id}))
    refused: list[str] = []
    tags: Counter[str] = Counter()
    stop = threading.Event()

    def load(url: str) -> None:
        conn = http.client.HTTPConnection(url.removeprefix("http://").split(":")[0], int(url.rsplit(":", 1)[1]),
                                          timeout=10)
        while not stop.is_set():
            try:
                _, tag = _get(conn, "/x")
                tags[tag or "-"] += 1
            except (OSError, http.client.HTTPException) as exc:
                refused.append(type(exc).__name__)
                conn.close()

    try:
        env.start_database()
        url = control.start(plan.releases["1"])
        assert url == control.service_url and url.startswith("http://127.0.0.1:")
        worker = threading.Thread(target=load, args=(url,))
        worker.start()
        control.start_other(plan.releases["2"], 0.5)  # mixed versions: 2 beside 1
        time.sleep(0.5)
        assert tags["1"] > 0 and tags["2"] > 0, tags
        assert control.stop_other() == "2"
        swap = control.swap(plan.releases["1"], plan.releases["2"], "upgrade")  # blue_green: 1 -> 2
        assert swap.strategy == "blue_green" and swap.downtime_s == 0
        before = tags["2"]
        time.sleep(0.5)
        stop.set()
        worker.join(10)
        assert tags["2"] > before and refused == [], (tags, refused)
        assert control.service_failure() is None
        environ = control.service_environ() or {}
        assert environ.get("REHEARSE_VERSION") == "2", environ
        assert environ.get("PORT") == "{port}" and environ.get("LISTEN") == "127.0.0.1:{port}", "no instance's port"
    finally:
        stop.set()
        control.close()
        env.close()
    assert processes_of(run_id) == [], "the proxy and every instance are gone"


def _fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        return response.read()

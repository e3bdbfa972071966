"""Dependency stubs for real: the stub process on its own (a port per version, injected errors and outages, every
call streamed, noted in the run's registry, gone after stop), and a rehearsal of the shop from 1.0 to 2.1 against
its payments stub, where 2.x's retries without backoff show in the figures per version and an outage is injected
from the timeline."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.core import ownership
from harness.core.streams import read_json_lines
from harness.plan import Dependency, StubSettings
from harness.records.summary import contract_problems
from harness.service.dependency_stub import DependencyStubs

from .conftest import REPO

SCENARIO = REPO / "tests" / "scenarios" / "shop_dependencies"


def _post(url: str, headers: dict[str, str]) -> int | None:
    """The status of a POST to `url`, None when the connection closed without an answer."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("POST", "/v1/charges?card=4242", body=b'{"amount": 1}', headers=headers)
        return conn.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionResetError):
        return None
    finally:
        conn.close()


def test_the_stub_process_answers_per_version_injects_faults_and_streams_every_call(tmp_path: Path) -> None:
    payments = Dependency("payments", "PAYMENT_API_URL", StubSettings(latency_ms=5, error_rate=1.0, status=502))
    stream = tmp_path / "streams" / "dependency_calls.jsonl"
    registry = ownership.RunRegistry(f"deps-test-{os.getpid()}", tmp_path)
    stubs = DependencyStubs((payments,), ["1.0", "2.0"], stream, tmp_path / "stub.log")
    try:
        with ownership.active(registry):
            urls = stubs.start()
            assert stubs.popen is not None
            assert [p.pid for p in registry.record.processes] == [stubs.popen.pid]
        assert set(urls) == {("payments", "1.0"), ("payments", "2.0")}
        assert all(url.startswith("http://127.0.0.1:") for url in urls.values())
        old, new = urls[("payments", "1.0")], urls[("payments", "2.0")]
        assert _post(old, {"Idempotency-Key": "order-1", "X-Attempt": "1"}) == 502
        stubs.set("payments", StubSettings(), seconds=None)
        assert _post(new, {"Idempotency-Key": "order-1", "X-Attempt": "2"}) == 200
        stubs.set("payments", StubSettings(outage=True), seconds=30)
        assert _post(new, {}) is None
    finally:
        stubs.stop()
        registry.close()
    assert stubs.popen is None
    rows = read_json_lines(stream)
    calls = [r for r in rows if r["kind"] == "call"]
    assert [(c["served_by"], c["status"], c["attempt"], c["correlation"], c["fault"], c["path"]) for c in calls] == [
        ("1.0", 502, 1, "order-1", "error", "/v1/charges"), ("2.0", 200, 2, "order-1", None, "/v1/charges"),
        ("2.0", 0, None, None, "outage", "/v1/charges")]
    assert calls[0]["latency_ms"] >= 5
    settings = [(r["source"], r["outage"], r["until"] is not None) for r in rows if r["kind"] == "settings"]
    assert settings == [("plan", False, False), ("action", False, False), ("action", True, True)]


@pytest.fixture(scope="module")
def dependency_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("deps")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(SCENARIO), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return result, run_dir


def _summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


def _first_backoffs_ms(run_dir: Path) -> dict[str, list[float]]:
    """Per calling version, the gap from each upstream request's first answer to its second attempt."""
    calls = [r for r in read_json_lines(run_dir / "streams" / "dependency_calls.jsonl") if r["kind"] == "call"]
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for call in sorted(calls, key=lambda c: c["at"]):
        by_key.setdefault((call["served_by"], call["correlation"]), []).append(call)
    gaps: dict[str, list[float]] = {"1.0": [], "2.1": []}
    for (version, _), attempts in by_key.items():
        if len(attempts) > 1 and version in gaps:
            answered = attempts[0]["at"] + attempts[0]["latency_ms"] / 1000
            gaps[version].append((attempts[1]["at"] - answered) * 1000)
    return gaps


def test_the_new_backoff_shows_as_a_retry_shift_per_version(dependency_run) -> None:
    result, run_dir = dependency_run
    summary = _summary(run_dir)
    assert contract_problems(summary) == []
    rows = {(d["phase"], d["served_by"]): d for d in summary["dependencies"]}
    old, new = rows[("baseline", "1.0")], rows[("post_upgrade", "2.1")]
    assert old["retries"] > 0 and new["retries"] > 0, (old, new)
    assert old["backoff_p50_ms"] >= 40, "1.0 waits 50 ms, then 100 ms, after a failed charge"
    assert old["max_attempts"] <= 3 < new["max_attempts"] <= 9
    # the first backoff of each version, from the calls themselves (the percentiles of a few seconds' backoffs
    # move with how deep the brownouts drove 2.x's doubling; the retry rates of so few calls, too)
    first = _first_backoffs_ms(run_dir)
    assert first["1.0"] and min(first["1.0"]) >= 40, "1.0 waits 50 ms first"
    assert first["2.1"] and sorted(first["2.1"])[len(first["2.1"]) // 2] < 25, "2.x waits 10 ms first"
    gates = {g["name"]: g for g in summary["gates"]}
    assert gates["retry_rate[baseline,dependency=payments] <= 5"]["passed"]
    assert not gates["retry_rate[post_upgrade] <= 0.3"]["passed"]
    assert result.returncode == 1, result.stdout + result.stderr
    markdown = (run_dir / "summary.md").read_text()
    assert "## Dependencies" in markdown and "| payments | post_upgrade | 2.1 |" in markdown


def test_every_call_carries_its_order_and_attempt_and_the_outage_is_recorded(dependency_run) -> None:
    _, run_dir = dependency_run
    rows = read_json_lines(run_dir / "streams" / "dependency_calls.jsonl")
    calls = [r for r in rows if r["kind"] == "call"]
    assert calls and all(c["correlation"].startswith("order-") and c["attempt"] >= 1 for c in calls)
    settings = _summary(run_dir)["dependency_settings"]
    assert [(s["source"], s["outage"], s["phase"]) for s in settings] == [
        ("plan", False, "warmup"), ("action", True, "outage"), ("expired", False, "outage")]
    began, ended = settings[1]["at"], settings[2]["at"]
    assert ended - began == pytest.approx(1.5, abs=0.3)
    during = [c for c in calls if began <= c["at"] < ended - 0.05]
    assert during and all(c["status"] == 0 and c["fault"] == "outage" for c in during)
    orders = [e for e in _summary(run_dir)["endpoints"] if e["phase"] == "outage" and e["name"] == "/orders"]
    assert orders[0]["requests"] > 0 and orders[0]["errors"] == 0, "an order whose charge failed stays placed"

"""End to end: the shop scenario rehearsed for real (small data, short phases), and teardown in every case."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.plan import PHASE_NAMES
from harness.records.summary import contract_problems
from harness.verify.reasons import CHECKS

from .conftest import REPO
from .leftovers import postgres_temp_dirs, processes_of, wait_for_phase
from .unit.test_report_pages import data_paths, svgs

SMALL = ["--env", "local", "--set", "seed.rows=200000", "--set", "phases.baseline_s=3",
         "--set", "phases.post_upgrade_s=3", "--set", "phases.post_rollback_s=3",
         "--set", "observe.lock_sample_interval_ms=20", "--set", "load.users=20", "--set", "load.spawn_rate=20"]


def _rehearse(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "scenarios/shop", "--out", str(out),
                             *SMALL, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run_dir(out: Path) -> Path:
    (run_dir,) = out.iterdir()
    return run_dir


@pytest.fixture(scope="module")
def shop_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("reports")
    proc = _rehearse(out)
    stdout, stderr = proc.communicate(timeout=240)
    run_dir = _run_dir(out)
    assert processes_of(run_dir.name) == [], "a process of the run outlived it"
    assert postgres_temp_dirs(run_dir.name) == [], "the run left its PostgreSQL temp dir behind"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), run_dir


@pytest.mark.slow
def test_summary_has_five_phases_with_traffic_in_each(shop_run) -> None:
    result, run_dir = shop_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert contract_problems(summary) == [], "summary.json follows its contract (harness/records/summary.py)"
    assert [p["name"] for p in summary["phases"]] == list(PHASE_NAMES)
    for phase in summary["phases"]:
        assert phase["requests"] > 20, phase
        assert phase["p99_ms"] is not None
    assert summary["environment"] == "local"
    assert {"requests", "locks", "statements", "phases"} <= set(summary["artifacts"])
    requests = pd.read_parquet(run_dir / "requests.parquet")
    assert set(PHASE_NAMES) <= set(requests["phase"])
    assert len(requests) >= sum(p["requests"] for p in summary["phases"])
    assert f"report: {run_dir / 'summary.md'}" in result.stdout


@pytest.mark.slow
def test_lock_waits_are_attributed_to_the_2_0_statements(shop_run) -> None:
    _, run_dir = shop_run
    summary = json.loads((run_dir / "summary.json").read_text())
    upgrade = [s for s in summary["statements"] if s["phase"] == "upgrade"]
    assert [s["version"] for s in upgrade] == ["2.0"] * len(upgrade)
    # one transaction: ADD COLUMN takes ACCESS EXCLUSIVE on orders and holds it through the backfill to COMMIT;
    # the requests that queue during the backfill wait for that lock: they are the ADD COLUMN's
    add_column = next(s for s in upgrade if s["sql"] == "ALTER TABLE orders ADD COLUMN currency text")
    backfill = next(s for s in upgrade if s["sql"].startswith("UPDATE orders SET currency"))
    assert add_column["blocked_backends"] >= 1 and add_column["max_wait_ms"] > 100
    assert add_column["blocked_requests"] >= 1 and add_column["blamed_waits"] >= 1
    assert add_column["held_ms"] > backfill["duration_ms"], "held to COMMIT, past the backfill"
    assert summary["lock_waits"]["count"] >= 1 and summary["lock_waits"]["max_ms"] > 100
    chain = summary["lock_waits"]["longest_chain"]
    assert chain[0]["role"] == "root blocker" and len(chain) >= 2
    locks = pd.read_parquet(run_dir / "locks.parquet")
    upgrade_waits = locks[locks["phase"] == "upgrade"]
    assert (upgrade_waits["root_application"] == "rehearse-migrate").any(), "the migration was a root blocker"
    upgrade_phase = next(p for p in summary["phases"] if p["name"] == "upgrade")
    baseline = next(p for p in summary["phases"] if p["name"] == "baseline")
    assert upgrade_phase["p99_ms"] > 2 * baseline["p99_ms"], "the backfill's lock shows in the upgrade's tail"
    assert summary["downtime_s"] > 0 and len(summary["swaps"]) == 2
    md = (run_dir / "summary.md").read_text()
    assert "UPDATE orders SET currency = 'EUR'" in md and "Longest chain" in md


@pytest.mark.slow
def test_rollback_verdict_and_failing_gate(shop_run) -> None:
    result, run_dir = shop_run
    summary = json.loads((run_dir / "summary.json").read_text())
    rollback = summary["rollback"]
    assert rollback["checked"] and rollback["schema_diff"] == []
    assert rollback["safe"] is False, "2.0's down-migration drops orders.currency with the values written into it"
    destroyed = next(d for d in rollback["destroyed"] if d["name"] == "public.orders.currency")
    assert {d["name"] for d in rollback["destroyed"]} <= {"public.orders.currency", "public.feature_flags",
                                                          "public.webhooks"}, "and the tables 2.0's down drops"
    assert destroyed["name"] == "public.orders.currency" and destroyed["lost"] > 0
    assert set(destroyed["values"]) <= {"USD", "GBP", "CHF"} and sum(destroyed["values"].values()) == destroyed["lost"]
    assert destroyed["default"] == "'EUR'::text"
    assert [r["check"] for r in rollback["reasons"]] == ["data_destroyed"]
    assert "column public.orders.currency dropped with" in rollback["reasons"][0]["message"]
    (ack,) = rollback["acknowledged"]
    assert ack["acknowledged"] > 50 and ack["lost_in_database"] == 0 and ack["lost_through_api"] == 0
    assert ack["checked_through_api"] == ack["acknowledged"] and ack["by_phase"].get("post_upgrade", 0) > 0
    assert rollback["check_seconds"] > 0 and {w["name"] for w in summary["check_windows"]} == {
        "before_upgrade", "after_upgrade", "before_rollback", "after_rollback"}
    md = (run_dir / "summary.md").read_text()
    assert "Rollback safe: **NO**" in md and "**data destroyed**" in md
    written_mid_upgrade = next(c for c in summary["rollback"]["data_changes"]
                               if c["table"] == "orders" and c["compared_with"] == "before_rollback")
    assert written_mid_upgrade["rows_before"] > next(
        c for c in summary["rollback"]["data_changes"] if c["table"] == "orders" and c["compared_with"] == "baseline"
    )["rows_before"], "orders placed during the upgrade window are part of the check"
    rollback_phase = next(e for e in summary["endpoints"] if e["phase"] == "rollback" and e["name"] == "/orders")
    assert rollback_phase["errors"] > 0, "2.0 fails on the rolled-back schema until 1.0 is back"
    failed = [g for g in summary["gates"] if not g["passed"]]
    assert any(g["metric"] in ("error_rate", "p99_ms", "lock_wait_max_ms") for g in failed)
    assert summary["verdict"] == "fail" and summary["exit_code"] == 1 and result.returncode == 1
    assert "verdict: FAIL" in result.stdout


@pytest.mark.slow
def test_sigint_mid_upgrade_tears_everything_down(tmp_path: Path) -> None:
    proc = _rehearse(tmp_path, "--set", "seed.rows=400000")
    run_dir = wait_for_phase(tmp_path, proc, "upgrade")
    time.sleep(0.5)  # inside the backfill
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert processes_of(run_dir.name) == []
    assert postgres_temp_dirs(run_dir.name) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert contract_problems(summary) == []
    assert summary["incomplete"] == "interrupted" and summary["verdict"] == "fail" and summary["exit_code"] == 130
    assert summary["stopped"]["kind"] == "interrupted" and summary["reached_phase"] == "upgrade"
    assert summary["phases"][-1]["name"] == "upgrade", "what was recorded up to the interrupt is kept"
    page = (run_dir / "report.html").read_text()
    assert "Partial report" in page and "<svg" in page, "the partial run has its page, with what was recorded"
    assert (run_dir / "junit.xml").exists()


@pytest.mark.slow
def test_service_that_cannot_start_is_an_environment_failure(tmp_path: Path) -> None:
    proc = _rehearse(tmp_path, "--set", 'service.command=["{python}", "-c", "raise SystemExit(4)"]')
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "environment failure: service exited with code 4" in stderr and "Traceback" not in stderr
    run_id = _run_dir(tmp_path).name
    assert processes_of(run_id) == [] and postgres_temp_dirs(run_id) == []


@pytest.mark.slow
def test_safe_release_with_a_blue_green_swap_fails_no_request_in_the_upgrade(tmp_path: Path) -> None:
    proc = _rehearse(tmp_path, "--to", "2.1", "--set", "seed.rows=100000", "--set", "service.swap=blue_green")
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode in (0, 1), stderr
    run_dir = _run_dir(tmp_path)
    assert processes_of(run_dir.name) == [], "the proxy and both versions are gone"
    summary = json.loads((run_dir / "summary.json").read_text())
    upgrade = [s for s in summary["statements"] if s["phase"] == "upgrade"]
    assert any(s["sql"].startswith("CREATE INDEX CONCURRENTLY") for s in upgrade)
    assert all(s["error"] is None for s in upgrade)
    assert max(s["max_wait_ms"] for s in upgrade) <= 200, "2.1 runs its DDL with a 200 ms lock_timeout"
    assert next(g for g in summary["gates"] if g["metric"] == "lock_wait_max_ms")["passed"]
    upgrade_phase = next(p for p in summary["phases"] if p["name"] == "upgrade")
    assert upgrade_phase["requests"] > 20 and upgrade_phase["errors"] == 0, "no failed request in the upgrade"
    assert [s["strategy"] for s in summary["swaps"]] == ["blue_green", "blue_green"]
    assert summary["downtime_s"] == 0 and summary["swaps"][0]["failed_requests"] == 0
    assert (run_dir / "logs" / "proxy.log").exists()
    rollback = summary["rollback"]
    assert rollback["checked"] and rollback["safe"], rollback["reasons"]
    assert any(line.startswith("+ column public.orders.currency") for line in rollback["allowed_leftovers"]), \
        "expand/contract: the column stays for 1.0 to ignore, declared by the release"
    assert rollback["destroyed"] == [] and rollback["schema_diff"] == []


@pytest.mark.slow
def test_no_database_password_in_logs_streams_or_reports(shop_run) -> None:
    _, run_dir = shop_run
    credentials = re.compile(rb"postgres(?:ql)?://[^:\s/]+:(?!\*\*\*)[^@\s]+@")
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert not credentials.search(path.read_bytes()), f"a DSN with its password in {path}"


@pytest.mark.slow
def test_report_rebuilds_every_output_from_the_streams(shop_run, tmp_path: Path) -> None:
    _, run_dir = shop_run
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    before = json.loads((copy / "summary.json").read_text())
    outputs = ["summary.json", "summary.md", *before["artifacts"].values()]
    for name in set(outputs):
        (copy / name).unlink()
    result = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(copy)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == before["exit_code"], result.stderr
    assert all((copy / name).exists() for name in outputs)
    after = json.loads((copy / "summary.json").read_text())
    for key in ("verdict", "phases", "endpoints", "statements", "gates", "rollback", "lock_waits", "swaps", "started"):
        assert after[key] == before[key], key


CHROMIUM = Path("/usr/bin/chromium")  # .ci/run installs it: without it this test fails, it is not skipped


@pytest.mark.slow
def test_report_html_draws_every_chart_in_a_headless_browser(shop_run, tmp_path: Path) -> None:
    from harness.report import charts

    _, run_dir = shop_run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["artifacts"]["report_html"] == "report.html" and summary["artifacts"]["junit_xml"] == "junit.xml"
    page = (run_dir / "report.html").read_text()
    drawn = {name: data_paths(svg) for name, svg in svgs(page).items()}
    assert set(drawn) == {"latency", "throughput", "locks"}
    assert min(drawn["latency"][f"data-{p}"] for p in ("p50", "p95", "p99")) >= 8, "a point per second, or nearly"
    assert drawn["throughput"]["data-rps"] >= 8
    assert any(k.startswith("data-errors-") and v for k, v in drawn["throughput"].items()), "the swaps' failures"
    assert sum(v for k, v in drawn["locks"].items() if k.startswith("data-wait-requests")) >= 4, "the waits on orders"
    assert "ALTER TABLE orders ADD COLUMN currency text" in page and "data destroyed" in page

    assert CHROMIUM.exists(), "chromium is needed to render report.html (apt-get install chromium; .ci/run does)"
    screenshot = tmp_path / "report.png"
    browser = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}"]
    url = (run_dir / "report.html").as_uri()
    shot = subprocess.run([*browser, f"--screenshot={screenshot}", "--window-size=1280,2000", url],
                          capture_output=True, text=True, timeout=60)
    assert screenshot.exists(), shot.stderr[-2000:]
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=60).stdout
    assert len(re.findall(r"<figure class=\"chart\" id=\"chart-\w+\"><svg", dom)) == 3, "the charts are in the DOM"

    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    assert pixels.std() > 20, "the screenshot is not blank"
    rows = []
    for color in (charts.LATENCY_COLORS["p99_ms"], charts.RPS_COLOR, charts.WAIT_COLORS["requests"]):
        rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
        hit = np.abs(pixels - rgb).max(axis=2) <= 24
        assert hit.sum() >= 40, f"{color} was not drawn: the chart that uses it is blank"
        rows.append(float(np.median(np.nonzero(hit)[0])))
    assert rows == sorted(rows), "latency, throughput and lock waits drawn one below the other"
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert int(junit.get("tests", "0")) == len(summary["gates"]) + len(CHECKS) + 1
    assert {c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None} >= {
        "data_destroyed", *(g["name"] for g in summary["gates"] if not g["passed"])}

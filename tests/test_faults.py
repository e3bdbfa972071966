"""Faults during a rehearsal, injected for real: the postmaster killed, a backend killed (PostgreSQL restarts
every backend), the service process killed, Locust killed, the run directory's disk filled (a small tmpfs).

Each becomes a fault on the timeline and in summary.json; the run goes on where it can (a restart, a dead
service, a dead load generator) or ends with a partial report (database down, disk full), exit code 3 either
way, never a traceback or a hang, and nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.records.summary import contract_problems

from .leftovers import processes_of, wait_for_no_leftovers
from .test_kills import Point, Run, start, wait_for

LONG_BASELINE = ("--set", "phases.baseline_s=6", "--set", "phases.post_upgrade_s=2")
BASELINE = Point("baseline", (), "phases.jsonl", '"baseline"', "timeline", "baseline")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def pid_of(run_id: str, match) -> int:
    """The run's process whose command line `match` accepts (polled: it may be starting)."""
    for _ in range(100):
        found = [pid for pid in processes_of(run_id) if match(cmdline(pid), pid)]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no such process of {run_id}: {[cmdline(p) for p in processes_of(run_id)]}")


def postmaster(run_id: str) -> int:
    return pid_of(run_id, lambda line, pid: "postgres -D" in line)


def backend(run_id: str) -> int:
    """A backend of the service (PostgreSQL overwrites its environment with the process title: found by parent)."""
    main = postmaster(run_id)
    for _ in range(100):
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and parent(int(proc.name)) == main and "rehearse shop" in cmdline(int(proc.name)):
                return int(proc.name)
        time.sleep(0.05)
    raise AssertionError("no backend of the service")


def service(run_id: str) -> int:
    return pid_of(run_id, lambda line, pid: line.endswith("app.py "))


def locust(run_id: str) -> int:
    return pid_of(run_id, lambda line, pid: "-m locust" in line)


FAULTS = {  # fault -> (process to kill, the fault's kind, whether the run stops)
    "postmaster": (postmaster, "database_down", True),
    "backend": (backend, "database_restarted", False),
    "service": (service, "service_died", False),
    "locust": (locust, "load_died", False),
}


def _summary(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert contract_problems(summary) == []
    return summary


@pytest.mark.slow
def test_killed_processes_become_faults_and_an_honest_exit_3(tmp_path: Path) -> None:
    runs: dict[str, Run] = {}
    killed_at: dict[str, float] = {}
    for name in FAULTS:
        runs[name] = start(tmp_path / name, signal.SIGKILL, *LONG_BASELINE)

    def inject(name: str) -> None:
        run = runs[name]
        wait_for(run, BASELINE)
        time.sleep(1.0)
        victim = FAULTS[name][0](run.run_dir.name)
        killed_at[name] = time.time()
        os.kill(victim, signal.SIGKILL)

    with ThreadPoolExecutor(len(runs)) as pool:
        for future in [pool.submit(inject, name) for name in runs]:
            future.result()
    for name, run in runs.items():
        try:
            run.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            raise AssertionError(f"the run hung after its {name} was killed") from None
    for name, run in runs.items():
        _, kind, stops = FAULTS[name]
        stderr, run_dir = run.stderr.read_text(), run.run_dir
        assert "Traceback" not in stderr and run.proc.returncode == 3, (name, run.proc.returncode, stderr)
        assert wait_for_no_leftovers(run_dir.name, timeout=5) == {}, name
        summary = _summary(run_dir)
        faults = [f for f in summary["faults"] if f["kind"] == kind]
        assert faults and faults[0]["phase"] == "baseline", (name, summary["faults"])
        assert faults[0]["at"] - killed_at[name] < 5, "detected within seconds"
        assert summary["exit_code"] == 3 and summary["verdict"] == "fail"
        assert kind in [f["kind"] for f in summary["failures"]]
        events = [row for row in map(json.loads, (run_dir / "streams" / "run.jsonl").read_text().splitlines())
                  if row["event"] == "fault"]
        assert [e["kind"] for e in events][:1] == [kind], "the fault is on the timeline"
        if stops:
            assert summary["stopped"]["kind"] == "environment" and summary["reached_phase"] == "baseline"
            assert len(stderr.strip().splitlines()) == 2 and "environment failure" in stderr, stderr
            assert "Partial report" in (run_dir / "summary.md").read_text()
        else:
            assert summary["stopped"] is None, summary["stopped"]
            assert [p["name"] for p in summary["phases"]][-1] == "post_rollback", "the rehearsal went on"
        if name == "service":  # dead from the kill until the swap's new service answered
            swap = summary["swaps"][0]
            real = swap["healthy_at"] - killed_at[name]
            assert summary["outage_s"] >= real - 0.6, (summary["outage_s"], real)
            assert summary["outage_s"] > summary["downtime_s"], "the swap's stopwatch misses the crash"
        if name == "locust":
            assert {f["phase"] for f in summary["failures"] if f["kind"] == "no_traffic"} >= {"post_upgrade"}
        if name == "backend":
            later = [p for p in summary["phases"] if p["name"] == "post_upgrade"][0]
            assert later["requests"] > 0 and later["errors"] == 0, "the service reconnected after the restart"


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 6 MiB tmpfs (the run directory's disk), unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs (CI runs as root): {result.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_ends_the_run_with_a_partial_report(small_disk: Path, tmp_path: Path) -> None:
    run = start(tmp_path, signal.SIGKILL, "--set", "phases.baseline_s=30", out=small_disk / "reports")
    wait_for(run, BASELINE)
    time.sleep(1.0)
    filler = small_disk / "filler"
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, check=False)
    filled_at = time.time()
    run.proc.wait(timeout=60)
    stderr = run.stderr.read_text()
    assert run.proc.returncode == 3 and "Traceback" not in stderr, stderr
    assert "the run directory's disk is full" in stderr and len(stderr.strip().splitlines()) == 2, stderr
    assert wait_for_no_leftovers(run.run_dir.name, timeout=5) == {}
    summary = _summary(run.run_dir)  # written in the space the run held back
    (fault,) = summary["faults"]
    assert fault["kind"] == "disk_full" and fault["fatal"] and fault["at"] - filled_at < 3
    assert summary["stopped"]["kind"] == "environment" and summary["reached_phase"] == "baseline"

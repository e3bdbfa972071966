"""The kill matrix: SIGINT, SIGTERM and SIGKILL of the harness during seeding, the baseline, mid-migration, the
swap, the rollback and report writing (local), and SIGTERM / SIGKILL mid-migration in docker.

SIGINT / SIGTERM: exit 130, nothing left behind, a partial report that says where the run stopped.
SIGKILL: the children die with the harness (parent-death signals, the watchdog), nothing is left behind, and
`rehearse report` renders the killed run from its streams, marked partial. Each point is reached
deterministically (tests/scenarios/kill_points: a delayed seed, a long baseline, migrations that sleep, a
release that sleeps before it listens), and the three signals of a point run side by side.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness import cli
from harness.core.streams import read_json_lines
from harness.records.summary import contract_problems

from .conftest import REPO
from .leftovers import wait_for_no_leftovers

KILL_POINTS = REPO / "tests" / "scenarios" / "kill_points"
DELAYED = KILL_POINTS / "delayed.py"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
LOST_S_MAX = 1.0  # every request reaches the disk within a second (the recorder flushes every 0.5 s)


@dataclass(frozen=True)
class Point:
    """Where to stop the harness: the arguments that make the step slow, and how to see it has begun."""

    name: str
    args: tuple[str, ...]
    stream: str  # streams/<file> (or "stdout") to watch
    marker: str  # text that appears there once the step runs
    stage: str  # the summary's reached_stage
    phase: str | None  # the summary's reached_phase
    settle_s: float = 0.5  # after the marker, so that the slow step is under way


POINTS = [
    Point("seeding", ("--set", f'seed.command=["{{python}}", "{DELAYED}", "60", "{{python}}", '
                                f'"../../../scenarios/shop/seed.py", "--orders", "{{rows}}"]'),
          "run.jsonl", '"name": "seed"', "seed", None),
    Point("baseline", ("--set", "phases.baseline_s=60"), "phases.jsonl", '"baseline"', "timeline", "baseline"),
    Point("mid-migration", ("--to", "slow_up"), "run.jsonl", '"action_started", "at"', "timeline", "upgrade"),
    Point("swap", ("--to", "slow_start"), "run.jsonl", '"name": "swap"', "timeline", "upgrade"),
    Point("rollback", ("--to", "slow_down"), "run.jsonl", '"name": "revert"', "timeline", "rollback"),
    Point("report", (), "stdout", "writing the report", "timeline", "post_rollback", settle_s=0.0),
]


@dataclass
class Run:
    sig: signal.Signals
    out: Path
    proc: subprocess.Popen
    stdout: Path
    stderr: Path

    @property
    def run_dir(self) -> Path:
        runs = list(self.out.iterdir()) if self.out.exists() else []
        assert len(runs) == 1, runs
        return runs[0]


def start(tmp: Path, sig: signal.Signals, *args: str, plan: Path = KILL_POINTS, env: dict | None = None,
          out: Path | None = None) -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    stdout, stderr = tmp / f"{sig.name}.out", tmp / f"{sig.name}.err"
    out = out or tmp / f"out-{sig.name}"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(plan), "--out", str(out), *args],
                            cwd=REPO, stdout=stdout.open("w"), stderr=stderr.open("w"), env=env)
    return Run(sig, out, proc, stdout, stderr)


def wait_for(run: Run, point: Point, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.proc.poll() is None, f"{run.sig.name}: the run ended before {point.name}: " \
                                        f"{run.stderr.read_text()} {run.stdout.read_text()}"
        try:
            path = run.stdout if point.stream == "stdout" else run.run_dir / "streams" / point.stream
            if point.marker in path.read_text():
                return
        except (OSError, AssertionError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"{run.sig.name}: never reached {point.name}")


def last_request(run_dir: Path) -> float:
    lines = (run_dir / "streams" / "requests.csv").read_text().strip().splitlines()[1:]
    return max(float(line.split(",", 1)[0]) for line in lines if line.split(",", 1)[0])


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_kill_matrix(point: Point, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [start(tmp_path, sig, *point.args) for sig in SIGNALS]
    killed_at: dict[signal.Signals, float] = {}

    def stop(run: Run) -> None:
        wait_for(run, point)
        time.sleep(point.settle_s)
        killed_at[run.sig] = time.time()
        run.proc.send_signal(run.sig)

    with ThreadPoolExecutor(len(runs)) as pool:  # each run is stopped the moment it reaches the point
        for future in [pool.submit(stop, run) for run in runs]:
            future.result()
    for run in runs:
        run.proc.wait(timeout=90)
    for run in runs:
        stderr, run_dir = run.stderr.read_text(), run.run_dir
        assert "Traceback" not in stderr, stderr
        if run.sig is signal.SIGKILL:
            assert run.proc.returncode == -signal.SIGKILL
            assert wait_for_no_leftovers(run_dir.name) == {}, f"the killed run at {point.name} left these"
            for artifact in run_dir.glob("*.parquet"):  # written whole or not at all, even when killed
                pq.read_table(artifact)
            assert not (run_dir / "summary.json").exists() or json.loads((run_dir / "summary.json").read_text())
            code = cli.main(["report", str(run_dir)])
            summary = json.loads((run_dir / "summary.json").read_text())
            assert contract_problems(summary) == []
            if point.name == "report":  # the timeline had ended: the rebuilt report is whole
                assert summary["stopped"] is None and code in (0, 1), summary["failures"]
            else:
                assert code == 130 and summary["stopped"]["kind"] == "killed", summary["stopped"]
                assert summary["reached_phase"] == point.phase and summary["incomplete"] == "killed"
                assert "Partial report" in (run_dir / "summary.md").read_text()
            if point.name in ("baseline", "mid-migration"):
                lost = killed_at[run.sig] - last_request(run_dir)
                with capsys.disabled():
                    print(f"\n{point.name}: SIGKILL lost {max(0.0, lost):.3f} s of requests")
                assert lost <= LOST_S_MAX, f"{lost:.2f} s of requests before the kill were never recorded"
        else:
            assert run.proc.returncode == 130, stderr
            assert "interrupted" in stderr and len(stderr.strip().splitlines()) <= 2, stderr
            assert wait_for_no_leftovers(run_dir.name, timeout=2) == {}, f"{run.sig.name} at {point.name} left these"
            summary = json.loads((run_dir / "summary.json").read_text())
            assert contract_problems(summary) == []
            assert summary["exit_code"] == 130 and summary["verdict"] == "fail"
            assert summary["stopped"]["kind"] == "interrupted", summary["stopped"]
            assert summary["reached_stage"] == point.stage and summary["reached_phase"] == point.phase, (
                summary["reached_stage"], summary["reached_phase"])
            if point.name == "report":
                assert [p["name"] for p in summary["phases"]][-1] == "post_rollback"
                assert "while the report was written" in summary["stopped"]["message"]
                facts = read_json_lines(run_dir / "streams" / "run.jsonl")
                assert facts[-1]["event"] == "stop", "rehearse report keeps the interruption"

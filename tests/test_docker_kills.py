"""The docker column of the kill matrix: SIGTERM and SIGKILL of the harness mid-migration, with PostgreSQL and
the service in containers. SIGTERM tears everything down itself; after SIGKILL the watchdog removes the run's
containers (by label) and processes. Two runs started side by side carry distinct labels."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import cli
from harness.environments.docker_cleanup import RUN_LABEL, owner_labels

from .leftovers import wait_for_no_leftovers
from .test_docker_env import DOCKER_ARGS, _containers_of, _env, docker_host  # noqa: F401 - the fixture
from .test_kills import POINTS, Run, start, wait_for

pytestmark = pytest.mark.docker
MID_MIGRATION = next(p for p in POINTS if p.name == "mid-migration")


def _wait_no_containers(run_id: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    left = _containers_of(run_id)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _containers_of(run_id)
    return left


@pytest.mark.slow
def test_sigterm_and_sigkill_mid_migration_leave_no_container(docker_host: str, tmp_path: Path) -> None:  # noqa: F811
    env = _env(docker_host)
    runs = [start(tmp_path, sig, "--to", "slow_up", *DOCKER_ARGS, env=env) for sig in (signal.SIGTERM,
                                                                                         signal.SIGKILL)]

    def stop(run: Run) -> None:
        wait_for(run, MID_MIGRATION, timeout=180)
        time.sleep(MID_MIGRATION.settle_s)
        assert len(_containers_of(run.run_dir.name)) == 2, "postgres and the service run before the signal"
        run.proc.send_signal(run.sig)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(stop, run) for run in runs]:
            future.result()
    labels = {run.sig: owner_labels(run.run_dir.name)[RUN_LABEL] for run in runs}
    assert len(set(labels.values())) == 2, "two runs at once never share a label"
    for run in runs:
        run.proc.wait(timeout=120)
        run_dir = run.run_dir
        assert "Traceback" not in run.stderr.read_text()
        assert _wait_no_containers(run_dir.name) == [], f"{run.sig.name} left containers"
        assert wait_for_no_leftovers(run_dir.name) == {}
        if run.sig is signal.SIGTERM:
            assert run.proc.returncode == 130, run.stderr.read_text()
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["stopped"]["kind"] == "interrupted" and summary["reached_phase"] == "upgrade"
        else:
            assert run.proc.returncode == -signal.SIGKILL
            watchdog = (run_dir / "logs" / "watchdog.log").read_text()
            assert "removed container" in watchdog, watchdog
            assert cli.main(["report", str(run_dir)]) == 130
            summary = json.loads((run_dir / "summary.json").read_text())
            assert summary["stopped"]["kind"] == "killed" and summary["environment"] == "docker"

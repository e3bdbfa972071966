"""Remove what dead runs left behind: their processes, PostgreSQL temp directories, containers and networks.

Used by the watchdog (one run, the moment its harness dies), at the start of every run, and by
`rehearse cleanup`. It acts only on what a harness created and only when that harness is dead:
- runs whose registry (core.ownership) names a dead owner: the process groups it recorded (checked by start
  time, so a reused pid is never signalled; PostgreSQL gets a fast shutdown first), every process that still
  carries its REHEARSE_RUN_ID, its temp directories, its Docker containers and networks (by label);
- processes carrying REHEARSE_OWNER of a dead harness (whatever their run);
- rehearse-pg-* temp directories that no live run lists, whose server is not running, older than a minute.
Processes that carry no REHEARSE_OWNER (started by something else, or by an older harness) are never touched.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core import ownership
from harness.core.processes import RUN_ID_ENV

GRACE_S = 10.0  # after the gentle signal (SIGINT for PostgreSQL, SIGTERM otherwise), before SIGKILL
ORPHAN_AGE_S = 60.0  # an unlisted temp dir younger than this may belong to a run that is starting
TEMP_PREFIX = "rehearse-pg-"
RESERVE = ".reserve"
RUN_LOG = Path("streams") / "run.jsonl"


def remove_dead_runs(grace_s: float = GRACE_S, docker: bool = False) -> list[str]:
    """Everything dead runs left on this machine; returns one line per thing removed."""
    removed: list[str] = []
    live_dirs: set[str] = set()
    for path, registry in ownership.registries():
        if registry is None:
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > ORPHAN_AGE_S:
                    path.unlink()
                    removed.append(f"unreadable run registry {path.name}")
            continue
        if registry.owner_alive():
            live_dirs.update(registry.temp_dirs)
            continue
        removed += remove_run(registry, grace_s, docker=docker or registry.docker)
        path.unlink(missing_ok=True)
    removed += _orphan_processes(grace_s)
    removed += _orphan_temp_dirs(live_dirs)
    return removed


def remove_run(registry: ownership.Registry, grace_s: float = GRACE_S, docker: bool | None = None,
               why: str = "its harness died") -> list[str]:
    """Stop and remove what one run (whose owner is dead) recorded; returns what was removed."""
    removed: list[str] = []
    groups = [p for p in registry.processes if ownership.same_process_alive(p.pid, p.ticks)]
    for entry in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(entry.pid, entry.stop_signal)
    members = processes_carrying(RUN_ID_ENV, registry.run_id)
    _wait_gone([p.pid for p in groups] + members, grace_s)
    for entry in groups:
        if ownership.same_process_alive(entry.pid, entry.ticks):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(entry.pid, signal.SIGKILL)
    for entry in groups:
        removed.append(f"process group {entry.pid} ({entry.name}) of run {registry.run_id}")
    stragglers = processes_carrying(RUN_ID_ENV, registry.run_id)
    for pid in stragglers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _wait_gone(stragglers, 5.0)
    removed += [f"process {pid} of run {registry.run_id}" for pid in stragglers if pid not in
                [g.pid for g in groups]]
    for directory in registry.temp_dirs:
        if Path(directory).exists():
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(f"temp dir {directory} of run {registry.run_id}")
    if docker if docker is not None else registry.docker:
        removed += _docker_run(registry.run_id)
    run_dir = Path(registry.run_dir)
    (run_dir / RESERVE).unlink(missing_ok=True)
    _mark_killed(run_dir, registry, removed, why)
    return removed


def processes_carrying(name: str, value: str | None = None,
                       accept: Callable[[dict[str, str]], bool] | None = None) -> list[int]:
    """Pids of live processes whose environment has `name` (= `value`, when given), and that `accept` takes."""
    found = []
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if state == "Z":
            continue
        env = dict(entry.split("=", 1) for entry in environ.decode(errors="replace").split("\0") if "=" in entry)
        if name in env and (value is None or env[name] == value) and (accept is None or accept(env)):
            found.append(int(proc.name))
    return found


def _orphan_processes(grace_s: float) -> list[str]:
    """Processes of a dead harness that no registry named (their registry was lost, or never written)."""
    def orphaned(env: dict[str, str]) -> bool:
        return RUN_ID_ENV in env and ownership.token_alive(env[ownership.OWNER_ENV]) is False

    pids = processes_carrying(ownership.OWNER_ENV, accept=orphaned)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    _wait_gone(pids, min(grace_s, 5.0))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return [f"process {pid} of a dead run" for pid in pids]


def _orphan_temp_dirs(live: set[str]) -> list[str]:
    removed = []
    for directory in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        if str(directory) in live or not directory.is_dir() or _server_running(directory):
            continue
        with contextlib.suppress(OSError):
            if time.time() - directory.stat().st_mtime < ORPHAN_AGE_S:
                continue
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(f"temp dir {directory} (no run owns it, no server runs in it)")
    return removed


def _server_running(directory: Path) -> bool:
    """Whether a PostgreSQL server runs on this data directory (its postmaster.pid names a live process)."""
    for pidfile in (directory / "data" / "postmaster.pid", directory / "postmaster.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            return ownership.start_ticks(pid) is not None
    return False


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(ownership.start_ticks(pid) is not None for pid in pids):
        time.sleep(0.05)


def _docker_run(run_id: str) -> list[str]:
    """The run's containers and networks, swept twice: one being created as the harness died shows up late."""
    try:
        from harness.environments.docker_cleanup import remove_run as remove_labelled

        client = _docker_client()
    except Exception as exc:  # noqa: BLE001 - no engine: nothing of it can be running there
        return [f"(docker: not reachable: {' '.join(str(exc).split())[:120]})"]
    removed: list[str] = []
    try:
        for attempt in range(2):
            with contextlib.suppress(Exception):
                removed += [f"{item} of run {run_id}" for item in remove_labelled(client, run_id)]
            if attempt == 0:
                time.sleep(2.0)
    finally:
        client.close()
    return removed


def remove_stale_docker() -> list[str]:
    """Containers and networks of dead runs, when a Docker engine answers (else nothing)."""
    from harness.environments.docker_engine import docker_engine_error

    if docker_engine_error() is not None:
        return []
    from harness.environments.docker_cleanup import remove_stale

    client = _docker_client()
    try:
        return remove_stale(client)
    finally:
        client.close()


def _docker_client() -> Any:
    return importlib.import_module("docker").from_env(timeout=30)


def _mark_killed(run_dir: Path, registry: ownership.Registry, removed: list[str], why: str) -> None:
    """Tell the run's own log how it ended, so that `rehearse report` marks the report partial."""
    log = run_dir / RUN_LOG
    if not log.exists():
        return
    with contextlib.suppress(OSError):
        text = log.read_text(errors="replace")
        if '"event": "ended"' in text:
            return
        row = {"event": "stop", "at": time.time(), "kind": "killed",
               "message": f"{why} (pid {registry.owner_pid}); {len(removed)} things it left were removed"}
        with open(log, "a", encoding="utf-8") as out:
            out.write(("\n" if text and not text.endswith("\n") else "") + json.dumps(row) + "\n")

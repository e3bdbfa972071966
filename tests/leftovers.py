"""Find what a rehearsal left behind (processes carrying its run id, its temp directories); catch it mid-run."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from harness.core.processes import RUN_ID_ENV


def processes_of(run_id: str) -> list[int]:
    """Pids of live processes whose environment carries REHEARSE_RUN_ID=run_id."""
    marker = f"{RUN_ID_ENV}={run_id}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(proc.name))
    return found


def postgres_temp_dirs(run_id: str) -> list[str]:
    """The run's PostgreSQL temp directories still on disk."""
    return [p.name for p in Path(tempfile.gettempdir()).glob(f"rehearse-pg-{run_id}-*")]


def wait_for_phase(out: Path, proc: subprocess.Popen, phase: str, timeout: float = 120) -> Path:
    """Block until the rehearsal writing under `out` has started `phase`; returns its run directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        runs = list(out.iterdir())
        phases = runs[0] / "streams" / "phases.jsonl" if runs else None
        if phases is not None and phases.exists() and f'"{phase}"' in phases.read_text():
            return runs[0]
        time.sleep(0.05)
    stderr = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
    raise AssertionError(f"the rehearsal never reached {phase}: {stderr}")


def watchdogs_of(run_id: str) -> list[int]:
    """Pids of live watchdog processes of the run (their registry path names the run id)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"harness.watchdog" in cmdline and run_id.encode() in cmdline:
            found.append(int(proc.name))
    return found


def registry_of(run_id: str) -> Path | None:
    """The run's registry file, while it exists (core.ownership)."""
    from harness.core.ownership import registry_dir

    path = registry_dir() / f"{run_id}.json"
    return path if path.exists() else None


def leftovers(run_id: str) -> dict[str, list]:
    """Everything of the run still alive or on disk: empty lists when the run left nothing behind."""
    registry = registry_of(run_id)
    return {"processes": processes_of(run_id), "temp dirs": postgres_temp_dirs(run_id),
            "watchdogs": watchdogs_of(run_id), "registry": [str(registry)] if registry else []}


def wait_for_no_leftovers(run_id: str, timeout: float = 30) -> dict[str, list]:
    """Poll until the run left nothing behind (a watchdog may still be at work); returns what is left."""
    deadline = time.monotonic() + timeout
    left = leftovers(run_id)
    while any(left.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
        left = leftovers(run_id)
    return {key: value for key, value in left.items() if value}

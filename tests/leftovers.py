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

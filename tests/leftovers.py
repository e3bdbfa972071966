"""Find what a rehearsal left behind: processes carrying its run id, and its temp directories."""

from __future__ import annotations

import tempfile
from pathlib import Path

from harness.environments.processes import RUN_ID_ENV


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

"""What a run owns, on disk, so that a survivor can remove it if the run dies (SIGKILL, OOM, a power cut).

Each run keeps a small registry file, `<tmp>/rehearse-runs/<run id>.json`, naming its owner (pid, start time in
clock ticks since boot, boot id) and what it started: process groups (with their own start times, so that a
reused pid is never signalled), temp directories, and whether it made Docker containers. Children also carry
REHEARSE_OWNER=<pid>:<ticks> in their environment. The watchdog (harness.watchdog) and `rehearse cleanup`
(harness.cleanup) act only on runs whose owner is dead, and only on what those runs recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.core.streams import write_atomic

OWNER_ENV = "REHEARSE_OWNER"  # <pid>:<start ticks> of the harness process that owns a child
REGISTRY_DIR_NAME = "rehearse-runs"


def registry_dir() -> Path:
    return Path(tempfile.gettempdir()) / REGISTRY_DIR_NAME


def start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(") ", 1)[-1].split()
    if len(fields) > 19 and fields[0] != "Z":
        return fields[19]
    return None


def boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def same_process_alive(pid: int, ticks: str | None) -> bool:
    """Whether `pid` still runs and is the process that had start time `ticks` (not a later reuse of the pid)."""
    now = start_ticks(pid)
    return now is not None and (ticks is None or now == ticks)


def owner_token(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{pid}:{start_ticks(pid) or ''}"


def token_alive(token: str) -> bool | None:
    """Whether the owner named by a REHEARSE_OWNER token runs; None when the token cannot be read."""
    pid_text, _, ticks = token.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return None
    return same_process_alive(pid, ticks or None)


@dataclass
class OwnedEntry:
    """A process group the run started: its leader's pid and start ticks, the signal that stops it gently."""

    pid: int
    ticks: str | None
    name: str
    stop_signal: int = int(signal.SIGTERM)


@dataclass
class Registry:
    run_id: str
    run_dir: str
    owner_pid: int
    owner_ticks: str | None
    boot_id: str | None
    started: float
    processes: list[OwnedEntry] = field(default_factory=list)
    temp_dirs: list[str] = field(default_factory=list)
    docker: bool = False

    @property
    def path(self) -> Path:
        return registry_dir() / f"{self.run_id}.json"

    def owner_alive(self) -> bool:
        if self.boot_id and boot_id() and self.boot_id != boot_id():
            return False  # rebooted since: nothing of it runs
        return same_process_alive(self.owner_pid, self.owner_ticks)

    @classmethod
    def read(cls, path: Path) -> Registry | None:
        try:
            row = json.loads(path.read_text())
            row["processes"] = [OwnedEntry(**p) for p in row.get("processes", [])]
            return cls(**row)
        except (OSError, ValueError, TypeError):
            return None


class RunRegistry:
    """Verbs: add_process / remove_process, add_temp_dir / remove_temp_dir, mark_docker, close (removes the file).
    Thread-safe; every change is written whole (temp file, then rename)."""

    def __init__(self, run_id: str, run_dir: Path) -> None:
        pid = os.getpid()
        self.record = Registry(run_id, str(run_dir), pid, start_ticks(pid), boot_id(), time.time())
        self._lock = threading.Lock()
        registry_dir().mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(registry_dir(), 0o1777)  # shared by every user's runs, like /tmp
        self._save()

    @property
    def path(self) -> Path:
        return self.record.path

    def add_process(self, pid: int, name: str, stop_signal: int = signal.SIGTERM) -> None:
        with self._lock:
            self.record.processes.append(OwnedEntry(pid, start_ticks(pid), name, int(stop_signal)))
            self._save()

    def remove_process(self, pid: int) -> None:
        with self._lock:
            self.record.processes = [p for p in self.record.processes if p.pid != pid]
            self._save()

    def add_temp_dir(self, path: Path) -> None:
        with self._lock:
            self.record.temp_dirs.append(str(path))
            self._save()

    def remove_temp_dir(self, path: Path) -> None:
        with self._lock:
            self.record.temp_dirs = [d for d in self.record.temp_dirs if d != str(path)]
            self._save()

    def mark_docker(self) -> None:
        with self._lock:
            self.record.docker = True
            self._save()

    def close(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        with contextlib.suppress(OSError):  # a full disk must not stop a run: the labels and env still tell
            write_atomic(self.path, json.dumps(asdict(self.record)))


_active: RunRegistry | None = None


@contextlib.contextmanager
def active(registry: RunRegistry) -> Iterator[RunRegistry]:
    """Make `registry` the one OwnedProcess and the command runners record into, for the block."""
    global _active
    previous, _active = _active, registry
    try:
        yield registry
    finally:
        _active = previous


def current() -> RunRegistry | None:
    return _active


def note_process(pid: int, name: str, stop_signal: int = signal.SIGTERM) -> None:
    if _active is not None:
        _active.add_process(pid, name, stop_signal)


def forget_process(pid: int) -> None:
    if _active is not None:
        _active.remove_process(pid)


def note_temp_dir(path: Path) -> None:
    if _active is not None:
        _active.add_temp_dir(path)


def forget_temp_dir(path: Path) -> None:
    if _active is not None:
        _active.remove_temp_dir(path)


def note_docker() -> None:
    if _active is not None:
        _active.mark_docker()


def registries() -> list[tuple[Path, Registry | None]]:
    """Every registry file on this machine, parsed (None: unreadable)."""
    directory = registry_dir()
    if not directory.is_dir():
        return []
    return [(path, Registry.read(path)) for path in sorted(directory.glob("*.json"))]

"""Child processes the harness owns: started in their own session, dying with the harness, logged (redacted)
to a file, stopped as a group.

Every child gets a parent-death signal (Linux PR_SET_PDEATHSIG): when the harness dies, even by SIGKILL, the
kernel signals the child. Grandchildren and what cannot take that signal are stopped by the watchdog
(harness.watchdog), from the run's registry (core.ownership), where each child is noted as it starts.
Output goes through a pipe and is redacted line by line (core.redaction) before it reaches the log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from harness.core import ownership
from harness.core.errors import EnvironmentFailure
from harness.core.redaction import redact

RUN_ID_ENV = "REHEARSE_RUN_ID"  # every child process carries its run's id (what tests and cleanup look for)
PR_SET_PDEATHSIG = 1
_libc: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(None, use_errno=True)


def run_env(run_id: str) -> dict[str, str]:
    """What every child of a run carries in its environment: the run id and its owner (pid:start ticks)."""
    return {RUN_ID_ENV: run_id, ownership.OWNER_ENV: ownership.owner_token()}


def die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn that asks the kernel to send `sig` to the child when the harness dies (Linux only).
    It runs in the child after fork (and after its user change), so it may only call prctl."""
    if _libc is None:
        return None
    prctl, parent = _libc.prctl, os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the harness died between fork and prctl
            os.kill(os.getpid(), int(sig))

    return arm


class _Pump:
    """Copies a child's output to its log line by line, redacted, flushed at once (a crash loses nothing)."""

    def __init__(self, source: IO[bytes], log_path: Path) -> None:
        self.source, self.log_path = source, log_path
        self.thread = threading.Thread(target=self._run, name=f"log {log_path.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with open(self.log_path, "ab") as log:
            for raw in iter(self.source.readline, b""):
                text = raw.decode("utf-8", errors="replace")
                with contextlib.suppress(OSError):  # a full disk: the line is lost, the child goes on
                    log.write(redact(text).encode())
                    log.flush()
        with contextlib.suppress(OSError):
            self.source.close()

    def join(self, timeout: float = 5.0) -> None:
        self.thread.join(timeout)


def _start(argv: list[str], log_path: Path, cwd: Path | None, env: dict[str, str] | None, user: str | None,
           death_signal: int) -> tuple[subprocess.Popen[bytes], _Pump]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    popen = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, user=user, preexec_fn=die_with_parent(death_signal),  # noqa: PLW1509
    )
    assert popen.stdout is not None
    return popen, _Pump(popen.stdout, log_path)


class OwnedProcess:
    """A subprocess in its own session whose whole process group is ours to stop. `death_signal` is what it gets
    when the harness dies (SIGINT for PostgreSQL: a fast shutdown)."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, user: str | None = None,
                 death_signal: int = signal.SIGTERM) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        try:
            self.popen, self._pump = _start(argv, log_path, cwd, env, user, death_signal)
        except OSError as exc:
            raise EnvironmentFailure(f"cannot start {name} ({argv[0]}): {exc.strerror or exc}") from None
        ownership.note_process(self.popen.pid, name, death_signal)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the process wrote, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process group, wait up to `timeout`, then kill what is left; returns the exit code."""
        try:
            if self.running():
                signal_group(self.popen.pid, sig)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    signal_group(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(5)
            signal_group(self.popen.pid, signal.SIGKILL)  # stragglers the leader left behind
            return self.popen.returncode
        finally:
            self._pump.join()
            ownership.forget_process(self.popen.pid)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


_signal_group = signal_group  # the name other modules used


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition",
               alive: OwnedProcess | None = None) -> float:
    """Poll `check()` until truthy; returns the seconds waited. Fails early when `alive` has exited."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if alive is not None and not alive.running():
            raise EnvironmentFailure(f"{alive.name} exited with code {alive.popen.returncode} before {what}"
                                     f": {alive.log_tail()}")
        if time.monotonic() - started > timeout:
            raise EnvironmentFailure(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads (a migration killed mid-way, on purpose)."""
    _signal_group(pid, signal.SIGKILL)


class DeadlineExceeded(Exception):
    """A command ran past its deadline and was killed; `note` says what it was doing (from on_deadline)."""

    def __init__(self, seconds: float, note: str = "") -> None:
        self.seconds, self.note = seconds, note
        super().__init__(f"exceeded its deadline of {seconds:g} s" + (f": {note}" if note else ""))


GRACE_S = 5.0  # after SIGTERM, before SIGKILL


def run_logged(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path, deadline_s: float | None = None,
               on_deadline: Callable[[], str] | None = None,
               on_start: Callable[[subprocess.Popen[bytes]], None] | None = None) -> int:
    """Run a command to completion in its own session, output appended (redacted) to `log_path`; killed with its
    group if we are interrupted. Returns the exit code (127 when it cannot be started). Past `deadline_s` the
    group is stopped (SIGTERM, then SIGKILL) and DeadlineExceeded raised; `on_deadline()` runs first and says
    what the command was doing. `on_start` gets the process once it runs."""
    try:
        proc, pump = _start(argv, log_path, cwd, env, None, signal.SIGTERM)
    except OSError as exc:
        with contextlib.suppress(OSError), open(log_path, "ab") as log:
            log.write(f"cannot start {argv[0]}: {exc.strerror or exc}\n".encode())
        return 127
    ownership.note_process(proc.pid, Path(argv[0]).name)
    if on_start is not None:
        on_start(proc)
    try:
        try:
            return proc.wait(deadline_s)
        except subprocess.TimeoutExpired:
            note = ""
            if on_deadline is not None:
                with contextlib.suppress(Exception):
                    note = on_deadline()
            signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(GRACE_S)
            assert deadline_s is not None
            raise DeadlineExceeded(deadline_s, note) from None
    finally:
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        signal_group(proc.pid, signal.SIGKILL)  # what the command left in its group
        pump.join()
        ownership.forget_process(proc.pid)


def last_line(path: Path) -> str:
    """The last non-empty line of a log file."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""

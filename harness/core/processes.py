"""Child processes the harness owns: started in their own session, logged to a file, stopped as a group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.core.errors import EnvironmentFailure

RUN_ID_ENV = "REHEARSE_RUN_ID"  # every child process carries its run's id (what tests and cleanup look for)


class OwnedProcess:
    """A subprocess in its own session whose whole process group is ours to stop."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None, user: str | None = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.popen = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True, user=user,
            )
        except OSError as exc:
            self._log.close()
            raise EnvironmentFailure(f"cannot start {name} ({argv[0]}): {exc.strerror or exc}") from None

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
                _signal_group(self.popen.pid, sig)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(5)
            _signal_group(self.popen.pid, signal.SIGKILL)  # stragglers the leader left behind
            return self.popen.returncode
        finally:
            self._log.close()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


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


def run_logged(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path,
               on_start: Callable[[subprocess.Popen], None] | None = None) -> int:
    """Run a command to completion in its own session, output appended to `log_path`; killed if we are
    interrupted. `on_start` gets the process once it runs. Returns the exit code (127 when it cannot be
    started; negative: the signal that ended it)."""
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.write(f"cannot start {argv[0]}: {exc.strerror or exc}\n".encode())
            return 127
        if on_start is not None:
            on_start(proc)
        try:
            return proc.wait()
        finally:
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()


def last_line(path: Path) -> str:
    """The last non-empty line of a log file."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""

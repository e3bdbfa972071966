"""A helper process of the harness's own (python -m MODULE), controlled over its stdin/stdout: one JSON object a
line each way. The harness's loopback proxy and its dependency stubs are such processes.

The child answers each command with {"done": verb, ...}; its first line, once it is ready, is
{"done": "listening", ...}. EOF on stdin ends it; so does the harness's death (a parent-death signal, and the run's
registry names it for the watchdog). Its stderr goes to a log file, whose last lines explain a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from harness.core import ownership
from harness.core.processes import die_with_parent

REPO_ROOT = Path(__file__).resolve().parents[2]


class JsonChild:
    """Verbs: launch(timeout_s) -> its first answer, command(dict, timeout_s) -> the answer, stop() (idempotent;
    kills its group if it does not end on EOF). Failures raise `error` (the caller's exception class), saying
    `what` it is and the last lines of its log."""

    def __init__(self, what: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 error: type[Exception] = RuntimeError) -> None:
        self.what, self.argv, self.log_path, self.error = what, argv, log_path, error
        self.env = dict(env if env is not None else os.environ)
        self.popen: subprocess.Popen[str] | None = None
        self._log: IO[bytes] | None = None

    def launch(self, timeout_s: float) -> dict[str, Any]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = self.env | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), self.env.get("PYTHONPATH")]))}
        self.popen = subprocess.Popen(  # noqa: PLW1509 - only prctl runs in the child before exec
            [sys.executable, *self.argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            bufsize=1, env=env, cwd=REPO_ROOT, start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
        ownership.note_process(self.popen.pid, self.what)
        return json.loads(self._expect("listening", timeout_s))

    def command(self, command: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if self.popen is None or self.popen.stdin is None or self.popen.poll() is not None:
            raise self.error(f"the {self.what} is not running{self._tail()}")
        try:
            self.popen.stdin.write(json.dumps(command) + "\n")
            self.popen.stdin.flush()
        except OSError as exc:
            raise self.error(f"the {self.what} stopped listening ({exc.strerror or exc}){self._tail()}") from None
        return json.loads(self._expect(command["verb"], timeout_s))

    def stop(self) -> None:
        popen, self.popen = self.popen, None
        if popen is not None:
            with contextlib.suppress(OSError):
                if popen.stdin is not None:
                    popen.stdin.close()
            try:
                popen.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(5)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)  # whatever its group left
            if popen.stdout is not None:
                popen.stdout.close()
            ownership.forget_process(popen.pid)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _expect(self, verb: str, timeout_s: float) -> str:
        """The next answer line for `verb` ("listening": the first line, once it is ready)."""
        assert self.popen is not None and self.popen.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.popen.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.popen.stdout.readline()
            if not line:
                raise self.error(f"the {self.what} exited with code {self.popen.wait()}{self._tail()}")
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(line).get("done") == verb:
                    return line
        raise self.error(f"the {self.what} did not answer within {timeout_s:g}s{self._tail()}")

    def _tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return f": {' | '.join(lines[-3:])}" if lines else ""


def answer(**fields: Any) -> None:
    """In the child: one answer line on stdout."""
    print(json.dumps(fields), flush=True)

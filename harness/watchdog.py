"""The watchdog: a small process that outlives its harness, to remove what the harness started if it dies.

Started by the timeline (`Watchdog.start`) before anything else, in its own session, with a pipe from the
harness on its stdin. It blocks reading it: when the harness ends normally it writes "done" first and the
watchdog exits; when the harness dies (SIGKILL, OOM) the pipe closes without it, and the watchdog removes
what the run's registry names (harness.cleanup.remove_run): process groups, temp directories, containers.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

DONE = b"done\n"


class Watchdog:
    """Verbs: start(registry_path, log) launches it; dismiss() tells it the run ended well and waits for it."""

    def __init__(self) -> None:
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, registry_path: Path, log_path: Path) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        root = str(Path(__file__).resolve().parents[1])
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); "
                 "from harness.watchdog import main; sys.exit(main(sys.argv[1:]))", str(registry_path)],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def dismiss(self, timeout: float = 5.0) -> None:
        if self.popen is None or self.popen.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.popen.stdin.write(DONE)
            self.popen.stdin.close()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def main(argv: list[str]) -> int:
    from harness.cleanup import remove_run
    from harness.core.ownership import Registry

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the harness, not for us
    registry_path = Path(argv[0])
    received = b""
    with contextlib.suppress(OSError):
        received = sys.stdin.buffer.read()
    if received.startswith(DONE):
        return 0
    registry = Registry.read(registry_path)
    if registry is None:
        return 0
    deadline = time.monotonic() + 5
    while registry.owner_alive() and time.monotonic() < deadline:  # the pipe closes as the process exits
        time.sleep(0.05)
    if registry.owner_alive():
        print(f"{time.strftime('%H:%M:%S')} watchdog: the harness {registry.owner_pid} closed its pipe but runs: "
              "leaving its run alone", flush=True)
        return 0
    print(f"{time.strftime('%H:%M:%S')} watchdog: the harness {registry.owner_pid} died: removing what run "
          f"{registry.run_id} left", flush=True)
    for line in remove_run(registry):
        print(f"{time.strftime('%H:%M:%S')} watchdog: removed {line}", flush=True)
    registry_path.unlink(missing_ok=True)
    return 0

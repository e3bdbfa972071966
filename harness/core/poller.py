"""The background poller every observer loop is built on: connect, poll every interval, disconnect.

Runs on its own daemon thread, so it keeps polling while the timeline blocks on a migration. Errors never
escape the thread: they go to `report` (the run's observer errors) and the loop carries on, or ends when
`poll` says the connection is gone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Report = Callable[[str], None]


class PollerGone(Exception):
    """Raised by `poll` when the loop cannot go on (its connection is closed)."""


class Poller:
    """Verbs: start() returns once connected (True) or failed (False); stop() ends the loop and waits for it.
    Subclasses implement connect(), poll() and disconnect()."""

    name = "poller"

    def __init__(self, interval_s: float, report: Report) -> None:
        self.interval_s, self.report = interval_s, report
        self.polls = 0
        self.connected = False
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def connect(self) -> None:
        """Open what poll() needs (a connection); raise to give up before the first poll."""

    def poll(self) -> None:
        """One round of work; raise PollerGone to end the loop."""

    def disconnect(self) -> None:
        """Close what connect() opened; called once, on the poller's thread."""

    def start(self, ready_timeout_s: float = 15.0) -> bool:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait(ready_timeout_s)
        return self.connected

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def finish(self) -> None:
        """End the loop from inside poll(): no further round after this one."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when stop() was called meanwhile."""
        return self._stop.wait(max(0.0, seconds))

    def _run(self) -> None:
        try:
            self.connect()
            self.connected = True
        except Exception as exc:  # noqa: BLE001 - reported, and start() says False
            self.report(f"{self.name} could not connect: {_text(exc)}")
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                tick = time.monotonic()
                try:
                    self.poll()
                    self.polls += 1
                except PollerGone as gone:
                    self.report(f"{self.name} stopped: {_text(gone)}")
                    return
                except Exception as exc:  # noqa: BLE001 - a poller outlives any one bad round
                    self.report(f"{self.name}: {_text(exc)}")
                self.wait(self.interval_s - (time.monotonic() - tick))
        finally:
            try:
                self.disconnect()
            except Exception as exc:  # noqa: BLE001
                self.report(f"{self.name} disconnect: {_text(exc)}")


def _text(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__

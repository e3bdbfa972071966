"""Keep Ctrl-C and SIGTERM from cutting a teardown short: while it runs they are noted, not raised."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held_signals() -> Iterator[list[int]]:
    """Yields the list of signals that arrived during the block (empty: none); handlers are restored after."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous: dict[int, Any] = {sig: signal.signal(sig, note) for sig in HELD}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

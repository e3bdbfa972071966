"""The phase clock: named phases with start and end stamps, streamed as they begin and end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from harness.rundir import JsonLines


@dataclass
class Phase:
    name: str
    from_version: str
    to_version: str
    started: float
    ended: float | None = None


class PhaseClock:
    """Verbs: phase(name, from, to) is a context that stamps a phase; phases lists them so far."""

    def __init__(self, stream: JsonLines) -> None:
        self.stream = stream
        self.phases: list[Phase] = []

    @contextlib.contextmanager
    def phase(self, name: str, from_version: str, to_version: str) -> Iterator[Phase]:
        current = Phase(name, from_version, to_version, time.time())
        self.phases.append(current)
        self.stream.write(asdict(current) | {"event": "start"})
        try:
            yield current
        finally:
            current.ended = time.time()
            self.stream.write(asdict(current) | {"event": "end"})

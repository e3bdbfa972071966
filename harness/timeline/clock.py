"""The phase clock: named phases with start and end stamps, streamed and announced as they begin and end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import asdict

from harness.core.streams import JsonLines
from harness.events import Events
from harness.records.run import Phase

STREAM = "phases.jsonl"


class PhaseClock:
    """Verbs: phase(name, version) is a context that stamps a phase and fires its events."""

    def __init__(self, stream: JsonLines, events: Events) -> None:
        self.stream, self.events = stream, events
        self.phases: list[Phase] = []

    @contextlib.contextmanager
    def phase(self, name: str, version: str) -> Iterator[Phase]:
        """The phase starts serving `version`; set its to_version before the block ends."""
        current = Phase(name, version, version, time.time())
        self.phases.append(current)
        self.stream.write(asdict(current) | {"event": "start"})
        completed = False
        try:
            self.events.phase_started.fire(phase=current)
            yield current
            self.events.phase_ending.fire(phase=current)
            completed = True
        finally:
            current.ended = time.time()
            self.stream.write(asdict(current) | {"event": "end" if completed else "stopped"})
            self.events.phase_ended.fire(phase=current)

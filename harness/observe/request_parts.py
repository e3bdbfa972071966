"""Requests parsed while the run records them: every few seconds, the requests streams' new whole records, once
there are PART_BYTES of them, become a Parquet part (load.request_parts), so the report of hours of soak
parses only the CSV written since the last part. A short run never writes one. The CSV stays the record: a
part that fails to be written is reported and the report parses the CSV instead."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from harness.core.poller import Poller
from harness.events import Events
from harness.load.contract import request_streams
from harness.load.request_parts import PART_BYTES, compact
from harness.observe.base import ObserverContext

INTERVAL_S = 5.0


class RequestPartsObserver(Poller):
    """Verbs: attach() starts the loop; close() stops it (a part being written is finished first)."""

    name = "request-parts"

    def __init__(self, context: ObserverContext, part_bytes: int = PART_BYTES) -> None:
        super().__init__(INTERVAL_S, context.reporter(self.name))
        self.part_bytes = part_bytes
        self.streams = context.run.stream("requests.csv").parent
        self.given_up: set[Path] = set()  # streams with a value the typed parser refuses: the report reads them

    def attach(self, events: Events) -> None:
        self.start()

    def poll(self) -> None:
        for stream in request_streams(self.streams):
            while stream not in self.given_up and not self.stopping:
                try:
                    if compact(stream, self.part_bytes) is None:
                        break
                except (pa.ArrowInvalid, UnicodeDecodeError):
                    self.given_up.add(stream)
                except FileNotFoundError:  # not there yet
                    break

    def close(self) -> None:
        self.stop(timeout_s=60.0)

"""When the open model's arrivals are meant to start: pure arithmetic, shared by the Locust plugin
(harness.load.open_model) and its tests. Imports nothing of Locust.

Arrivals are evenly spaced (as wrk2 and k6's constant-arrival-rate do), after an optional linear ramp from 0 to
the rate. With W workers, worker i takes the global arrivals i, i+W, i+2W, ...: together they keep the planned
rate and interleave.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass


def arrival_offset(k: int, rate: float, ramp_s: float = 0.0) -> float:
    """Seconds from the start to the k-th arrival (0-based) of a stream at `rate`/s reached after `ramp_s`.

    During the ramp the rate grows linearly, so the arrivals so far are rate * t^2 / (2 * ramp_s)."""
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    in_ramp = rate * ramp_s / 2  # arrivals during the ramp
    if ramp_s > 0 and k <= in_ramp:
        return math.sqrt(2 * ramp_s * k / rate)
    return ramp_s + (k - in_ramp) / rate


@dataclass(frozen=True)
class Stream:
    """One arrival stream: `task` (None: any task of the user classes, by weight) at `rate`/s in total."""

    task: str | None
    rate: float


def arrivals(streams: list[Stream], ramp_s: float = 0.0, worker: int = 0, workers: int = 1) -> Iterator[
        tuple[float, str | None]]:
    """This worker's arrivals of every stream, merged in time order: (offset from the start, task)."""
    if not 0 <= worker < max(1, workers):
        raise ValueError(f"worker {worker} out of range for {workers} workers")
    heap: list[tuple[float, int, int]] = []
    for index, stream in enumerate(streams):
        heapq.heappush(heap, (arrival_offset(worker, stream.rate, ramp_s), index, 0))
    while heap:
        offset, index, j = heapq.heappop(heap)
        yield offset, streams[index].task
        k = (j + 1) * max(1, workers) + worker
        heapq.heappush(heap, (arrival_offset(k, streams[index].rate, ramp_s), index, j + 1))

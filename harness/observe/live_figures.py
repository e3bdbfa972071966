"""The live view's figures, from rows as they arrive: requests of the last seconds (rps, p99, errors), the lock
waits of the latest sample, and where the timeline is (the phase, elapsed and remaining time). Pure: no I/O,
every time is given; harness.observe.live feeds it and renders it.

These are a glance while the run goes, not the report's figures (harness/result computes those from the
streams afterwards, the harness's own check windows left out).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

REQUEST_FIELDS = ("start", "latency_ms", "error")  # the requests.csv columns the live view reads, by name
LAG_S = 1.0  # the recorder flushes every 0.5 s: the last second is not all on disk yet


@dataclass(frozen=True)
class Request:
    done: float  # when it completed (its start plus its latency), epoch seconds
    latency_ms: float
    failed: bool


def request_of(record: Sequence[str]) -> Request | None:
    """A requests.csv record (the REQUEST_FIELDS values) as a Request; None when it is not one."""
    try:
        start, latency = float(record[0]), float(record[1])
    except (ValueError, IndexError):
        return None
    return Request(start + latency / 1000, latency, bool(record[2]))


@dataclass(frozen=True)
class RequestFigures:
    seconds: float  # the window
    requests: int
    rps: float
    p99_ms: float | None  # None: no request in the window
    errors: int
    total: int  # since the view started
    total_errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class RequestWindow:
    """Verbs: add(requests), figures(now): the requests completed in the `seconds` ending LAG_S before now."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._recent: list[Request] = []
        self.total = self.total_errors = 0

    def add(self, requests: Iterable[Request]) -> None:
        for request in requests:
            self._recent.append(request)
            self.total += 1
            self.total_errors += request.failed

    def figures(self, now: float) -> RequestFigures:
        end = now - LAG_S
        begin = end - self.seconds
        self._recent = [r for r in self._recent if r.done >= begin]  # workers' files arrive in any order
        inside = [r for r in self._recent if r.done < end]
        p99 = float(np.percentile([r.latency_ms for r in inside], 99)) if inside else None
        return RequestFigures(self.seconds, len(inside), len(inside) / self.seconds, p99,
                              sum(r.failed for r in inside), self.total, self.total_errors)


@dataclass(frozen=True)
class LockWait:
    """One waiting lock request of a lock sample (streams/locks.jsonl)."""

    sampled_at: float
    pid: int
    waiting_s: float
    relation: str | None
    mode: str
    locktype: str
    query: str
    root_query: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LockWait | None:
        try:
            return cls(float(row["sampled_at"]), int(row.get("pid") or 0), float(row.get("waiting_s") or 0.0),
                       row.get("relation") or None, str(row.get("mode") or ""), str(row.get("locktype") or ""),
                       str(row.get("query") or ""), str(row.get("root_query") or ""))
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def what(self) -> str:
        """What it waits for: the relation, else the kind of lock."""
        return self.relation or self.locktype or "a lock"


@dataclass(frozen=True)
class LockFigures:
    waiting: int  # in the latest sample, when it is recent (the sampler writes nothing while nobody waits)
    longest: LockWait | None  # the longest waiting of those
    peak: int  # the most waiting at once in the window
    peak_wait_s: float  # the longest wait seen in the window


class LockWindow:
    """Verbs: add(waits), figures(now): current lock waits, and the peak of the last `seconds`."""

    def __init__(self, seconds: float, stale_s: float) -> None:
        self.seconds, self.stale_s = seconds, stale_s
        self._samples: deque[tuple[float, list[LockWait]]] = deque()

    def add(self, waits: Iterable[LockWait]) -> None:
        for wait in sorted(waits, key=lambda w: w.sampled_at):
            if self._samples and self._samples[-1][0] == wait.sampled_at:
                self._samples[-1][1].append(wait)
            elif not self._samples or wait.sampled_at > self._samples[-1][0]:
                self._samples.append((wait.sampled_at, [wait]))

    def figures(self, now: float) -> LockFigures:
        while self._samples and self._samples[0][0] < now - self.seconds:
            self._samples.popleft()
        current = self._samples[-1][1] if self._samples and self._samples[-1][0] >= now - self.stale_s else []
        longest = max(current, key=lambda w: w.waiting_s, default=None)
        return LockFigures(len(current), longest, max((len(s) for _, s in self._samples), default=0),
                           max((w.waiting_s for _, s in self._samples for w in s), default=0.0))


@dataclass(frozen=True)
class PlannedPhase:
    name: str
    soak_s: float
    actions: int


@dataclass(frozen=True)
class Position:
    """Where the timeline is at one moment. Remaining times are lower bounds while actions are to come
    (an action takes as long as it takes): `at_least` says so."""

    phase: str | None  # None: before the first phase (the load ramps up), or after the last
    index: int  # 1-based, 0 before the first phase
    phases: int
    action: str | None  # the action running now
    action_s: float
    phase_elapsed_s: float
    phase_remaining_s: float
    phase_at_least: bool
    elapsed_s: float  # since the first phase began
    remaining_s: float
    at_least: bool
    done: tuple[str, ...]  # the phases that ended


class TimelineClock:
    """Verbs: phase_started, action_started, action_ended, phase_ended (as the events come), at(now)."""

    def __init__(self, planned: Sequence[PlannedPhase]) -> None:
        self.planned = list(planned)
        self._started: float | None = None
        self._phase: str | None = None
        self._phase_started = 0.0
        self._soak_from: float | None = None
        self._actions_ended = 0
        self._action: tuple[str, float] | None = None
        self._done: list[str] = []

    def phase_started(self, name: str, at: float) -> None:
        self._started = at if self._started is None else self._started
        self._phase, self._phase_started, self._actions_ended, self._action = name, at, 0, None
        self._soak_from = at if not self._plan_of(name).actions else None

    def action_started(self, name: str, at: float) -> None:
        self._action, self._soak_from = (name, at), None

    def action_ended(self, at: float) -> None:
        self._action = None
        self._actions_ended += 1
        if self._phase is not None and self._actions_ended >= self._plan_of(self._phase).actions:
            self._soak_from = at

    def phase_ended(self, name: str, at: float) -> None:
        self._done.append(name)
        self._phase, self._action, self._soak_from = None, None, None

    def _plan_of(self, name: str) -> PlannedPhase:
        return next((p for p in self.planned if p.name == name), PlannedPhase(name, 0.0, 0))

    def at(self, now: float) -> Position:
        names = [p.name for p in self.planned]
        index = names.index(self._phase) + 1 if self._phase in names else len(self._done) + (self._phase is not None)
        later = self.planned[index:] if self._phase is not None else self.planned[len(self._done):]
        if self._phase is not None:
            soak = self._plan_of(self._phase).soak_s
            phase_elapsed = now - self._phase_started
            soaking = self._soak_from is not None
            phase_remaining = max(0.0, soak - (now - self._soak_from)) if self._soak_from is not None else soak
        else:
            phase_elapsed, phase_remaining, soaking = 0.0, 0.0, True
        remaining = phase_remaining + sum(p.soak_s for p in later)
        action, action_s = (self._action[0], now - self._action[1]) if self._action else (None, 0.0)
        return Position(self._phase, index, len(self.planned), action, action_s, phase_elapsed, phase_remaining,
                        not soaking, now - self._started if self._started is not None else 0.0, remaining,
                        not soaking or any(p.actions for p in later), tuple(self._done))

"""Time series of a run, for the charts of report.html: traffic per second and each lock wait.

They are not part of summary.json (the Summary holds the figures per phase); result.series builds them from
the frames, report.html draws them. Times are UTC epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SecondFigures:
    """The requests started in one second of the timeline (those started inside a check window left out)."""

    at: float  # the second's start
    requests: int
    errors: int
    p50_ms: float | None  # None: no request started in that second
    p95_ms: float | None
    p99_ms: float | None
    errors_by_cause: dict[str, int] = field(default_factory=dict)  # swap, statements, service (result.attribution)


@dataclass
class WaitSpan:
    """One distinct lock wait: who waited, for which lock, from when to when (last seen), and the migration
    statement it is blamed on (the one whose lock it waited for, else the one running when it began)."""

    pid: int
    application: str | None
    whose: str  # requests (the service's backends), migration (its own backends), other (the harness's)
    mode: str | None
    relation: str | None
    started: float
    ended: float
    waited_ms: float
    phase: str
    seq: int | None  # the statement blamed (StatementFigures.seq); None: no migration statement was part of it
    statement: str | None  # its SQL
    running_seq: int | None = None  # the migration statement running when the wait began, if any


@dataclass
class RunSeries:
    """What report.html draws over time (beside the Summary's phases, swaps and statements), from the first
    phase's start (`origin`) to the last one's end."""

    origin: float
    end: float
    seconds: list[SecondFigures]
    waits: list[WaitSpan]

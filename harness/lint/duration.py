"""Duration classes: how long a statement's work holds its lock, from the table facts.

A linear model per kind of work, with rates measured on a 2-core machine under a light load, warm cache
(`bench/lint_corpus.py` prints the figures it is checked against). It is meant to tell a 100-row table from a
100 MB one, not to time a statement to the millisecond:

| work | what it goes through | rate |
|---|---|---|
| catalog | nothing (a catalog change, dropping an index) | instant |
| scan | the heap (validate a CHECK or NOT NULL, check a foreign key) | 1 GB/s |
| index | the heap, sorted into a new index | 150 MB/s |
| rewrite | heap and indexes, copied and rebuilt | 60 MB/s |
| rows | every row written (UPDATE, DELETE, INSERT .. SELECT) | 150 000 rows/s |

Classes: `instant` under 50 ms, `short` under 500 ms, `long` from 500 ms on. A statement holding a
blocking lock for a `long` time is a danger; for less it is a warning (harmless at today's size).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from harness.lint.facts import Facts

Kind = Literal["catalog", "scan", "index", "rewrite", "rows"]
BYTES_PER_S: dict[str, float] = {"scan": 1e9, "index": 150e6, "rewrite": 60e6}
ROWS_PER_S = 150_000.0
INSTANT_MS = 50.0
LONG_MS = 500.0  # a request waiting this long is held up (the default gates' request_lock_wait_max_ms)


@dataclass(frozen=True)
class Work:
    """What a statement does to one table while it holds its lock."""

    kind: Kind
    table: str


@dataclass(frozen=True)
class Estimate:
    ms: float
    tables: str  # the facts it was computed from, for people

    @property
    def duration_class(self) -> str:
        return "instant" if self.ms < INSTANT_MS else "short" if self.ms < LONG_MS else "long"

    @property
    def long(self) -> bool:
        return self.ms >= LONG_MS

    def describe(self) -> str:
        """e.g. `about 1.8 s (long) at orders: 1.0M rows, 110 MB`."""
        shown = f"{self.ms / 1000:.1f} s" if self.ms >= 1000 else f"{self.ms:.0f} ms" if self.ms >= 1 else "under 1 ms"
        return f"{'' if shown.startswith('under') else 'about '}{shown} ({self.duration_class}) at {self.tables}"


def work_ms(work: Work, facts: Facts) -> float | None:
    """Milliseconds of one piece of work, None when the facts do not know its table."""
    table = facts.table(work.table)
    if table is None:
        return None
    if work.kind == "catalog":
        return 0.0
    if work.kind == "rows":
        return table.rows / ROWS_PER_S * 1000
    size = table.total_bytes if work.kind == "rewrite" else table.table_bytes
    return size / BYTES_PER_S[work.kind] * 1000


def estimate(works: Iterable[Work], facts: Facts | None) -> Estimate | None:
    """The summed estimate of `works` (done one after another under one lock); None without facts for all."""
    works = list(works)
    if facts is None or not works:
        return None
    total = 0.0
    for work in works:
        ms = work_ms(work, facts)
        if ms is None:
            return None
        total += ms
    seen = dict.fromkeys(w.table for w in works)
    tables = "; ".join(f"{name}: {facts.tables[name.lower()].describe()}" for name in seen)
    return Estimate(total, tables)

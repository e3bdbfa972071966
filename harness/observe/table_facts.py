"""Table facts observer: what the lint needs to know, read in the rehearsal's first phase.

When the first phase starts (the load already running): row counts, sizes, column types and indexes of every
table, and the statistics' read and write counts; when it ends, the counts again. A table whose counts grew
is one the load touches. Written whole to streams/table_facts.json, for `rehearse lint --facts RUN_DIR`.
The statistics reach the counters about once a second, so a first phase of 2 s or more tells them apart.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from harness.core.postgres import CHECK_APPLICATION
from harness.core.streams import write_atomic
from harness.events import Events
from harness.lint.facts import FACTS_FILE, Facts, activity, read_facts
from harness.observe.base import ObserverContext
from harness.records.run import Phase

STREAM = FACTS_FILE


class TableFactsObserver:
    name = "table-facts"

    def __init__(self, context: ObserverContext) -> None:
        self.context = context
        self.first = context.plan.timeline[0].name if context.plan.timeline else None
        self.facts: Facts | None = None
        self.before: dict[str, int] = {}
        self.written = False

    def attach(self, events: Events) -> None:
        events.phase_started.add_listener(self._phase_started)
        events.phase_ending.add_listener(self._phase_ending)

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.context.database.dsn(), autocommit=True, application_name=CHECK_APPLICATION,
                               connect_timeout=10)

    def _phase_started(self, phase: Phase, **_: Any) -> None:
        if phase.name != self.first or self.facts is not None:
            return
        with self._connect() as conn:
            self.facts = read_facts(conn, f"rehearsal {self.context.run.run_id} (start of phase {phase.name})",
                                    tuple(self.context.plan.server_settings))
            self.before = activity(conn)

    def _phase_ending(self, phase: Phase, **_: Any) -> None:
        if phase.name != self.first or self.facts is None:
            return
        with self._connect() as conn:
            after = activity(conn)
        self._write(self.facts.with_touched(self.before, after, f"reads or writes during phase {phase.name}"))

    def _write(self, facts: Facts) -> None:
        write_atomic(self.context.run.stream(STREAM), json.dumps(facts.to_json(), indent=1) + "\n")
        self.written = True

    def close(self) -> None:
        if self.facts is not None and not self.written:  # the first phase was cut short: sizes, no `touched`
            try:
                self._write(self.facts)
            except OSError as exc:
                self.context.report_error(self.name, str(exc))

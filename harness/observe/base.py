"""The observer protocol: how anything that watches a rehearsal plugs in without the timeline knowing it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.core.database import Database
from harness.events import Events
from harness.plan import Plan
from harness.rundir import RunDir


@dataclass(frozen=True)
class ObserverContext:
    """What an observer gets when it is created: the plan, the database, the run directory, the events."""

    plan: Plan
    database: Database
    run: RunDir
    events: Events
    report_error: Callable[[str, str], None]  # (source, message): goes to the run's observer errors
    say: Callable[[str], None]
    service_url: str = ""  # the service's own URL (loopback, the same for every release), for its API and probes
    service_environ: Callable[[], dict[str, str] | None] | None = None  # the running service's environment

    def reporter(self, source: str) -> Callable[[str], None]:
        """report_error bound to one source, for pollers."""
        return lambda message: self.report_error(source, message)


class Observer(Protocol):
    """Something that watches a rehearsal. Created once the database is ready; closed before teardown."""

    name: str

    def attach(self, events: Events) -> None:
        """Subscribe to the events it needs, and start whatever runs from now on."""

    def close(self) -> None:
        """Stop what it runs, flush and close its streams. Never raises: errors go to report_error."""


ObserverFactory = Callable[[ObserverContext], "Observer | None"]

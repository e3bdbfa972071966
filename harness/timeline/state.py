"""What the timeline's actions act on: the running environment, the migrations applied, the version served."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.core.database import Database
from harness.environments.base import Environment
from harness.events import Events
from harness.plan import Plan, Release
from harness.records.run import Phase
from harness.rundir import RunDir, RunLog
from harness.service.dependency_stub import DependencyStubs
from harness.service.swap import ServiceControl
from harness.upgrade.migrate import Migrator


class Skip(Exception):
    """Raised by an action that has nothing to do here; the message says why (recorded as skipped)."""


@dataclass
class Rehearsal:
    plan: Plan
    env: Environment
    database: Database
    migrator: Migrator
    events: Events
    log: RunLog
    say: Callable[[str], None]
    serving: Release  # the release the service runs now
    phase: Phase | None = None  # the phase running now
    upgrade_failed: bool = False  # the last migrate failed (and was not reverted since)
    control: ServiceControl | None = None  # how the service is swapped (service.swap), and the proxy
    revert_failed: str | None = None  # the on_failure policy of the last revert, when it failed
    url: str = ""  # the service's stable URL (the load may go through the proxy)
    beside: Release | None = None  # the release running beside the service (start_other)
    run: RunDir | None = None  # for actions that own a stream of their own (quarantine, cleanup)
    stack: contextlib.ExitStack | None = None  # the run's teardown: what an action starts, it stops there
    wait: Callable[[float], None] = field(default=time.sleep)  # sleeps; raises when a fatal fault ends the run
    dependencies: DependencyStubs | None = None  # the stubs of the plan's [[dependencies]] (the dependency action)

    @property
    def old(self) -> Release:
        return self.plan.releases[self.plan.from_version]

    @property
    def new(self) -> Release:
        return self.plan.releases[self.plan.to_version]

    @property
    def phase_name(self) -> str:
        assert self.phase is not None, "actions run inside a phase"
        return self.phase.name

"""Every observer of a rehearsal, in the order they attach (and the reverse order they close).

A new observer is one module with a factory `(ObserverContext) -> Observer | None` and one line here;
the timeline and the migration runners never change for it.
"""

from __future__ import annotations

from harness.inject.contention import ContentionObserver
from harness.observe.app_locks import AppLockObserver
from harness.observe.base import ObserverFactory
from harness.observe.health import HealthObserver
from harness.observe.live import live_observer
from harness.observe.locks import LockObserver
from harness.observe.migration_backends import MigrationBackendsObserver
from harness.observe.request_parts import RequestPartsObserver
from harness.observe.table_facts import TableFactsObserver
from harness.verify.rollback import RollbackObserver

OBSERVERS: tuple[ObserverFactory, ...] = (
    HealthObserver,  # the service's health check, every half second, for the whole run
    LockObserver,  # lock waits, for the whole run
    AppLockObserver,  # the order in which the service's transactions take their table locks
    MigrationBackendsObserver,  # the backends of migration commands, while each runs
    ContentionObserver,  # the plan's [[contention]] sessions, during their phases
    RollbackObserver,  # schema and data snapshots around the upgrade and the rollback
    TableFactsObserver,  # sizes, types and what the load touches, in the first phase (for the lint)
    RequestPartsObserver,  # the requests streams parsed into Parquet parts as they grow (long runs' reports)
    live_observer,  # the live view (rehearse run --progress): phase, time left, rps, p99, errors, lock waits
)

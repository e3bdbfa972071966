"""Was the rollback safe? Every check, each failed one a reason of the verdict.

- the schema (verify.catalog): back to the baseline, but for the leftovers the upgrade's releases declare;
- rows of the plan's tables (verify.checksum): none lost or changed since the baseline, nor since just before
  the rollback (rows written during the upgrade); tables traffic updates are matched by key;
- data the upgrade wrote (verify.destroyed): tables and columns it added, values it converted;
- acknowledged writes (verify.acknowledged): each still there, in the database and through the service's API;
- configuration (verify.config): the plan's config files, the service's environment, feature flags;
- the migrations (verify.migration_state): what committed, what was undone, a down-migration that failed;
- an upgrade applied again after the rollback: cleanly, and to the same schema.

RollbackCheck does the work; RollbackObserver runs it at the right moments of the plan's timeline, each run of
it inside a check window (streams/checks.jsonl) that the phase figures leave out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.core.database import Database
from harness.core.errors import PlanError
from harness.core.streams import JsonLines
from harness.events import Events
from harness.load.contract import ACKNOWLEDGED_STREAM
from harness.observe.base import ObserverContext
from harness.plan.model import RollbackSpec
from harness.records.run import (
    AcknowledgedCheck,
    ActionRecord,
    CheckWindow,
    DestroyedData,
    Phase,
    ReupgradeResult,
    RollbackResult,
    Step,
    Swap,
    TableChange,
)
from harness.verify import reasons
from harness.verify.acknowledged import check_acknowledged, read_acknowledged
from harness.verify.catalog import Catalog, CatalogDiff, diff_catalogs, snapshot_catalog, split_leftovers
from harness.verify.checksum import CheckSession, Comparison, RowSnapshot, TableProblem, compare, take_snapshot
from harness.verify.config import (
    ConfigSnapshot,
    environment_diff,
    files_diff,
    flags_diff,
    hashed_environment,
    read_files,
    read_flags,
    restore_files,
)
from harness.verify.destroyed import UpgradeData, destroyed_by_rollback, measure_upgrade
from harness.verify.migration_state import MigrationLedger, read_version_table

STREAM = "rollback.jsonl"
CHECKS_STREAM = "checks.jsonl"
ACK_SETTLE_S = 0.5  # acknowledgements newer than this may still be on their way to the file


class RollbackCheck:
    """Verbs, in timeline order: before_upgrade(), after_upgrade(status), before_rollback(), after_rollback(),
    after_reupgrade(phase, errors), then result(); close() at the end."""

    def __init__(self, database: Database, tables: list[str], *, keys_only: list[str] | tuple[str, ...] = (),
                 allow_leftover: list[str] | tuple[str, ...] = (), spec: RollbackSpec | None = None,
                 service_url: str | None = None,
                 service_environ: Callable[[], dict[str, str] | None] | None = None,
                 acknowledged_file: Path | None = None) -> None:
        self.database = database
        self.spec = spec or RollbackSpec(tables=tuple(tables), keys_only=tuple(keys_only))
        self.tables = list(dict.fromkeys([*tables, *keys_only, *self.spec.keys_only]))
        self.keys_only = set(keys_only) | set(self.spec.keys_only)
        self.allow = list(allow_leftover)
        self.service_url, self.service_environ = service_url, service_environ
        self.acknowledged_file = acknowledged_file
        self.phases: list[tuple[str, float]] = []  # (name, started): when each acknowledgement was made
        self.ledger = MigrationLedger(version_table=self.spec.version_table)
        self.session: CheckSession | None = None
        self.baseline_catalog: Catalog | None = None
        self.upgraded_catalog: Catalog | None = None
        self.baseline: dict[str, RowSnapshot] = {}
        self.pre_rollback: dict[str, RowSnapshot] = {}
        self.config_before = ConfigSnapshot()
        self.flags_file_before: dict[str, bytes | None] = {}
        self.upgrade_data: UpgradeData | None = None
        self.diff = CatalogDiff()
        self.changes: list[TableChange] = []
        self.destroyed: list[DestroyedData] = []
        self.acknowledged: list[AcknowledgedCheck] = []
        self.config_diff: list[str] = []
        self.flags_diff: list[str] = []
        self.reupgrade: ReupgradeResult | None = None
        self.completed = False

    def _session(self) -> CheckSession:
        if self.session is None:
            self.session = CheckSession(self.database)
        return self.session

    def before_upgrade(self) -> None:
        """Catalog, row snapshots, configuration, flags and the migration tool's table, before the upgrade."""
        session = self._session()
        self.baseline_catalog = snapshot_catalog(self.database)
        self.baseline = {t: take_snapshot(session, t) for t in self.tables}
        self.config_before = self._config()
        if self.spec.flags is not None and self.spec.flags.file is not None:
            self.flags_file_before = read_files((self.spec.flags.file,))
        self._versions("before upgrade")

    def after_upgrade(self, status: str) -> None:
        """The schema the upgrade built (to compare a re-upgrade with), and how it went (ok, failed, killed)."""
        self.upgraded_catalog = snapshot_catalog(self.database)
        self.ledger.upgrade = status
        self._versions("after upgrade")

    def before_rollback(self) -> None:
        """What the upgrade added or changed, and every row now (over the baseline's columns)."""
        session = self._session()
        if self.baseline_catalog is not None:
            self.upgrade_data = measure_upgrade(session, self.baseline_catalog, snapshot_catalog(self.database))
        self.pre_rollback = {t: take_snapshot(session, t, snap.columns, snap.bucketing)
                             for t, snap in self.baseline.items()}

    def after_rollback(self) -> None:
        """Compare everything with the baseline; what the upgrade wrote with what is left of it."""
        session = self._session()
        after = snapshot_catalog(self.database)
        self.diff = split_leftovers(diff_catalogs(self.baseline_catalog or {}, after), self.allow)
        self.changes = []
        for table, base in self.baseline.items():
            by_key = table in self.keys_only
            self.changes.append(_change(compare(session, base, keys_only=by_key), "baseline", base))
            pre = self.pre_rollback.get(table)
            if pre is not None:
                found = compare(session, pre, since=base, keys_only=by_key)
                self.changes.append(_change(found, "before_rollback", pre))
        self.destroyed = destroyed_by_rollback(session, self.upgrade_data, after) if self.upgrade_data else []
        self.acknowledged = self._acknowledged(session)
        now = self._config()
        self.config_diff = files_diff(self.config_before.files, now.files) + \
            environment_diff(self.config_before.environment, now.environment)
        self.flags_diff = flags_diff(self.config_before.flags, now.flags)
        self._versions("after rollback")
        self.completed = True

    def after_reupgrade(self, phase: str, errors: list[str]) -> ReupgradeResult:
        """The upgrade applied again: its failed steps, and how its schema differs from the first upgrade's."""
        again = snapshot_catalog(self.database)
        differences = [d.line() for d in diff_catalogs(self.upgraded_catalog or {}, again, positions=False)] \
            if self.upgraded_catalog is not None else []
        self.reupgrade = ReupgradeResult(phase, clean=not errors and not differences, errors=errors,
                                         schema_differences=differences)
        return self.reupgrade

    def _config(self) -> ConfigSnapshot:
        environ = self.service_environ() if self.spec.environment and self.service_environ else None
        return ConfigSnapshot(read_files(self.spec.config_files), hashed_environment(environ),
                              read_flags(self.database, self.spec.flags) if self.spec.flags else None)

    def _versions(self, moment: str) -> None:
        if self.spec.version_table:
            self.ledger.versions[moment] = read_version_table(self.database, self.spec.version_table)

    def _acknowledged(self, session: CheckSession) -> list[AcknowledgedCheck]:
        if not self.spec.acknowledged or self.acknowledged_file is None:
            return []
        keys = read_acknowledged(self.acknowledged_file, time.time() - ACK_SETTLE_S)
        return [check_acknowledged(session, spec, keys.get(spec.table, {}), self.phases, self.service_url)
                for spec in self.spec.acknowledged]

    def result(self) -> RollbackResult:
        state = self.ledger.state() if self.ledger.upgrade_phase else None
        found = (reasons.schema_reason(self.diff.lines()) + reasons.destroyed_reason(self.destroyed)
                 + reasons.rows_reason(self.changes) + reasons.acknowledged_reason(self.acknowledged)
                 + reasons.config_reason(self.config_diff) + reasons.flags_reason(self.flags_diff)
                 + reasons.down_reason(state) + reasons.reupgrade_reason(self.reupgrade))
        return RollbackResult(safe=self.completed and not found, checked=self.completed,
                              schema_diff=self.diff.lines(), data_changes=self.changes, reasons=found,
                              allowed_leftovers=[d.line() for d in self.diff.allowed], destroyed=self.destroyed,
                              acknowledged=self.acknowledged, config_diff=self.config_diff, flags_diff=self.flags_diff,
                              migration=state, reupgrade=self.reupgrade)

    @property
    def safe(self) -> bool:
        return self.result().safe

    def close(self) -> None:
        """Drop the snapshots (the session's temporary tables) and put the plan's files back as they were."""
        if self.config_before.files:
            restore_files(self.config_before)
        if self.flags_file_before:
            restore_files(ConfigSnapshot(self.flags_file_before))
        session, self.session = self.session, None
        if session is not None:
            session.close()


def _change(found: Comparison, label: str, snapshot: RowSnapshot) -> TableChange:
    return TableChange(found.table, label, snapshot.rows, found.rows_after, lost=found.lost, changed=found.changed,
                       lost_written_during_upgrade=found.lost_written_since, missing_columns=found.missing_columns,
                       examples={"lost": found.lost_examples, "changed": found.changed_examples})


class RollbackObserver:
    """Observer: runs the RollbackCheck around the timeline's first migrate, its first revert after it, and
    the first migrate after that (a re-upgrade)."""

    name = "rollback"

    def __init__(self, context: ObserverContext) -> None:
        self.context = context
        plan = context.plan
        self.check = RollbackCheck(context.database, plan.rollback.checked_tables, spec=plan.rollback,
                                   allow_leftover=plan.allowed_leftovers(), service_url=context.service_url,
                                   service_environ=context.service_environ,
                                   acknowledged_file=context.run.stream(ACKNOWLEDGED_STREAM))
        self.out = JsonLines(context.run.stream(STREAM))
        self.windows = JsonLines(context.run.stream(CHECKS_STREAM))
        self.stage = "waiting"  # -> baseline -> upgraded -> pre-rollback -> done -> reupgraded
        timeline = plan.timeline
        self.migrate_at = _first(timeline, "migrate", 0)
        self.revert_at = None if self.migrate_at is None else _first(timeline, "revert", self.migrate_at)
        self.reupgrade_at = None if self.revert_at is None else _first(timeline, "migrate", self.revert_at + 1)
        self.check.ledger.upgrade_phase = None if self.migrate_at is None else timeline[self.migrate_at].name
        self.check.ledger.rollback_phase = None if self.revert_at is None else timeline[self.revert_at].name
        self.check.ledger.serving = plan.from_version
        self.ended_actions = 0
        self.reupgrade_steps: list[Step] = []
        self.check_seconds = 0.0

    def attach(self, events: Events) -> None:
        if self.revert_at is None:
            return
        events.phase_started.add_listener(self._phase_started)
        events.phase_ending.add_listener(self._phase_ending)
        events.action_started.add_listener(self._action_started)
        events.action_ended.add_listener(self._action_ended)
        events.step_recorded.add_listener(self._step)
        events.swap_ended.add_listener(self._swapped)

    def _phase_started(self, phase: Phase, **_: Any) -> None:
        self.check.phases.append((phase.name, phase.started))

    def _step(self, step: Step, **_: Any) -> None:
        self.check.ledger.step(step)
        if self.reupgrade_at is not None and step.phase == self.context.plan.timeline[self.reupgrade_at].name:
            self.reupgrade_steps.append(step)

    def _swapped(self, swap: Swap, **_: Any) -> None:
        self.check.ledger.serving = swap.to_version

    def _phase_ending(self, phase: Phase, **_: Any) -> None:
        timeline = self.context.plan.timeline
        assert self.migrate_at is not None and self.revert_at is not None
        if self.stage == "waiting" and self.migrate_at > 0 and phase.name == timeline[self.migrate_at - 1].name:
            self._baseline(phase)
        elif self.stage == "upgraded" and self.revert_at - 1 > self.migrate_at \
                and phase.name == timeline[self.revert_at - 1].name:
            self._window("before_rollback", phase, self.check.before_rollback)
            self.stage = "pre-rollback"

    def _action_started(self, phase: Phase, action: Any, **_: Any) -> None:
        if self.stage == "waiting" and action.name == "migrate":
            self._baseline(phase)
        elif self.stage == "upgraded" and action.name == "revert":
            self._window("before_rollback", phase, self.check.before_rollback)
            self.stage = "pre-rollback"

    def _action_ended(self, phase: Phase, action: Any, record: ActionRecord, **_: Any) -> None:
        timeline = self.context.plan.timeline
        assert self.revert_at is not None
        revert_phase = timeline[self.revert_at]
        if phase.name == revert_phase.name:
            self.ended_actions += 1
        if self.stage == "baseline" and action.name == "migrate":
            status = "ok" if record.status == "ok" else \
                "killed" if "killed" in (record.message or "") else record.status
            self._window("after_upgrade", phase, lambda: self.check.after_upgrade(status))
            self.stage = "upgraded"
        if self.stage == "done" and action.name == "migrate" and self.reupgrade_at is not None \
                and phase.name == timeline[self.reupgrade_at].name:
            errors = [f"{s.source}: {s.sql[:120]} -> {s.sqlstate or 'error'}: {s.error}"
                      for s in self.reupgrade_steps if s.error]
            result = self._window("after_reupgrade", phase, lambda: self.check.after_reupgrade(phase.name, errors))
            self.out.write({"kind": "reupgrade", **asdict(result)})
            self.stage = "reupgraded"
            return
        if phase.name != revert_phase.name or self.stage not in ("upgraded", "pre-rollback") \
                or self.ended_actions < len(revert_phase.actions):
            return
        self.stage = "done"
        started = time.time()
        try:
            self._window("after_rollback", phase, self.check.after_rollback)
            result = self.check.result()
        except Exception as exc:  # noqa: BLE001 - the verdict says the check could not run, and why
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            result = RollbackResult(safe=False, checked=False, error=reason)
        result.check_seconds = self.check_seconds
        self.out.write({"kind": "verdict", **asdict(result), "phase": phase.name,
                        "checked_at": started})

    def _baseline(self, phase: Phase) -> None:
        try:
            self._window("before_upgrade", phase, self.check.before_upgrade)
        except TableProblem as problem:
            raise PlanError(self.context.plan.path, "rollback.tables", str(problem)) from None
        self.stage = "baseline"

    def _window(self, name: str, phase: Phase, run: Callable[[], Any]) -> Any:
        with self._marked(name, phase):
            return run()

    @contextmanager
    def _marked(self, name: str, phase: Phase) -> Iterator[None]:
        started = time.time()
        try:
            yield
        finally:
            window = CheckWindow(name, phase.name, started, time.time())
            self.check_seconds += window.seconds
            self.windows.write(asdict(window))

    def close(self) -> None:
        try:
            self.check.close()
        finally:
            self.out.close()
            self.windows.close()


def _first(timeline: Any, action: str, start: int) -> int | None:
    return next((i for i, p in enumerate(timeline) if i >= start and any(a.name == action for a in p.actions)), None)

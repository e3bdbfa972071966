"""Was the rollback safe? Schema back to baseline, and no row of the named tables lost or changed.

RollbackCheck does the snapshots and the comparison; RollbackObserver runs them at the right moments of the
plan's timeline: the baseline just before the first upgrade (the end of the phase before it), the rows
written meanwhile just before the first revert, and the comparison once the revert's phase has run its actions.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from harness.core.database import Database
from harness.core.errors import PlanError
from harness.core.streams import JsonLines
from harness.events import Events
from harness.observe.base import ObserverContext
from harness.records.run import ActionRecord, Phase, RollbackResult
from harness.verify.data import TableChanges, TableProblem, TableSnapshot, compare, snapshot_tables
from harness.verify.schema import schema_diff, snapshot_schema

STREAM = "rollback.jsonl"


class RollbackCheck:
    """Verbs, in timeline order: before_upgrade(), before_rollback(), after_rollback(), then result()."""

    def __init__(self, database: Database, tables: list[str], keys: dict[str, list[str]] | None = None,
                 ignore: dict[str, list[str]] | None = None) -> None:
        self.database, self.tables = database, tables
        self.keys, self.ignore = keys or {}, ignore or {}  # plan rollback.keys / rollback.ignore_columns
        self.baseline_schema: set[str] | None = None
        self.baseline: dict[str, TableSnapshot] = {}
        self.pre_rollback: dict[str, TableSnapshot] = {}
        self.diff: list[str] = []
        self.changes: list[TableChanges] = []
        self.completed = False

    def before_upgrade(self) -> None:
        self.baseline_schema = snapshot_schema(self.database)
        self.baseline = snapshot_tables(self.database, self.tables, keys=self.keys, ignore=self.ignore)

    def before_rollback(self) -> None:
        columns = {t: snap.columns for t, snap in self.baseline.items()}
        self.pre_rollback = snapshot_tables(self.database, self.tables, columns, keys=self.keys)

    def after_rollback(self) -> None:
        self.diff = schema_diff(self.baseline_schema or set(), snapshot_schema(self.database))
        post_base = snapshot_tables(self.database, self.tables, {t: s.columns for t, s in self.baseline.items()},
                                    keys=self.keys)
        self.changes = []
        for table, base in self.baseline.items():
            after = post_base[table]
            if after.columns != base.columns:
                missing = [c for c in base.columns if c not in after.columns]
                self.changes.append(TableChanges(table, "baseline", len(base), len(after), missing_columns=missing))
                continue
            self.changes.append(compare(base, after, "baseline"))
        for table, pre in self.pre_rollback.items():
            if pre.columns == post_base[table].columns:
                after = post_base[table]
            else:
                after = snapshot_tables(self.database, [table], {table: pre.columns}, keys=self.keys)[table]
            written = set(pre.rows.index.difference(self.baseline[table].rows.index))
            self.changes.append(compare(pre, after, "before_rollback", written))
        self.completed = True

    @property
    def safe(self) -> bool:
        return self.completed and not self.diff and all(c.clean for c in self.changes)

    def result(self) -> RollbackResult:
        return RollbackResult(safe=self.safe, checked=self.completed, schema_diff=self.diff,
                              data_changes=[c.record() for c in self.changes])


class RollbackObserver:
    """Observer: runs the RollbackCheck around the timeline's first migrate and first revert after it."""

    name = "rollback"

    def __init__(self, context: ObserverContext) -> None:
        self.context = context
        self.check = RollbackCheck(context.database, context.plan.rollback_tables, context.plan.rollback_keys,
                                   context.plan.rollback_ignore)
        self.out = JsonLines(context.run.stream(STREAM))
        self.stage = "waiting"  # -> baseline taken -> pre-rollback taken -> done
        timeline = context.plan.timeline
        self.migrate_at = next((i for i, p in enumerate(timeline) if any(a.name == "migrate" for a in p.actions)),
                               None)
        self.revert_at = None if self.migrate_at is None else next(
            (i for i, p in enumerate(timeline) if i >= self.migrate_at and any(a.name == "revert" for a in p.actions)),
            None)
        self.ended_actions = 0

    def attach(self, events: Events) -> None:
        if self.revert_at is None:
            return
        events.phase_ending.add_listener(self._phase_ending)
        events.action_started.add_listener(self._action_started)
        events.action_ended.add_listener(self._action_ended)

    def _phase_ending(self, phase: Phase, **_: Any) -> None:
        timeline = self.context.plan.timeline
        assert self.migrate_at is not None and self.revert_at is not None
        if self.stage == "waiting" and self.migrate_at > 0 and phase.name == timeline[self.migrate_at - 1].name:
            self._baseline()
        elif self.stage == "baseline" and self.revert_at - 1 > self.migrate_at \
                and phase.name == timeline[self.revert_at - 1].name:
            self._step("pre-rollback", self.check.before_rollback)

    def _action_started(self, phase: Phase, action: Any, **_: Any) -> None:
        if self.stage == "waiting" and action.name == "migrate":
            self._baseline()
        elif self.stage == "baseline" and action.name == "revert":
            self._step("pre-rollback", self.check.before_rollback)

    def _action_ended(self, phase: Phase, record: ActionRecord, **_: Any) -> None:
        assert self.revert_at is not None
        revert_phase = self.context.plan.timeline[self.revert_at]
        if phase.name != revert_phase.name or self.stage != "pre-rollback":
            return
        self.ended_actions += 1
        if self.ended_actions < len(revert_phase.actions):
            return
        self.stage = "done"
        try:
            self.check.after_rollback()
            result = self.check.result()
        except Exception as exc:  # noqa: BLE001 - the verdict says the check could not run, and why
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            result = RollbackResult(safe=False, checked=False, error=reason)
        self.out.write(asdict(result) | {"phase": phase.name})

    def _baseline(self) -> None:
        try:
            self._step("baseline", self.check.before_upgrade)
        except TableProblem as problem:
            raise PlanError(self.context.plan.path, "rollback.tables", str(problem)) from None

    def _step(self, stage: str, run: Any) -> None:
        self.stage = stage
        run()

    def close(self) -> None:
        self.out.close()

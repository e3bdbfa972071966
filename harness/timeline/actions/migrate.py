"""migrate: apply the up-migrations of every release from the from-version to the to-version.

`{ action = "migrate", kill_after_s = N }` kills the migration N seconds in (the SQL runner's backend is
terminated, a migration command gets SIGKILL): a deploy that crashed mid-way, to rehearse the partial state.
`{ action = "migrate", files = N }` applies only the next N pending units (a SQL file, or a release's
migration command), so a timeline can give each migration file a phase of its own.
"""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import MigrationError, PlanError
from harness.plan import ActionCall, Plan
from harness.plan.reader import did_you_mean
from harness.timeline.actions.base import argument
from harness.timeline.state import Rehearsal, Skip


class Migrate:
    name: ClassVar[str] = "migrate"

    ARGUMENTS = ("kill_after_s", "expect_failure", "files")

    def __init__(self, kill_after_s: float | None = None, expect_failure: bool = False,
                 files: int | None = None) -> None:
        self.kill_after_s = kill_after_s
        self.expect_failure = expect_failure  # the plan rehearses a failing migration: its failure is no verdict
        self.files = files

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Migrate:
        for name in call.args:
            if name not in cls.ARGUMENTS:
                raise PlanError(plan.path, f"{call.key}.{name}",
                                f"unknown argument of 'migrate'{did_you_mean(name, cls.ARGUMENTS)}")
        kill_after_s = argument(call, plan, "kill_after_s", (int, float, type(None)), None)
        if kill_after_s is not None and not 0 < kill_after_s <= 3600:
            raise PlanError(plan.path, f"{call.key}.kill_after_s", f"must be between 0 and 3600, got {kill_after_s!r}")
        expect_failure = bool(argument(call, plan, "expect_failure", (bool,), False))
        files = argument(call, plan, "files", (int,), None) if "files" in call.args else None
        if files is not None and not 1 <= files <= 100_000:
            raise PlanError(plan.path, f"{call.key}.files", f"must be between 1 and 100000, got {files!r}")
        return cls(None if kill_after_s is None else float(kill_after_s), expect_failure, files)

    def describe(self, plan: Plan) -> str:
        killed = f", killed after {self.kill_after_s:g} s" if self.kill_after_s is not None else ""
        expected = " (expected to fail)" if self.expect_failure else ""
        versions = ", ".join(r.version for r in plan.upgrade_path())
        what = f"migrations of {versions}" if self.files is None else \
            f"the next {self.files} migration file{'s' if self.files > 1 else ''} of {versions}"
        return f"{what}{killed}{expected}"

    def run(self, rehearsal: Rehearsal) -> str | None:
        migrator = rehearsal.migrator
        releases = rehearsal.plan.upgrade_path()
        if not migrator.pending(releases) or (self.files is None and migrator.applied):
            raise Skip("the upgrade's migrations are already applied (revert them first)")
        try:
            migrator.apply(releases, phase=rehearsal.phase_name, kill_after_s=self.kill_after_s, limit=self.files)
        except MigrationError:
            rehearsal.upgrade_failed = True
            rehearsal.log.write("invalid_indexes", indexes=migrator.sql.invalid_indexes())
            raise
        rehearsal.upgrade_failed = False
        return None

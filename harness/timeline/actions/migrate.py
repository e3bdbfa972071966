"""migrate: apply the up-migrations of every release from the from-version to the to-version.

`{ action = "migrate", files = N }` applies only the next N pending units (a SQL file, or a release's
migration command), so a timeline can give each migration file a phase of its own.
"""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import MigrationError, PlanError
from harness.plan import ActionCall, Plan
from harness.timeline.actions.base import argument
from harness.timeline.state import Rehearsal, Skip


class Migrate:
    name: ClassVar[str] = "migrate"

    def __init__(self, files: int | None = None) -> None:
        self.files = files

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Migrate:
        for name in call.args:
            if name != "files":
                raise PlanError(plan.path, f"{call.key}.{name}", "unknown argument of 'migrate' (it takes files)")
        files = argument(call, plan, "files", (int,), None) if "files" in call.args else None
        if files is not None and not 1 <= files <= 100_000:
            raise PlanError(plan.path, f"{call.key}.files", f"must be between 1 and 100000, got {files!r}")
        return cls(files)

    def describe(self, plan: Plan) -> str:
        versions = ", ".join(r.version for r in plan.upgrade_path())
        if self.files is None:
            return f"migrations of {versions}"
        return f"the next {self.files} migration file{'s' if self.files > 1 else ''} of {versions}"

    def run(self, rehearsal: Rehearsal) -> str | None:
        migrator = rehearsal.migrator
        releases = rehearsal.plan.upgrade_path()
        if not migrator.pending(releases):
            raise Skip("the upgrade's migrations are already applied (revert them first)")
        try:
            migrator.apply(releases, phase=rehearsal.phase_name, limit=self.files)
        except MigrationError:
            rehearsal.upgrade_failed = True
            rehearsal.log.write("invalid_indexes", indexes=migrator.sql.invalid_indexes())
            raise
        rehearsal.upgrade_failed = False
        return None

"""revert: run the down-migrations of everything the upgrade applied, newest first."""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import MigrationError
from harness.plan import Plan
from harness.timeline.actions.base import WithoutArguments
from harness.timeline.state import Rehearsal, Skip


class Revert(WithoutArguments):
    name: ClassVar[str] = "revert"

    def describe(self, plan: Plan) -> str:
        return "down-migrations of what the upgrade applied"

    def run(self, rehearsal: Rehearsal) -> str | None:
        migrator = rehearsal.migrator
        if not migrator.applied:
            raise Skip("no migration is applied")
        try:
            migrator.revert(phase=rehearsal.phase_name)
        except MigrationError:
            rehearsal.log.write("invalid_indexes", indexes=migrator.sql.invalid_indexes())
            raise
        rehearsal.upgrade_failed = False
        return None

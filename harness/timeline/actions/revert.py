"""revert: run the down-migrations of everything the upgrade applied, newest first."""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import MigrationError
from harness.plan import ActionCall, Plan
from harness.timeline.actions.base import expect_failure_argument
from harness.timeline.state import Rehearsal, Skip


class Revert:
    name: ClassVar[str] = "revert"

    def __init__(self, expect_failure: bool = False) -> None:
        self.expect_failure = expect_failure  # the plan rehearses a failing migration: its failure is no verdict

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Revert:
        return cls(expect_failure_argument(call, plan))

    def describe(self, plan: Plan) -> str:
        return "down-migrations of what the upgrade applied" + (" (expected to fail)" if self.expect_failure else "")

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

"""migrate: apply the up-migrations of every release from the from-version to the to-version."""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import MigrationError
from harness.plan import ActionCall, Plan
from harness.timeline.actions.base import expect_failure_argument
from harness.timeline.state import Rehearsal, Skip


class Migrate:
    name: ClassVar[str] = "migrate"

    def __init__(self, expect_failure: bool = False) -> None:
        self.expect_failure = expect_failure  # the plan rehearses a failing migration: its failure is no verdict

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Migrate:
        return cls(expect_failure_argument(call, plan))

    def describe(self, plan: Plan) -> str:
        return f"migrations of {', '.join(r.version for r in plan.upgrade_path())}" + (
            " (expected to fail)" if self.expect_failure else "")

    def run(self, rehearsal: Rehearsal) -> str | None:
        migrator = rehearsal.migrator
        if migrator.applied:
            raise Skip("the upgrade's migrations are already applied (revert them first)")
        try:
            migrator.apply(rehearsal.plan.upgrade_path(), phase=rehearsal.phase_name)
        except MigrationError:
            rehearsal.upgrade_failed = True
            rehearsal.log.write("invalid_indexes", indexes=migrator.sql.invalid_indexes())
            raise
        rehearsal.upgrade_failed = False
        return None

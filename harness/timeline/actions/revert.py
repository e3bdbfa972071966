"""revert: run the down-migrations of everything the upgrade applied, newest first.

`{ action = "revert", on_failure = "stay" | "swap_back" }` says what happens when a down-migration fails:
`stay` (the default) keeps the version that serves now on the schema the failure left, so the next swap_back
is skipped; `swap_back` lets the timeline's swap_back put the old version back on it anyway.
"""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import MigrationError, PlanError
from harness.plan import REVERT_FAILURE_POLICIES, ActionCall, Plan
from harness.plan.reader import did_you_mean
from harness.timeline.actions.base import argument
from harness.timeline.state import Rehearsal, Skip


class Revert:
    name: ClassVar[str] = "revert"

    ARGUMENTS = ("on_failure", "expect_failure")

    def __init__(self, on_failure: str = "stay", expect_failure: bool = False) -> None:
        self.on_failure = on_failure
        self.expect_failure = expect_failure  # the plan rehearses a failing migration: its failure is no verdict

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Revert:
        for name in call.args:
            if name not in cls.ARGUMENTS:
                raise PlanError(plan.path, f"{call.key}.{name}",
                                f"unknown argument of 'revert'{did_you_mean(name, cls.ARGUMENTS)}")
        policy = argument(call, plan, "on_failure", (str,), "stay")
        if policy not in REVERT_FAILURE_POLICIES:
            raise PlanError(plan.path, f"{call.key}.on_failure", f"must be one of {', '.join(REVERT_FAILURE_POLICIES)}"
                            f", got {policy!r}{did_you_mean(policy, REVERT_FAILURE_POLICIES)}")
        return cls(policy, bool(argument(call, plan, "expect_failure", (bool,), False)))

    def describe(self, plan: Plan) -> str:
        return "down-migrations of what the upgrade applied" + (
            "" if self.on_failure == "stay" else f" (on failure: {self.on_failure})") + (
            " (expected to fail)" if self.expect_failure else "")

    def run(self, rehearsal: Rehearsal) -> str | None:
        migrator = rehearsal.migrator
        if not migrator.applied:
            raise Skip("no migration is applied")
        rehearsal.revert_failed = None
        try:
            migrator.revert(phase=rehearsal.phase_name)
        except MigrationError as failure:
            rehearsal.revert_failed = self.on_failure
            rehearsal.log.write("invalid_indexes", indexes=migrator.sql.invalid_indexes())
            rehearsal.log.write("revert_failed", phase=rehearsal.phase_name, on_failure=self.on_failure,
                                serving=rehearsal.serving.version, error=str(failure))
            raise
        rehearsal.upgrade_failed = False
        return None

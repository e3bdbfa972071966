"""The action interface: one small verb set, one module per action (as pgroll's Operation).

An action is parsed from the plan before anything starts, says in one line what it will do, and runs inside
a phase. It returns a note on what it did, raises Skip when there is nothing to do, and lets MigrationError
through when a migration fails (the timeline records it and goes on).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self

from harness.core.errors import PlanError
from harness.plan import ActionCall, Plan
from harness.plan.reader import did_you_mean
from harness.timeline.state import Rehearsal


class Action(Protocol):
    name: ClassVar[str]

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Action:
        """Validate the action's arguments; raise PlanError naming call.key and the argument."""
        ...

    def describe(self, plan: Plan) -> str:
        """One line saying what it will do, for the terminal, the report and `rehearse check`."""
        ...

    def run(self, rehearsal: Rehearsal) -> str | None:
        """Do it, within the current phase; returns a short note (or None). Raise Skip to do nothing."""
        ...


class WithoutArguments:
    """Base of the actions that take no argument: parse rejects any."""

    name: ClassVar[str]

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Self:
        no_arguments(call, plan)
        return cls()


def no_arguments(call: ActionCall, plan: Plan) -> None:
    """For actions that take none: any argument is an unknown key."""
    for name in call.args:
        raise PlanError(plan.path, f"{call.key}.{name}", f"unknown argument of '{call.name}' (it takes none)")


def argument(call: ActionCall, plan: Plan, name: str, kinds: tuple[type, ...], default: Any) -> Any:
    value = call.args.get(name, default)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise PlanError(plan.path, f"{call.key}.{name}", f"must be {' or '.join(k.__name__ for k in kinds)}, "
                        f"got {value!r:.60}")
    return value


def expect_failure_argument(call: ActionCall, plan: Plan) -> bool:
    """`{ action = "migrate", expect_failure = true }`: the only argument of migrate and revert."""
    for name in call.args:
        if name != "expect_failure":
            raise PlanError(plan.path, f"{call.key}.{name}",
                            f"unknown argument of '{call.name}'{did_you_mean(name, ['expect_failure'])}")
    return bool(argument(call, plan, "expect_failure", (bool,), False))

"""soak: let the load run for a while, between other actions of a phase ({ action = "soak", seconds = N })."""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import PlanError
from harness.plan import ActionCall, Plan
from harness.timeline.actions.base import argument
from harness.timeline.state import Rehearsal


class Soak:
    name: ClassVar[str] = "soak"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> Soak:
        for name in call.args:
            if name != "seconds":
                raise PlanError(plan.path, f"{call.key}.{name}", "unknown argument of 'soak' (it takes seconds)")
        seconds = argument(call, plan, "seconds", (int, float), None)
        if not 0 <= seconds <= 86_400 or seconds != seconds:
            raise PlanError(plan.path, f"{call.key}.seconds", f"must be between 0 and 86400, got {seconds!r}")
        return cls(float(seconds))

    def describe(self, plan: Plan) -> str:
        return f"soak {self.seconds:g} s"

    def run(self, rehearsal: Rehearsal) -> str | None:
        rehearsal.wait(self.seconds)
        return None

"""swap_back: stop the service and start it at the from-version again."""

from __future__ import annotations

from typing import ClassVar

from harness.plan import Plan
from harness.timeline.actions.base import WithoutArguments
from harness.timeline.actions.swap import swap_to
from harness.timeline.state import Rehearsal, Skip


class SwapBack(WithoutArguments):
    name: ClassVar[str] = "swap_back"

    def describe(self, plan: Plan) -> str:
        return f"swap the service back to {plan.from_version}"

    def run(self, rehearsal: Rehearsal) -> str | None:
        if rehearsal.serving is rehearsal.old:
            raise Skip(f"the service already runs {rehearsal.old.version}")
        return swap_to(rehearsal, rehearsal.old)

"""dependency: change how a [[dependencies]] stub answers, from now on (or for `seconds`).

`{ action = "dependency", name = "payments", latency_ms = 300, error_rate = 0.5, status = 502, seconds = 10 }`;
`outage = true`: no answer at all (the connection is closed). What the action leaves out is the plan's
(`{ action = "dependency", name = "payments" }` brings the plan's behaviour back). After `seconds` the stub goes
back to the plan's behaviour on its own. Every change is a settings row of streams/dependency_calls.jsonl, with
its time.
"""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import EnvironmentFailure, PlanError
from harness.plan import ActionCall, Dependency, Plan, StubSettings
from harness.plan.dependencies import read_settings
from harness.plan.reader import Table, did_you_mean
from harness.service.dependency_stub import StubError
from harness.timeline.state import Rehearsal, Skip


class DependencyFault:
    name: ClassVar[str] = "dependency"

    def __init__(self, dependency: str, settings: StubSettings, seconds: float | None) -> None:
        self.dependency, self.settings, self.seconds = dependency, settings, seconds

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> DependencyFault:
        table = Table(plan.path, call.key, dict(call.args), set(plan.overrides))
        names = [d.name for d in plan.dependencies]
        if not names:
            raise PlanError(plan.path, call.key, "the dependency action needs [[dependencies]] in the plan")
        name = table.string("name")
        if name not in names:
            raise table.error("name", f"no dependency {name!r} in [[dependencies]]{did_you_mean(name, names)}")
        dependency: Dependency = next(d for d in plan.dependencies if d.name == name)
        settings = read_settings(table, dependency.settings, outage=True)
        seconds = table.number("seconds", None, maximum=86_400)
        table.done()
        return cls(name, settings, seconds)

    def describe(self, plan: Plan) -> str:
        s = self.settings
        if s.outage:
            what = "outage (no answer)"
        else:
            what = f"latency {s.latency_ms:g} ms, errors {s.error_rate:.0%} ({s.status})"
            if s.error_burst_ms and s.error_rate:
                what += f" in {s.error_burst_ms:g} ms bursts"
        return f"dependency {self.dependency}: {what}" + (f" for {self.seconds:g} s" if self.seconds else "")

    def run(self, rehearsal: Rehearsal) -> str | None:
        if rehearsal.dependencies is None:
            raise Skip("no dependency stubs run")
        try:
            rehearsal.dependencies.set(self.dependency, self.settings, self.seconds)
        except StubError as exc:
            raise EnvironmentFailure(f"the dependency stubs did not take the change: {exc}") from None
        return None

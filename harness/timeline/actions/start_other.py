"""start_other: start the version that is not serving beside the running one, and split the load between them.

`{ action = "start_other", share = 0.5 }`: the share of requests the harness's loopback proxy sends to the
instance beside (the rest go to the service the timeline swaps). Between migrate and swap it is the new binary
beside the old one on the new schema (a rolling deploy); before migrate, the new binary on the old schema; after
the swap, the old binary on the new schema. Each request is tagged with the version that answered it.
"""

from __future__ import annotations

from typing import ClassVar

from harness.core.errors import PlanError
from harness.plan import ActionCall, Plan
from harness.service.mixed import wait_other_healthy
from harness.timeline.actions.base import argument
from harness.timeline.state import Rehearsal, Skip


class StartOther:
    name: ClassVar[str] = "start_other"

    def __init__(self, share: float) -> None:
        self.share = share

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> StartOther:
        for name in call.args:
            if name != "share":
                raise PlanError(plan.path, f"{call.key}.{name}", "unknown argument of 'start_other' (it takes share)")
        share = argument(call, plan, "share", (int, float), 0.5)
        if not 0 < share <= 1:
            raise PlanError(plan.path, f"{call.key}.share", f"must be > 0 and <= 1, got {share!r}")
        return cls(float(share))

    def describe(self, plan: Plan) -> str:
        return f"start the other version beside the running one ({self.share:.0%} of requests to it)"

    def run(self, rehearsal: Rehearsal) -> str | None:
        proxy = rehearsal.mixed
        if proxy is None:
            raise Skip("no mixed-versions proxy runs")
        if rehearsal.beside is not None:
            raise Skip(f"{rehearsal.beside.version} already runs beside the service")
        other = rehearsal.new if rehearsal.serving is rehearsal.old else rehearsal.old
        url = rehearsal.env.start_other(other)
        try:
            waited = wait_other_healthy(url + rehearsal.plan.health_path, rehearsal.env.other_failure,
                                        rehearsal.plan.start_timeout_s)
        except BaseException:
            rehearsal.env.stop_other()
            raise
        proxy.add_other(url, other.version, self.share)
        rehearsal.beside = other
        serving = rehearsal.serving.version
        rehearsal.log.write("beside", phase=rehearsal.phase_name, version=other.version, serving=serving,
                            share=self.share, started=True)
        return f"{other.version} beside {serving} (healthy in {waited:.2f} s), {self.share:.0%} of requests"

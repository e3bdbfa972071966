"""swap: stop the service and start it at the to-version (skipped when the upgrade's migrations failed)."""

from __future__ import annotations

from typing import ClassVar

from harness.plan import Plan, Release
from harness.service import swap as service
from harness.timeline.actions.base import WithoutArguments
from harness.timeline.state import Rehearsal, Skip


class Swap(WithoutArguments):
    name: ClassVar[str] = "swap"

    def describe(self, plan: Plan) -> str:
        return f"swap the service to {plan.to_version}"

    def run(self, rehearsal: Rehearsal) -> str | None:
        if rehearsal.upgrade_failed:
            raise Skip(f"the upgrade's migrations failed: the service stays at {rehearsal.serving.version}")
        if rehearsal.serving is rehearsal.new:
            raise Skip(f"the service already runs {rehearsal.new.version}")
        return swap_to(rehearsal, rehearsal.new)


def swap_to(rehearsal: Rehearsal, release: Release) -> str:
    """Swap to `release` by the plan's strategy, announced and logged; returns the downtime as a note."""
    phase = rehearsal.phase_name
    old = rehearsal.serving
    rehearsal.events.swap_started.fire(phase=phase, from_version=old.version, to_version=release.version)
    control = rehearsal.control or service.ServiceControl(rehearsal.env, rehearsal.plan)
    done = control.swap(old, release, phase)
    rehearsal.serving = release
    rehearsal.log.write("swap", done)
    rehearsal.events.swap_ended.fire(swap=done)
    if done.strategy == "blue_green":
        return (f"{old.version} -> {release.version} blue_green: switched with no gap, old version drained and "
                f"stopped in {(done.ended_at or done.stopped_at) - done.stopped_at:.2f} s")
    return f"{old.version} -> {release.version} in {done.downtime_s:.2f} s"

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
    """Stop-then-start swap to `release`, announced and logged; returns the downtime as a note."""
    phase = rehearsal.phase_name
    old = rehearsal.serving
    rehearsal.events.swap_started.fire(phase=phase, from_version=old.version, to_version=release.version)
    done = service.swap(rehearsal.env, rehearsal.plan, old, release, phase)
    rehearsal.serving = release
    rehearsal.log.write("swap", done)
    rehearsal.events.swap_ended.fire(swap=done)
    return f"{old.version} -> {release.version} in {done.downtime_s:.2f} s"

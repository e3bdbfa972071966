"""The action vocabulary of the timeline: a registry of small modules behind one interface (base.Action).

`compile_timeline(plan)` turns the plan's [[timeline]] into phases of parsed actions before anything starts,
so an unknown action or a bad argument is a plan error with a hint, never a failure mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import PlanError
from harness.plan import Plan
from harness.plan.packages import package_releases
from harness.plan.reader import did_you_mean
from harness.timeline.actions.base import Action
from harness.timeline.actions.cleanup import Cleanup, releases_with_cleanup
from harness.timeline.actions.dependency import DependencyFault
from harness.timeline.actions.migrate import Migrate
from harness.timeline.actions.quarantine import Quarantine
from harness.timeline.actions.revert import Revert
from harness.timeline.actions.set_flag import SetFlag
from harness.timeline.actions.soak import Soak
from harness.timeline.actions.start_other import StartOther
from harness.timeline.actions.stop_other import StopOther
from harness.timeline.actions.swap import Swap
from harness.timeline.actions.swap_back import SwapBack

ACTIONS: dict[str, type[Action]] = {action.name: action for action in (Migrate, Swap, Revert, SwapBack, Soak,
                                                                       Quarantine, Cleanup)}
SETUP = "setup"  # the stage before the set-up migrations and the first service start (a reserved phase name)
ACTIONS |= {action.name: action for action in (StartOther, StopOther, SetFlag)}  # mixed versions, flags
ACTIONS |= {DependencyFault.name: DependencyFault}  # faults of the service's third-party APIs


@dataclass(frozen=True)
class PlannedPhase:
    name: str
    actions: tuple[Action, ...]
    soak_s: float


def compile_timeline(plan: Plan) -> list[PlannedPhase]:
    """The plan's timeline with every action parsed; raises PlanError for an unknown action or argument."""
    phases = []
    for phase in plan.timeline:
        actions = []
        for call in phase.actions:
            action = ACTIONS.get(call.name)
            if action is None:
                raise PlanError(plan.path, call.key, f"unknown action {call.name!r}{did_you_mean(call.name, ACTIONS)}")
            actions.append(action.parse(call, plan))
        phases.append(PlannedPhase(phase.name, tuple(actions), phase.soak_s))
    return _with_package_actions(plan, phases)


def _with_package_actions(plan: Plan, phases: list[PlannedPhase]) -> list[PlannedPhase]:
    """Releases from packages: the quarantine in a setup stage first, and the cleanup right after the first
    swap (unless the plan places it)."""
    if not package_releases(plan):
        return phases
    named = {action.name for phase in phases for action in phase.actions}
    if releases_with_cleanup(plan) and Cleanup.name not in named:
        for index, phase in enumerate(phases):
            position = next((i for i, a in enumerate(phase.actions) if a.name == Swap.name), None)
            if position is not None:
                actions = (*phase.actions[:position + 1], Cleanup(), *phase.actions[position + 1:])
                phases[index] = PlannedPhase(phase.name, actions, phase.soak_s)
                break
    return [PlannedPhase(SETUP, (Quarantine(),), 0.0), *phases]


def split_setup(phases: list[PlannedPhase]) -> tuple[tuple[Action, ...], list[PlannedPhase]]:
    """The setup stage's actions, and the timeline's phases."""
    setup = tuple(action for phase in phases if phase.name == SETUP for action in phase.actions)
    return setup, [phase for phase in phases if phase.name != SETUP]


def describe_timeline(plan: Plan, phases: list[PlannedPhase]) -> list[str]:
    """One line per phase: its actions, then its soak."""
    lines = []
    for phase in phases:
        steps = [action.describe(plan) for action in phase.actions]
        if phase.soak_s or not steps:
            steps.append(f"soak {phase.soak_s:g} s")
        lines.append(f"{phase.name}: {'; '.join(steps)}")
    return lines

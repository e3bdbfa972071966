"""stop_other: stop the instance started beside the service; all requests go to the service again."""

from __future__ import annotations

from typing import ClassVar

from harness.plan import ActionCall, Plan
from harness.timeline.actions.base import no_arguments
from harness.timeline.state import Rehearsal, Skip


class StopOther:
    name: ClassVar[str] = "stop_other"

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> StopOther:
        no_arguments(call, plan)
        return cls()

    def describe(self, plan: Plan) -> str:
        return "stop the instance beside the service"

    def run(self, rehearsal: Rehearsal) -> str | None:
        if rehearsal.beside is None or rehearsal.mixed is None:
            raise Skip("no instance runs beside the service")
        rehearsal.mixed.remove_other()
        rehearsal.env.stop_other()
        version, rehearsal.beside = rehearsal.beside.version, None
        rehearsal.log.write("beside", phase=rehearsal.phase_name, version=version, serving=rehearsal.serving.version,
                            share=0.0, started=False)
        return f"{version} stopped"

"""PostgreSQL server settings at start: the harness's own, then the plan's environment.server_settings.

They are given as `-c name=value` on the server's command line (local and docker alike), so settings that
need a restart (shared_buffers, max_connections, wal_level, ...) take effect like any other. A setting the
server refuses makes it exit: that is bad input, and `refused_setting` names it from the server's log.
"""

from __future__ import annotations

import re

from harness.core.errors import EnvironmentFailure, PlanError
from harness.plan import Plan

_REFUSED = re.compile(r'(unrecognized configuration parameter|invalid value for parameter|parameter) "([^"]+)"'
                      r'(?::\s*"([^"]*)")?([^\n]*)')


def command_line(harness: dict[str, str], plan_settings: dict[str, str]) -> list[str]:
    """`-c name=value` arguments: the harness's settings, the plan's over them (the plan cannot touch those
    the harness relies on: plan.load rejects them)."""
    merged = harness | plan_settings
    return [arg for name, value in merged.items() for arg in ("-c", f"{name}={value}")]


def refused_setting(log_text: str, plan: Plan) -> PlanError | None:
    """The PlanError naming the plan's setting the server refused to start with, if its log says so."""
    for match in _REFUSED.finditer(log_text):
        name = match.group(2).lower()
        if name in plan.server_settings:
            reason = match.group(1)
            detail = " ".join((match.group(4) or "").split()).strip(": ")
            problem = f"PostgreSQL refused it ({reason}" + (f": {detail}" if detail else "") + ")"
            return PlanError(plan.path, f"environment.server_settings.{name}", problem)
    return None


def explain_start_failure(failure: EnvironmentFailure, log_text: str, plan: Plan) -> Exception:
    """What to raise when the server did not start: bad input if it refused a plan setting, else `failure`."""
    return refused_setting(f"{log_text}\n{failure}", plan) or failure

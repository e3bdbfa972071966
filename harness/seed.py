"""Load the plan's seed data once the from-version schema exists."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.postgres import SEED_APPLICATION
from harness.core.processes import DeadlineExceeded, last_line, run_env, run_logged
from harness.core.text import expand, redact
from harness.plan import Plan, placeholders


def seed(plan: Plan, database: Database, log_path: Path, run_id: str) -> float:
    """Run the seed command to completion (at most seed.deadline_s); returns its duration in seconds.
    {dsn} on its command line has no password: the command gets it as PGPASSWORD."""
    if plan.seed_command is None:
        return 0.0
    values = placeholders(plan, dsn=database.dsn_without_password())
    argv = [expand(part, values) for part in plan.seed_command]
    env = {**os.environ, **run_env(run_id), **database.libpq_env(SEED_APPLICATION)}
    started = time.monotonic()
    try:
        code = run_logged(argv, plan.dir, env, log_path, deadline_s=plan.seed_deadline_s)
    except DeadlineExceeded as exceeded:
        raise EnvironmentFailure(f"seed command {exceeded} (seed.deadline_s) and was stopped (log: {log_path})") \
            from None
    if code != 0:
        raise EnvironmentFailure(f"seed command failed with exit code {code}: "
                                 f"{redact(last_line(log_path), database.password)} (log: {log_path})")
    return time.monotonic() - started

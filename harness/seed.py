"""Load the plan's seed data once the from-version schema exists."""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.postgres import SEED_APPLICATION
from harness.core.processes import RUN_ID_ENV, last_line, run_logged
from harness.core.text import expand, redact
from harness.plan import Plan, placeholders


def seed(plan: Plan, database: Database, log_path: Path, run_id: str) -> float:
    """Run the seed command to completion; returns its duration in seconds."""
    if plan.seed_command is None:
        return 0.0
    values = placeholders(plan, dsn=database.dsn())
    argv = [expand(part, values) for part in plan.seed_command]
    env = {**os.environ, RUN_ID_ENV: run_id, **database.libpq_env(SEED_APPLICATION)}
    started = time.monotonic()
    code = run_logged(argv, plan.dir, env, log_path)
    if code != 0:
        raise EnvironmentFailure(f"seed command failed with exit code {code}: "
                                 f"{redact(last_line(log_path), database.password)} (log: {log_path})")
    return time.monotonic() - started

"""The {placeholders} that a plan's commands and env values may use."""

from __future__ import annotations

import sys

from harness.plan.model import Plan, Release

# Documented in the README; {port} and {dsn} are filled where they are known (service, migrations, seed).
PLACEHOLDERS = ("python", "port", "dsn", "rows", "release_dir", "scenario_dir", "version")


def placeholders(plan: Plan, release: Release | None = None, **extra: str) -> dict[str, str]:
    """The values that commands and env entries of `plan` (and of `release`) may refer to."""
    values = {"python": sys.executable, "rows": str(plan.seed_rows), "scenario_dir": str(plan.dir)}
    if release is not None:
        values |= {"release_dir": str(release.dir), "version": release.version}
    return values | extra

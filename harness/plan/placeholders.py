"""The {placeholders} that a plan's commands and env values may use: what each means, where each is known, and
the values for one command.

Every command and env value of a plan is checked when the plan loads (`template_problem`): a misspelt
placeholder, one that is not known where it is used, or a secret on a command line is a plan error. Braces
that are not close to any placeholder's name are left as written (a shell snippet, a JSON argument).
"""

from __future__ import annotations

import difflib
import os
import sys

from harness.core.database import Database
from harness.core.text import placeholders_in
from harness.plan.model import Plan, Release

# Documented in the README (section "Using it on your own service").
PLACEHOLDERS: dict[str, str] = {
    "python": "the release's interpreter (releases.X.python), else the harness's own",
    "port": "the port the service must listen on",
    "dsn": "the database URL, postgresql://user:password@host:port/name (on command lines without the password: "
           "PGPASSWORD carries it)",
    "db_host": "the database host", "db_port": "the database port", "db_user": "the database user",
    "db_password": "the database password (env values only)", "db_name": "the database name",
    "rows": "seed.rows", "release_dir": "the release's directory", "scenario_dir": "the plan's directory",
    "version": "the release's version",
}
SECRETS = ("db_password",)  # never on a command line: ps shows command lines to everyone
# Where each placeholder is known: the service (command, service.env, a release's env), migration commands
# (up, down, sql_command), the seed command, and load.env (the load runs across versions: no release there).
CONTEXTS: dict[str, tuple[str, ...]] = {
    "service": tuple(PLACEHOLDERS),
    "migration": tuple(name for name in PLACEHOLDERS if name != "port"),
    "seed": tuple(name for name in PLACEHOLDERS if name != "port"),
    "load": ("python", "rows", "scenario_dir"),
}


def template_problem(template: str, context: str, in_command: bool) -> str | None:
    """Why `template` cannot be used in `context` (a command line when `in_command`), else None."""
    known = CONTEXTS[context]
    for name in placeholders_in(template):
        if name in known:
            if in_command and name in SECRETS:
                return (f"{{{name}}} may only be used in env values: a command line is visible to every process "
                        f"(commands get PGPASSWORD in their environment)")
            continue
        if name in PLACEHOLDERS:
            return f"{{{name}}} is not known in {_where(context)} (known there: {_listed(known)})"
        close = difflib.get_close_matches(name, PLACEHOLDERS, n=1, cutoff=0.75)
        if close:
            return f"unknown placeholder {{{name}}} (did you mean {{{close[0]}}}?)"
    return None


def unknown_braces(template: str) -> list[str]:
    """The {names} of `template` that are no placeholder (left as written)."""
    return [name for name in placeholders_in(template) if name not in PLACEHOLDERS]


def release_python(release: Release | None) -> str:
    """The interpreter `{python}` names in `release`'s commands."""
    return str(release.python) if release is not None and release.python is not None else sys.executable


def placeholders(plan: Plan, release: Release | None = None, database: Database | None = None, *,
                 command: bool = False, **extra: str) -> dict[str, str]:
    """The values that commands and env entries of `plan` (and of `release`) may refer to; with `database`,
    the connection's parts too ({dsn}, {db_host}, ...). For a command line (`command`) {dsn} has no password
    and {db_password} is not filled: a command line is visible to every process, PGPASSWORD carries it."""
    values = {"python": release_python(release), "rows": str(plan.seed_rows), "scenario_dir": str(plan.dir)}
    if release is not None:
        values |= {"release_dir": str(release.dir), "version": release.version}
    if database is not None:
        values |= {"dsn": database.dsn_without_password() if command else database.dsn(),
                   "db_host": database.host, "db_port": str(database.port), "db_user": database.user,
                   "db_name": database.dbname}
        if not command:
            values["db_password"] = database.password
    return values | extra


def runtime_env(release: Release | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """VIRTUAL_ENV and PATH for a release whose python is a virtualenv's (its bin/ first), else nothing."""
    venv = release.venv if release is not None else None
    if venv is None:
        return {}
    path = (base if base is not None else os.environ).get("PATH", os.defpath)
    return {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{path}"}


def _where(context: str) -> str:
    return {"service": "the service's command and env", "migration": "migration commands",
            "seed": "the seed command", "load": "load.env"}[context]


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"{{{name}}}" for name in names)


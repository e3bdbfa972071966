"""Post-upgrade cleanup steps of a manifest: each runs (SQL on the database, or a command in the package
root), then its check runs, whatever the step did: the result says both.

A SQL check passes when the first column of its first row is true (or a non-zero number, or 't' / 'true');
a command check when it exits 0. Commands get DATABASE_URL and the quarantined service environment (proxies
to the stub); their output goes to a log, with the database password masked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from harness.core.text import expand, one_line, redact
from harness.package.manifest import Call, CleanupStep


@dataclass(frozen=True)
class StepResult:
    name: str
    kind: str
    action: str  # what ran
    status: str  # ok | failed
    check: str  # how it was checked
    check_passed: bool
    observed: str | None  # what the check saw (first value of a SQL check, a command's exit code)
    message: str | None
    started: float
    ended: float


@dataclass(frozen=True)
class Context:
    dsn: str
    password: str
    cwd: Path
    env: dict[str, str]  # the service's environment (quarantined), DATABASE_URL included
    values: dict[str, str]  # placeholders: {python}, {dsn}, {release_dir}, ...
    log: Path


def run_step(step: CleanupStep, context: Context) -> StepResult:
    """Run one step and its check; never raises for what the step or its check does."""
    started = time.time()
    ok, message = True, None
    try:
        _run(step.run, step, context)
    except StepFailed as failure:
        ok, message = False, str(failure)
    try:
        passed, observed = _check(step.check, step, context)
    except StepFailed as failure:
        passed, observed = False, None
        message = message or f"check: {failure}"
    if ok and not passed:
        message = f"the check did not pass (it saw {observed})"
    return StepResult(step.name, step.kind, _shown(step.run, context), "ok" if ok and passed else "failed",
                      _shown(step.check, context), passed, observed, message, started, time.time())


class StepFailed(Exception):
    pass


def _shown(call: Call, context: Context) -> str:
    return one_line(redact(call.describe(), context.password), 200)


def _run(call: Call, step: CleanupStep, context: Context) -> Any:
    if call.sql is not None:
        return _sql(call.sql, step, context)
    return _command(call, step, context)


def _check(call: Call, step: CleanupStep, context: Context) -> tuple[bool, str]:
    if call.sql is not None:
        value = _sql(call.sql, step, context)
        return _truthy(value), repr(value)
    code = _command(call, step, context, check=True)
    return code == 0, f"exit code {code}"


def _sql(sql: str, step: CleanupStep, context: Context) -> Any:
    try:
        with psycopg.connect(context.dsn, autocommit=True, application_name="rehearse-cleanup",
                             connect_timeout=10) as conn:
            conn.execute(f"SET statement_timeout = {int(step.timeout_s * 1000)}")
            cursor = conn.execute(sql.encode())  # the manifest's own SQL, as written (bytes: no placeholders)
            row = cursor.fetchone() if cursor.description else None
            return row[0] if row else None
    except psycopg.Error as exc:
        state = getattr(exc, "sqlstate", None) or ""
        raise StepFailed(one_line(redact(f"{state} {exc}".strip(), context.password), 200)) from None


def _command(call: Call, step: CleanupStep, context: Context, check: bool = False) -> int:
    """Run a step's command in its own session (its whole group is killed on a timeout or an interrupt)."""
    argv = [expand(arg, context.values) for arg in call.command or ()]
    with open(context.log, "a", encoding="utf-8") as log:
        log.write(f"--- {'check of ' if check else ''}{step.name}: {redact(' '.join(argv), context.password)}\n")
        try:
            proc = subprocess.Popen(argv, cwd=context.cwd, env={**os.environ, **context.env},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
        except OSError as exc:
            raise StepFailed(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        try:
            output, _ = proc.communicate(timeout=step.timeout_s)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"timed out after {step.timeout_s:g} s") from None
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.write(redact(output, context.password))
    if proc.returncode != 0 and not check:
        tail = one_line(redact(output.strip().splitlines()[-1] if output.strip() else "", context.password), 160)
        raise StepFailed(f"exit code {proc.returncode}" + (f": {tail}" if tail else ""))
    return proc.returncode


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("t", "true", "yes", "on", "1")
    return False

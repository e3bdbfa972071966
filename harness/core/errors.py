"""The harness's one error family, and the exit code each kind of failure maps to (the CLI's public contract).

Exit codes: 0 gates passed; 1 gates failed; 2 bad input (plan, package, arguments); 3 environment failure;
4 the harness itself failed (a bug: one line and the log path); 130 interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXIT_PASS = 0
EXIT_GATES_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_HARNESS_ERROR = 4
EXIT_INTERRUPTED = 130


class RehearseError(Exception):
    """Every failure the harness knows how to explain; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_HARNESS_ERROR


class InputError(RehearseError):
    """Bad input (a plan, a SQL file, a package, an argument): one line naming the file, the key and the problem."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, " ".join(str(problem).split())
        super().__init__(f"{self.path}: {key}: {self.problem}" if key else f"{self.path}: {self.problem}")


class PlanError(InputError):
    """A plan that cannot be rehearsed."""


class SqlInputError(InputError):
    """A migration file that cannot be read or parsed."""


class PackageError(InputError):
    """A package that cannot be used: not a zip, no manifest, a bad manifest, an unsafe archive."""


class EnvironmentFailure(RehearseError):
    """Something the rehearsal needs could not be started or reached (PostgreSQL, the service, Docker, Locust)."""

    exit_code = EXIT_ENVIRONMENT


class MigrationError(RehearseError):
    """A migration step failed. The timeline records it and goes on (to the rollback); it never ends a run."""

    exit_code = EXIT_GATES_FAILED

    def __init__(self, step: Any) -> None:
        self.step = step  # records.run.Step: source, sqlstate, error
        super().__init__(" ".join(f"{step.source}: {step.sqlstate or ''} {step.error}".split()))

"""A package's manifest (manifest.toml at its root): what the package is, how its service starts, its
migrations, configuration files, feature flags, scheduled tasks and post-upgrade cleanup steps.

Every table rejects unknown keys with a hint; every path names a file inside the package. `[build]` says
which other directories a build takes files from (scenarios/shop 2.1 ships 2.0's code with its own
migrations); it is read by `rehearse package build` and directory packages, and ignored inside a zip.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from harness.core.errors import PackageError
from harness.core.tables import Table, did_you_mean

MANIFEST = "manifest.toml"
SECTIONS = ("package", "service", "migrations", "feature_flags", "cleanup", "build")
CLEANUP_KINDS = ("feature_flag", "webhook", "credential", "other")
RUNNER_OPTION_KEYS = ("lock_timeout_ms", "statement_timeout_ms", "lock_retries", "retry_backoff_ms", "transaction")


@dataclass(frozen=True)
class Call:
    """What a cleanup step runs, or how it is checked: one SQL text, or one command (run in the package root)."""

    sql: str | None = None
    command: tuple[str, ...] | None = None

    def describe(self) -> str:
        if self.sql is not None:
            return "sql: " + " ".join(self.sql.split())
        return "command: " + " ".join(self.command or ())


@dataclass(frozen=True)
class CleanupStep:
    """A post-upgrade step (flag to its final state, webhook removed, credential revoked) and its check.

    A SQL check passes when the first column of its first row is true (or a non-zero number); a command
    check when it exits 0."""

    name: str
    kind: str  # one of CLEANUP_KINDS
    run: Call
    check: Call
    flag: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Include:
    """Files a build takes from another directory (relative to the manifest's), minus `exclude` globs."""

    dir: str
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    source: str  # where it was read (for messages)
    name: str
    version: str
    upgrades_from: str | None
    description: str
    command: tuple[str, ...] | None  # None: the plan's service.command
    env: dict[str, str]
    migrations_sql: str | None  # a directory of NNN_name.up.sql / .down.sql
    migrations_up: tuple[str, ...] | None  # or a migration tool's commands, run in the package root
    migrations_down: tuple[str, ...] | None
    migration_options: dict[str, Any]  # SQL runner options (the plan validates them)
    config: tuple[str, ...] = ()
    scheduled: tuple[str, ...] = ()  # crontab files and systemd units the package declares
    feature_flags: dict[str, Any] = field(default_factory=dict)  # flag -> its final state after the upgrade
    cleanup: tuple[CleanupStep, ...] = ()
    includes: tuple[Include, ...] = ()

    def declared_paths(self) -> list[tuple[str, str]]:
        """(key, path) of every file or directory the manifest names inside the package."""
        paths = [("package.config", p) for p in self.config] + [("package.scheduled", p) for p in self.scheduled]
        if self.migrations_sql is not None:
            paths.append(("migrations.sql", self.migrations_sql))
        return paths


def parse_manifest(data: bytes, source: str) -> Manifest:
    """The manifest of `data` (manifest.toml's bytes); raises PackageError naming the key and the problem."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PackageError(source, "", f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PackageError(source, "", f"not valid TOML ({exc})") from None
    root = Table(source, "", raw, error=PackageError)
    for name in raw:
        if name not in SECTIONS:
            raise root.error(name, f"unknown section{did_you_mean(name, SECTIONS)}")

    package = root.table("package", required=True)
    name = package.string("name")
    version = package.string("version")
    if not all(c.isalnum() or c in "._-" for c in version):
        raise package.error("version", f"must be letters, digits, '.', '_' or '-', got {version!r}")
    upgrades_from = package.string("upgrades_from", None)
    description = package.value("description", (str,), "")
    config = tuple(_inside(package, "config", p) for p in package.strings("config", []))
    scheduled = tuple(_inside(package, "scheduled", p) for p in package.strings("scheduled", []))
    package.done()

    service = root.table("service")
    command = service.command("command", None)
    env = service.str_map("env")
    service.done()

    migrations = root.table("migrations")
    sql = up = down = None
    options: dict[str, Any] = {}
    if migrations.raw:
        if migrations.has("sql"):
            sql = _inside(migrations, "sql", migrations.string("sql"))
        elif migrations.has("up") and migrations.has("down"):
            up, down = migrations.command("up"), migrations.command("down")
        else:
            raise migrations.error("", "needs 'sql' = DIR, or both 'up' and 'down' commands")
        for key in RUNNER_OPTION_KEYS:
            if migrations.has(key):
                options[key] = migrations.value(key, (int, str))
        migrations.done()

    flags = root.table("feature_flags")
    feature_flags = {flag: flags.value(flag, (bool, int, float, str)) for flag in list(flags.raw)}
    flags.done()

    cleanup = tuple(_cleanup_step(step, feature_flags) for step in root.tables("cleanup"))
    names = [step.name for step in cleanup]
    for index, step_name in enumerate(names):
        if step_name in names[:index]:
            raise PackageError(source, f"cleanup[{index}].name", f"{step_name!r} is already a cleanup step")

    build = root.table("build")
    includes = []
    for spec in build.tables("include"):
        includes.append(Include(spec.string("dir"), tuple(spec.strings("exclude", []))))
        spec.done()
    build.done()
    return Manifest(source=source, name=name, version=version, upgrades_from=upgrades_from,
                    description=description, command=tuple(command) if command else None, env=env,
                    migrations_sql=sql, migrations_up=tuple(up) if up else None,
                    migrations_down=tuple(down) if down else None, migration_options=options, config=config,
                    scheduled=scheduled, feature_flags=feature_flags, cleanup=cleanup, includes=tuple(includes))


def _cleanup_step(step: Table, flags: dict[str, Any]) -> CleanupStep:
    name = step.string("name")
    kind = step.string("kind", "other", CLEANUP_KINDS)
    flag = step.string("flag", None)
    if flag is not None and flag not in flags:
        raise step.error("flag", f"no feature flag {flag!r} in [feature_flags]")
    if kind == "feature_flag" and flag is None:
        raise step.error("flag", "a feature_flag step names the flag it sets (a key of [feature_flags])")
    run = _call(step.table("run", required=True))
    check = _call(step.table("check", required=True))
    timeout_s = step.number("timeout_s", 60.0, maximum=3600)
    step.done()
    return CleanupStep(name=name, kind=kind, run=run, check=check, flag=flag, timeout_s=timeout_s)


def _call(table: Table) -> Call:
    if table.has("sql") == table.has("command"):
        raise table.error("", "needs exactly one of 'sql' = TEXT or 'command' = [...]")
    if table.has("sql"):
        call = Call(sql=table.string("sql"))
    else:
        command = table.command("command")
        assert command is not None
        call = Call(command=tuple(command))
    table.done()
    return call


def _inside(table: Table, key: str, path: str) -> str:
    """A relative path that stays inside the package (no '..', not absolute), in its normal form."""
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise table.error(key, f"must be a path inside the package (relative, no '..'), got {path!r}")
    return pure.as_posix()


def manifest_problems(manifest: Manifest, names: set[str]) -> list[tuple[str, str]]:
    """(key, problem) for every file the manifest names that the package does not hold (`names`: its files)."""
    problems = []
    for key, path in manifest.declared_paths():
        is_dir = any(n.startswith(path.rstrip("/") + "/") for n in names)
        if key == "migrations.sql":
            if not is_dir:
                problems.append((key, f"directory {path!r} is not in the package"))
                continue
            ups = sorted(n for n in names if n.startswith(path + "/") and n.endswith(".up.sql"))
            for up in ups:
                if up.replace(".up.sql", ".down.sql") not in names:
                    problems.append((key, f"{up} has no matching .down.sql: it could not be rolled back"))
        elif path not in names and not is_dir:
            problems.append((key, f"{path!r} is not in the package"))
    return problems

"""Know the plan is right before running it: resolve every path, placeholder, program, PostgreSQL install,
extension and image a rehearsal of `plan` would use, without starting anything.

`preflight(plan, kind)` returns what would run (lines for `rehearse check`) and the problems found, each a
PlanError naming the plan key; `rehearse run` stops on the first problem (exit 2) before anything starts.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.database import Database
from harness.core.errors import PlanError
from harness.core.text import expand
from harness.environments.postgres_binaries import CONTRIB, PostgresNotFound, find_install, where_to_get
from harness.plan import CommandMigrations, Plan, Release, SqlMigrations, placeholders, runtime_env
from harness.plan.placeholders import unknown_braces

# What commands are shown with: the real values are only known once the database runs.
SHOWN_DATABASE = Database("127.0.0.1", 0, "rehearse", "***", "")
SHOWN_PORT = "<port>"
EXTENSIONS_LABEL = "org.rehearse.postgres.extensions"  # docker/build-offline-images lists them on its image


@dataclass
class Preflight:
    """What a rehearsal of the plan would run (`lines`), what is wrong with it (`problems`), and remarks."""

    environment: str
    lines: list[str] = field(default_factory=list)
    problems: list[PlanError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def raise_first(self) -> None:
        if self.problems:
            raise self.problems[0]


def preflight(plan: Plan, kind: str | None = None) -> Preflight:
    """Resolve everything a run of `plan` in environment `kind` (default: the plan's) would use."""
    kind = kind or plan.environment
    if kind == "auto":
        kind, why = _auto(plan)
        result = Preflight(kind)
        result.lines.append(f"environment: {kind} ({why})")
    else:
        result = Preflight(kind)
        result.lines.append(f"environment: {kind}")
    database = Database(SHOWN_DATABASE.host, SHOWN_DATABASE.port, SHOWN_DATABASE.user, SHOWN_DATABASE.password,
                        plan.database)
    if kind == "docker":
        _docker(plan, result)
    else:
        _local_postgres(plan, result)
    if plan.extensions:
        result.lines.append(f"extensions required: {', '.join(plan.extensions)}")
    for release in [*plan.setup_path(), *plan.upgrade_path()]:
        _release(plan, release, database, kind, result)
    if plan.seed_command:
        values = placeholders(plan, plan.releases[plan.from_version], database, command=True)
        argv = _program(plan, plan.seed_command, values, plan.dir, None, "seed.command", result)
        result.lines.append(f"seed: {_shown(argv)} (cwd {plan.dir}, {plan.seed_rows} rows)")
    result.lines.append(f"load: locust -f {plan.locustfile} ({plan.users} users, spawn rate {plan.spawn_rate:g}"
                        + (f", env {', '.join(sorted(plan.load_env))}" if plan.load_env else "") + ")")
    result.lines.append(f"service swap: {plan.swap}"
                        + (" (a loopback proxy keeps the URL; the new version starts beside the old one)"
                           if plan.swap == "blue_green" else " (stop, then start)"))
    for dependency in plan.dependencies:
        result.lines.append(f"dependency: {dependency.name}, a loopback stub whose URL the service gets in "
                            f"{dependency.env}")
    for template in [*plan.service_env.values(), *plan.load_env.values()]:
        for name in unknown_braces(template):
            result.notes.append(f"{{{name}}} is no placeholder: left as written")
    return result


def _auto(plan: Plan) -> tuple[str, str]:
    from harness.environments.docker_engine import docker_engine_error

    error = docker_engine_error()
    if error is None:
        from harness.environments.docker import unsupported

        error = unsupported(plan)
    return ("docker", "auto: a Docker engine answered") if error is None else ("local", f"auto: {error}")


def _local_postgres(plan: Plan, result: Preflight) -> None:
    try:
        install = find_install(plan.postgres_bin, plan.postgres_version, plan.extensions)
    except PostgresNotFound as exc:
        result.problems.append(PlanError(plan.path, exc.key, str(exc)))
        return
    result.lines.append(f"postgres: {install.describe()}")


def _docker(plan: Plan, result: Preflight) -> None:
    """Images present locally, and the PostgreSQL image's major version and extensions (from its labels)."""
    from harness.environments.docker import dependencies_unsupported
    from harness.environments.docker_engine import ENGINE_ERRORS, docker_engine_error

    if (reason := dependencies_unsupported(plan)) is not None:
        result.problems.append(plan.error("dependencies", reason))
    error = docker_engine_error()
    if error is not None:
        result.problems.append(PlanError(plan.path, "environment.kind", f"docker: {error}"))
        return
    import docker.errors
    from docker.client import DockerClient

    client = DockerClient.from_env(timeout=10)
    try:
        images = [("environment.postgres_image", plan.postgres_image)]
        images += [(f'releases."{r.version}".image', r.image) for r in plan.releases.values()
                   if r.version in (plan.from_version, plan.to_version) and r.image]
        for key, name in images:
            try:
                attrs = client.images.get(name).attrs
            except docker.errors.ImageNotFound:
                result.notes.append(f"image {name} is not present locally: the run will try to pull it")
                continue
            except ENGINE_ERRORS as exc:
                result.problems.append(PlanError(plan.path, key, f"cannot inspect image {name}: {exc}"))
                continue
            result.lines.append(f"image: {name} ({key})")
            if key == "environment.postgres_image":
                _postgres_image(plan, name, attrs, result)
    finally:
        client.close()


def _postgres_image(plan: Plan, name: str, attrs: dict, result: Preflight) -> None:
    config = attrs.get("Config") or {}
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    labels = config.get("Labels") or {}
    major = int(env["PG_MAJOR"].split(".")[0]) if env.get("PG_MAJOR", "").split(".")[0].isdigit() else None
    if plan.postgres_version is not None and major is not None and major != plan.postgres_version:
        result.problems.append(PlanError(plan.path, "environment.postgres_version",
                                         f"image {name} is PostgreSQL {major}, the plan asks for "
                                         f"{plan.postgres_version}: name an image of that version "
                                         f"(--postgres-image, environment.postgres_image)"))
    listed = labels.get(EXTENSIONS_LABEL)
    offered = set(listed.split(",")) if listed else set(CONTRIB) if major is not None else None
    if offered is None:
        result.notes.append(f"the extensions of {name} are checked when its server starts")
        return
    missing = [e for e in plan.extensions if e not in offered]
    if missing:
        hint = where_to_get(missing, major or plan.postgres_version or 15)
        result.problems.append(PlanError(plan.path, "environment.extensions",
                                         f"extension{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in "
                                         f"image {name}: {hint}"))


def _release(plan: Plan, release: Release, database: Database, kind: str, result: Preflight) -> None:
    key = f'releases."{release.version}"'
    values = placeholders(plan, release, database, command=True, port=SHOWN_PORT)
    if release.python is not None:
        result.lines.append(f"release {release.version}: python {release.python}"
                            + (f" (virtualenv {release.venv})" if release.venv else ""))
    if release.package is not None:
        result.lines.append(f"release {release.version}: from package {release.package.path} (unpacked into the run "
                            "directory; its own files are checked there)")
    if kind == "local":
        argv = _program(plan, release.command, values, release.dir, release, f"{key}.command", result)
        health = release.health_path or "no health endpoint: ready once its port accepts connections"
        result.lines.append(f"release {release.version}: service {_shown(argv)} (cwd {release.dir}, health "
                            f"{health})")
    else:
        result.lines.append(f"release {release.version}: image {release.image} (its own CMD)")
    migrations = release.migrations
    if isinstance(migrations, SqlMigrations):
        count = len(list(migrations.dir.glob("*.up.sql")))
        result.lines.append(f"release {release.version}: {count} SQL migration{'s' if count != 1 else ''} in "
                            f"{migrations.dir}")
    elif isinstance(migrations, CommandMigrations):
        for name, command in (("up", migrations.up), ("down", migrations.down),
                              ("sql_command", migrations.sql_command),
                              ("down_sql_command", migrations.down_sql_command)):
            if command is None:
                continue
            argv = _program(plan, command, values, migrations.cwd, release, f"{key}.migrations.{name}", result)
            result.lines.append(f"release {release.version}: migrations {name}: {_shown(argv)} (cwd {migrations.cwd})")


def _program(plan: Plan, command: list[str], values: dict[str, str], cwd: Path, release: Release | None, key: str,
             result: Preflight) -> list[str]:
    """The command with its placeholders expanded; a problem when its program cannot be found."""
    argv = [expand(word, values) for word in command]
    for word in command:
        for name in unknown_braces(word):
            result.notes.append(f"{key}: {{{name}}} is no placeholder: left as written")
    program = argv[0]
    path = (runtime_env(release).get("PATH") if release is not None else None) or os.environ.get("PATH", os.defpath)
    if "/" in program and not Path(program).is_absolute() and release is not None and release.package is not None:
        return argv  # a file of the package: it exists once the run unpacks it
    if "/" in program:
        found = (cwd / program) if not Path(program).is_absolute() else Path(program)
        ok = found.is_file() and os.access(found, os.X_OK)
    else:
        ok = shutil.which(program, path=path) is not None
    if not ok:
        result.problems.append(PlanError(plan.path, key, f"program {program!r} not found (cwd {cwd}, PATH of the "
                                         "harness" + (" and the release's virtualenv" if release and release.venv
                                                      else "") + ")"))
    return argv


def _shown(argv: list[str]) -> str:
    return " ".join(argv)

"""Load a plan: read the TOML, apply --set overrides, validate every table, and build the typed Plan.

Every problem is one PlanError naming the file, the key and what is wrong; unknown keys get a hint.
"""

from __future__ import annotations

import ast
import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.core.errors import PackageError, PlanError
from harness.core.tables import Table as ManifestTable
from harness.package.source import PackageSource, is_package_path, open_package
from harness.plan.default_gates import default_gates
from harness.plan.dependencies import read_dependencies
from harness.plan.model import (
    CAUSE_METRICS,
    CAUSES,
    CONTENTION_KINDS,
    DEFAULT_PHASES,
    DEFAULT_SEED_DEADLINE_S,
    DEPENDENCY_METRICS,
    DRIFT_METRICS,
    ENDPOINT_METRICS,
    ENVIRONMENT_KINDS,
    LOAD_MODELS,
    METRICS,
    NETWORK_MODES,
    RESERVED_PHASES,
    RETRY_BACKOFFS,
    SWAP_STRATEGIES,
    TRANSACTION_MODES,
    AcknowledgedSpec,
    ActionCall,
    CommandMigrations,
    Contention,
    Dependency,
    FlagsSpec,
    Gate,
    LoadOptions,
    Migrations,
    Plan,
    Release,
    RollbackSpec,
    RunnerOptions,
    SqlMigrations,
    Targets,
    TimelinePhase,
    drift_phases,
)
from harness.plan.placeholders import template_problem
from harness.plan.reader import MISSING, Table, did_you_mean
from harness.plan.sql_files import check_sql_files
from harness.plan.targets import check_targets
from harness.profile.contract import PROFILE_ENV, PROFILE_USER_PATH, PROFILE_VALUES_ENV, encode_values
from harness.profile.store import read_profile
from harness.profile.values import parse_values

PLAN_FILE = "rehearsal.toml"
SECTIONS = ("scenario", "environment", "versions", "service", "releases", "seed", "load", "phases", "timeline",
            "observe", "rollback", "gates", "upgrade", "contention", "targets", "dependencies")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,62}$")
EXTENSION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
# Server settings the harness itself relies on (where the server listens, how its log reads back).
HARNESS_SETTINGS = ("listen_addresses", "port", "unix_socket_directories", "log_line_prefix", "data_directory",
                    "config_file", "hba_file", "ident_file")


def find_plan_file(target: str | Path) -> Path:
    """The rehearsal.toml that `target` (a scenario directory or the file itself) names."""
    path = Path(target)
    if path.is_dir():
        path = path / PLAN_FILE
    if not path.is_file():
        raise PlanError(path, "", "no such plan file")
    return path.resolve()


def load_plan(target: str | Path, overrides: dict[str, Any] | None = None, targets_confirmed: bool = False) -> Plan:
    """Read, override (dotted keys) and validate a plan: every table, every SQL migration file of the releases it
    uses, and the target guard (plan.targets; `targets_confirmed` is the run's --allow-targets)."""
    path = find_plan_file(target)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanError(path, "", f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(path, "", f"not valid TOML ({exc})") from None
    except OSError as exc:
        raise PlanError(path, "", exc.strerror or str(exc)) from None
    overrides = dict(overrides or {})
    for dotted, value in overrides.items():
        _set_dotted(raw, dotted, value, path)
    plan = _build(path, raw, overrides, targets_confirmed)
    check_sql_files(plan)
    check_targets(plan)
    return plan


def parse_override(text: str, path: Path | str = "--set") -> tuple[str, Any]:
    """`key.sub=value` with value read as a TOML value when it parses, else as a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part.strip() for part in key.split(".")):
        raise PlanError(path, text, "expected KEY=VALUE, e.g. load.users=10")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key, parsed


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, path: Path) -> None:
    node = raw
    parts = dotted.split(".")
    for index, part in enumerate(parts[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PlanError(f"{path} (--set {dotted})", dotted, f"'{'.'.join(parts[:index + 1])}' is not a table")
    node[parts[-1]] = value


def _build(path: Path, raw: dict[str, Any], overrides: dict[str, Any], targets_confirmed: bool = False) -> Plan:
    overridden = set(overrides)
    for dotted in overrides:  # a --set of a whole table names its keys too
        parts = dotted.split(".")
        overridden |= {".".join(parts[:i]) for i in range(1, len(parts))}
    root = Table(path, "", raw, overridden)
    for name in raw:
        if name not in SECTIONS:
            raise root.error(name, f"unknown section{did_you_mean(name, SECTIONS)}")
    base = path.parent

    scenario = root.table("scenario", required=True)
    name = scenario.string("name", base.name)
    scenario.done()

    runner = _runner_options(root.table("upgrade"), RunnerOptions())

    env = root.table("environment")
    environment = env.string("kind", "auto", ENVIRONMENT_KINDS)
    network = env.string("network", None, NETWORK_MODES)
    postgres_bin = env.string("postgres_bin", None)
    postgres_bin_dir = _existing(env, "postgres_bin", postgres_bin, base, is_dir=True) if postgres_bin else None
    postgres_image = env.string("postgres_image", "postgres:18")
    database = env.string("database", "app")
    if not DATABASE_NAME.match(database):
        raise env.error("database", f"must be a plain database name (letters, digits, _ and -, at most 63), "
                        f"got {database!r}")
    postgres_version = env.integer("postgres_version", None, minimum=9, maximum=99)
    extensions = env.strings("extensions", [])
    for extension in extensions:
        if not EXTENSION_NAME.match(extension):
            raise env.error("extensions", f"{extension!r} is not an extension name (as in CREATE EXTENSION)")
    server_settings = _server_settings(env.table("server_settings"))
    env.done()

    service = root.table("service")
    default_command = service.command("command", None)
    health_path = _health_path(service, "/health")
    service_env = service.str_map("env")
    start_timeout_s = service.number("start_timeout_s", 30.0, maximum=3600)
    stop_timeout_s = service.number("stop_timeout_s", 10.0, maximum=3600)
    swap = service.string("swap", "restart", SWAP_STRATEGIES)
    service.done()
    _check_templates(service, "command", [default_command] if default_command else [], "service")
    for entry, value in service_env.items():
        _check_template(service, f"env.{entry}", value, "service", in_command=False)

    releases = _releases(root.table("releases", required=True), default_command, base, runner, health_path)

    versions = root.table("versions", required=True)
    from_version, to_version = versions.string("from"), versions.string("to")
    for key, version in (("from", from_version), ("to", to_version)):
        if version not in releases:  # a package (zip or directory) given as a version
            package = _package_at(version, base)
            if package is None:
                raise versions.error(key, f"no release {version!r} (releases: {', '.join(releases)}), and no package "
                                     f"(a .zip, or a directory with a manifest.toml) at {version!r}")
            release = _package_release(package, default_command, runner, releases, health_path)
            releases[release.version] = release
            from_version, to_version = (release.version, to_version) if key == "from" else (from_version,
                                                                                            release.version)
    if from_version == to_version:
        raise versions.error("to", "must differ from versions.from")
    versions.done()

    seed = root.table("seed")
    seed_command = seed.command("command", None)
    seed_rows = seed.integer("rows", 1000)
    seed_deadline_s = seed.number("deadline_s", DEFAULT_SEED_DEADLINE_S, maximum=7 * 86_400)
    seed.done()
    _check_templates(seed, "command", [seed_command] if seed_command else [], "seed")

    load = root.table("load")
    load_profile, load_profile_values = _load_profile(load, base)
    if load.has("locustfile") or load_profile is None:
        locustfile = _existing(load, "locustfile", load.string("locustfile"), base, is_dir=False)
    else:
        locustfile = PROFILE_USER_PATH  # the profile-driven user is the locustfile
    _check_locustfile(load, locustfile)
    users = load.integer("users", 20, maximum=100_000)
    spawn_rate = load.number("spawn_rate", 10.0)
    load_env = load.str_map("env")
    load_options = _load_options(load, locustfile)
    load.done()
    for entry, value in load_env.items():
        _check_template(load, f"env.{entry}", value, "load", in_command=False)
    if load_profile is not None:
        load_env |= {PROFILE_ENV: str(load_profile), PROFILE_VALUES_ENV: encode_values(load_profile_values)}

    timeline = _timeline(root, root.table("phases"))

    observe = root.table("observe")
    lock_sample_interval_ms = observe.number("lock_sample_interval_ms", 50.0, minimum=1, maximum=60_000)
    health_interval_ms = observe.number("health_interval_ms", 500.0, minimum=50, maximum=60_000)
    observe.done()

    rollback_spec = _rollback(root.table("rollback"), base)
    rollback_tables = list(rollback_spec.tables)

    targets_table = root.table("targets")
    targets = Targets(tuple(targets_table.strings("allow", [])), targets_confirmed)
    targets_table.done()

    phase_names = [phase.name for phase in timeline]
    dependencies = read_dependencies(root, service_env, releases)
    # the dependency stubs listen on the host's 127.0.0.1, which only containers on the host network reach
    network = network or ("host" if dependencies else "bridge")
    plan = Plan(
        path=path, scenario=name, environment=environment, network=network, postgres_bin=postgres_bin_dir,
        postgres_image=postgres_image, database=database, from_version=from_version, to_version=to_version,
        releases=releases, health_path=health_path, service_env=service_env, start_timeout_s=start_timeout_s,
        stop_timeout_s=stop_timeout_s, seed_command=seed_command, seed_rows=seed_rows, locustfile=locustfile,
        users=users, spawn_rate=spawn_rate, load_env=load_env, timeline=timeline,
        lock_sample_interval_ms=lock_sample_interval_ms, rollback_tables=rollback_tables,
        gates=_gates(root, phase_names, dependencies), runner=runner, contention=_contention(root, phase_names),
        rollback=rollback_spec, overrides=overrides, seed_deadline_s=seed_deadline_s, targets=targets,
        health_interval_ms=health_interval_ms, postgres_version=postgres_version, extensions=extensions, swap=swap,
        server_settings=server_settings, default_gates=not root.has("gates"),
        load_profile=load_profile, load_profile_values=load_profile_values, load_options=load_options,
        dependencies=dependencies,
    )
    if plan.default_gates:
        plan = replace(plan, gates=default_gates(timeline))
    for release in releases.values():
        if release.package is not None and release.upgrades_from is not None and release.upgrades_from not in releases:
            raise PlanError(release.package.manifest.source, "package.upgrades_from",
                            f"no release {release.upgrades_from!r} (releases: {', '.join(releases)})")
    plan.upgrade_path()  # raises when `to` does not upgrade from `from`
    plan.setup_path()
    _check_drift_gates(plan)
    return plan


def _check_drift_gates(plan: Plan) -> None:
    """A drift gate's phase must be one that drift compares with the baseline (plan.model.drift_phases)."""
    reference, compared = drift_phases([(p.name, [a.name for a in p.actions]) for p in plan.timeline])
    for index, gate in enumerate(plan.gates):
        if gate.metric in DRIFT_METRICS and gate.phase is not None and gate.phase not in compared:
            raise plan.error(f"gates[{index}].phase", f"drift compares only the soak-only phases after {reference} "
                             f"({', '.join(compared) or 'none in this timeline'}), not {gate.phase!r}")


def _existing(table: Table, name: str, relative: str, base: Path, is_dir: bool) -> Path:
    candidate = (base / relative).resolve()
    if not (candidate.is_dir() if is_dir else candidate.is_file()):
        raise table.error(name, f"{'directory' if is_dir else 'file'} {relative!r} does not exist")
    return candidate


def _load_profile(load: Table, base: Path) -> tuple[Path | None, dict[str, Any]]:
    """load.profile (a profile.toml `rehearse profile` wrote) and load.profile_values, both checked now."""
    values = load.table("profile_values")
    if not load.has("profile"):
        if values.raw:
            raise load.error("profile_values", "needs load.profile (the profile whose templates it fills)")
        return None, {}
    path = _existing(load, "profile", load.string("profile"), base, is_dir=False)
    profile = read_profile(path)
    known = {e.endpoint for e in profile.endpoints} | {e.template for e in profile.endpoints}
    for name in parse_values(values).endpoints:
        if name not in known:
            raise values.error(name, f"no such endpoint in {path.name}{did_you_mean(name, known)}")
    return path, dict(values.raw)


def _load_options(table: Table, locustfile: Path) -> LoadOptions:
    """[load] model, rate, rates, ramp_s, max_concurrency, workers, remote_workers, master_bind_host, master_port."""
    model = table.string("model", "closed", choices=LOAD_MODELS)
    rate = table.number("rate", None, maximum=1_000_000)
    rates: dict[str, float] = {}
    for name, value in table.value("rates", (dict,), {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1_000_000:
            raise table.error(f"rates.{name}", f"must be a number of requests per second > 0, got {value!r}")
        rates[name] = float(value)
    ramp_s = table.number("ramp_s", 0.0, positive=False, minimum=0, maximum=86_400)
    max_concurrency = table.integer("max_concurrency", LoadOptions.max_concurrency, maximum=100_000)
    workers = table.integer("workers", 0, minimum=0, maximum=64)
    remote_workers = table.integer("remote_workers", 0, minimum=0, maximum=1024)
    bind = table.string("master_bind_host", "127.0.0.1")
    master_port = table.integer("master_port", None, minimum=1024, maximum=65_535)
    if model == "open" and rate is None and not rates:
        raise table.error("model", "the open model needs an arrival rate: load.rate (requests/s) or [load.rates]")
    for key, given in (("rate", rate is not None), ("rates", bool(rates)), ("ramp_s", table.has("ramp_s")),
                       ("max_concurrency", table.has("max_concurrency"))):
        if given and model != "open":
            raise table.error(key, 'applies to the open model only: set load.model = "open"')
    tasks = _task_names(locustfile)
    for name in rates:
        if name not in tasks:
            raise table.error(f"rates.{name}", f"no task {name!r} in {locustfile.name}{did_you_mean(name, tasks)}")
    if remote_workers and bind in ("127.0.0.1", "localhost", "::1"):
        raise table.error("remote_workers", "remote workers cannot reach a master bound to loopback: set "
                          "load.master_bind_host to the address they connect to (an explicit opt-in)")
    if (remote_workers or table.has("master_port")) and not (workers or remote_workers):
        raise table.error("master_port", "applies to Locust's distributed mode only: set load.workers")
    return LoadOptions(model=model, rate=rate, rates=rates, ramp_s=ramp_s, max_concurrency=max_concurrency,
                       workers=workers, remote_workers=remote_workers, master_bind_host=bind, master_port=master_port)


def _task_names(locustfile: Path) -> list[str]:
    """Names of the methods and functions a locustfile defines (its tasks among them)."""
    tree = ast.parse(locustfile.read_bytes().decode("utf-8"), str(locustfile))
    return sorted({node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)})


def _check_locustfile(table: Table, path: Path) -> None:
    """A locustfile Locust could not import is bad input now, not an environment failure after the database
    started: it must be UTF-8 Python that parses and defines at least one class (its User)."""
    try:
        tree = ast.parse(path.read_bytes().decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise table.error("locustfile", f"{path.name} is not UTF-8 text (byte {exc.start})") from None
    except SyntaxError as exc:
        raise table.error("locustfile", f"{path.name} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, RecursionError, MemoryError, OSError) as exc:
        raise table.error("locustfile", f"{path.name} cannot be read as Python: {type(exc).__name__}") from None
    if not any(isinstance(node, ast.ClassDef | ast.ImportFrom) for node in tree.body):
        raise table.error("locustfile", f"{path.name} defines no User class (a class, or one imported, "
                          "that Locust can run)")


def _runner_options(table: Table, defaults: RunnerOptions) -> RunnerOptions:
    """SQL runner options of `table` (the [upgrade] table, or a release's migrations), over `defaults`."""
    values: dict[str, Any] = {}
    for name in ("lock_timeout_ms", "statement_timeout_ms", "retry_backoff_ms"):
        if table.has(name):
            values[name] = table.integer(name)
    if table.has("step_deadline_s"):
        values["step_deadline_s"] = table.number("step_deadline_s", maximum=7 * 86_400)
    if table.has("lock_retries"):
        values["lock_retries"] = table.integer("lock_retries", minimum=0, maximum=1000)
    if table.has("transaction"):
        values["transaction"] = table.string("transaction", choices=TRANSACTION_MODES)
    if table.has("retry_backoff"):
        values["retry_backoff"] = table.string("retry_backoff", choices=RETRY_BACKOFFS)
    table.done()
    return replace(defaults, **values)


def _health_path(table: Table, default: str | None) -> str | None:
    """A path starting with '/', or false: no health endpoint (healthy once the port accepts connections)."""
    value = table.value("health_path", (str, bool), default)
    if value is True:
        raise table.error("health_path", "must be a path starting with '/', or false (no health endpoint)")
    if value is False or value is None:
        return None
    if not value.startswith("/"):
        raise table.error("health_path", f"must start with '/' (or be false: no health endpoint), got {value!r}")
    return str(value)


def _python(table: Table, base: Path) -> Path | None:
    """releases.X.python: an interpreter, or a virtualenv's directory (its bin/python), relative to the plan."""
    relative = table.string("python", None)
    if relative is None:
        return None
    candidate = Path(os.path.abspath(base / relative))  # not resolved: a venv's python is a symlink
    if candidate.is_dir():
        candidate = candidate / "bin" / "python"
        if not candidate.exists():
            raise table.error("python", f"{relative!r} is a directory without bin/python (not a virtualenv)")
    if not candidate.exists():
        raise table.error("python", f"interpreter or virtualenv {relative!r} does not exist (a virtualenv: "
                          f"python -m venv {relative})")
    if not os.access(candidate, os.X_OK):
        raise table.error("python", f"{relative!r} is not executable")
    return candidate


def _check_template(table: Table, name: str, template: str, context: str, in_command: bool) -> None:
    problem = template_problem(template, context, in_command)
    if problem is not None:
        raise table.error(name, problem)


def _check_templates(table: Table, name: str, commands: list[list[str]], context: str) -> None:
    for command in commands:
        for word in command:
            _check_template(table, name, word, context, in_command=True)


def _columns_per_table(table: Table, name: str, tables: list[str]) -> dict[str, tuple[str, ...]]:
    """{ table = ["column", ...] } for tables of rollback.tables / keys_only."""
    spec = table.table(name)
    result: dict[str, tuple[str, ...]] = {}
    for entry in spec.raw:
        if entry not in tables:
            raise spec.error(entry, f"not one of rollback.tables or keys_only{did_you_mean(entry, tables)}")
        columns = spec.strings(entry)
        if not columns:
            raise spec.error(entry, "must name at least one column")
        for column in columns:
            if not IDENTIFIER.match(column):
                raise spec.error(entry, f"{column!r} is not a column name")
        result[entry] = tuple(columns)
    spec.done()
    return result


def _releases(table: Table, default_command: list[str] | None, base: Path,
              runner: RunnerOptions, health_path: str | None = "/health") -> dict[str, Release]:
    if not table.raw:
        raise table.error("", "no release defined")
    releases: dict[str, Release] = {}
    for version in table.raw:
        spec = Table(table.path, f'releases."{version}"', table.value(version, (dict,)), table.overridden)
        if spec.has("package"):
            for other in ("dir", "migrations", "command", "image", "upgrades_from"):
                if spec.has(other):
                    raise spec.error(other, "comes from the package's manifest (remove it, or drop 'package')")
            package = _package_at(spec.string("package"), base)
            if package is None:
                raise spec.error("package", f"no package (a .zip, or a directory with a manifest.toml) at "
                                 f"{spec.raw['package']!r}")
            spec.done()
            if package.manifest.version != version:
                raise spec.error("package", f"the package is version {package.manifest.version}, not {version}")
            releases[version] = _package_release(package, default_command, runner, None, health_path)
            continue
        release_dir = _existing(spec, "dir", spec.string("dir", f"releases/{version}"), base, is_dir=True)
        upgrades_from = spec.string("upgrades_from", None)
        if upgrades_from is not None and upgrades_from not in table.raw:
            raise spec.error("upgrades_from", f"no release {upgrades_from!r} (releases: {', '.join(table.raw)})")
        command = spec.command("command", default_command)
        if command is None:
            raise spec.error("command", "missing (set service.command or the release's command)")
        image = spec.string("image", None)
        env = spec.str_map("env")
        release_health = _health_path(spec, health_path) if spec.has("health_path") else health_path
        python = _python(spec, base)
        migrations = _migrations(spec.table("migrations"), release_dir, base, runner) if spec.has("migrations") \
            else None
        allow_leftover = tuple(_object_name(spec, "allow_leftover", name)
                               for name in spec.strings("allow_leftover", []))
        spec.done()
        _check_templates(spec, "command", [command], "service")
        for entry, value in env.items():
            _check_template(spec, f"env.{entry}", value, "service", in_command=False)
        releases[version] = Release(version=version, dir=release_dir, upgrades_from=upgrades_from,
                                    migrations=migrations, command=command, image=image, env=env,
                                    health_path=release_health, python=python, allow_leftover=allow_leftover)
    return releases


def _package_at(where: str, base: Path) -> PackageSource | None:
    """The package at `where` (absolute, or relative to the plan), or None when nothing there is a package."""
    path = Path(where).expanduser()
    path = path if path.is_absolute() else base / path
    if not is_package_path(path):
        return None
    return open_package(path)


def _package_release(package: PackageSource, default_command: list[str] | None, runner: RunnerOptions,
                     releases: dict[str, Release] | None, health_path: str | None = "/health") -> Release:
    """The release a package defines: its files, migrations, service command and environment (a plan release
    of the same version gives way to it, but lends it its upgrades_from when the manifest names none)."""
    manifest = package.manifest
    replaced = (releases or {}).get(manifest.version)
    command = list(manifest.command) if manifest.command else default_command
    if command is None:
        raise PackageError(manifest.source, "service.command", "missing (and the plan sets no service.command)")
    migrations: Migrations = None
    if manifest.migrations_sql is not None:
        options = _runner_options(ManifestTable(manifest.source, "migrations", dict(manifest.migration_options),
                                                error=PackageError), runner)
        migrations = SqlMigrations(dir=package.path / manifest.migrations_sql, options=options)
    elif manifest.migrations_up is not None and manifest.migrations_down is not None:
        migrations = CommandMigrations(up=list(manifest.migrations_up), down=list(manifest.migrations_down),
                                       cwd=package.path)
    upgrades_from = manifest.upgrades_from or (replaced.upgrades_from if replaced else None)
    return Release(version=manifest.version, dir=package.path, upgrades_from=upgrades_from, migrations=migrations,
                   command=command, env=dict(manifest.env), package=package, health_path=health_path)


def _migrations(table: Table, release_dir: Path, base: Path, runner: RunnerOptions) -> Migrations:
    """SQL directories are relative to the release; a command's cwd to the plan (default: the plan's dir)."""
    if table.has("sql"):
        sql_dir = _existing(table, "sql", table.string("sql"), release_dir, is_dir=True)
        for up_file in sorted(sql_dir.glob("*.up.sql")):
            if not up_file.with_name(up_file.name.replace(".up.sql", ".down.sql")).is_file():
                raise table.error("sql", f"{up_file.name} has no matching .down.sql: it could not be rolled back")
        return SqlMigrations(dir=sql_dir, options=_runner_options(table, runner))
    if not (table.has("up") and table.has("down")):
        raise table.error("", "needs 'sql' = DIR, or both 'up' and 'down' commands")
    up, down = table.command("up"), table.command("down")
    sql_command, down_sql_command = table.command("sql_command", None), table.command("down_sql_command", None)
    cwd = _existing(table, "cwd", table.string("cwd", "."), base, is_dir=True)
    deadline_s = table.number("step_deadline_s", runner.step_deadline_s, maximum=7 * 86_400)
    table.done()
    assert up is not None and down is not None
    for name, command in (("up", up), ("down", down), ("sql_command", sql_command),
                          ("down_sql_command", down_sql_command)):
        _check_templates(table, name, [command] if command else [], "migration")
    return CommandMigrations(up=up, down=down, cwd=cwd, sql_command=sql_command, down_sql_command=down_sql_command,
                             deadline_s=deadline_s)


def _timeline(root: Table, phases: Table) -> tuple[TimelinePhase, ...]:
    """[[timeline]] entries in order, or the default five phases. [phases] X_s sets phase X's soak."""
    if root.has("timeline"):
        steps = root.tables("timeline")
        if not steps:
            raise root.error("timeline", "must list at least one phase")
        built: list[TimelinePhase] = []
        for step in steps:
            name = step.string("phase")
            if not NAME.match(name) or name in RESERVED_PHASES:
                raise step.error("phase", f"must be a name of letters, digits, _ . - (not {', '.join(RESERVED_PHASES)})"
                                 f", got {name!r}")
            if name in [p.name for p in built]:
                raise step.error("phase", f"{name!r} is already a phase of the timeline: phase names are unique")
            soak_s = step.number("soak_s", 0.0, minimum=0, positive=False, maximum=86_400)
            actions = tuple(_action(step, index, value)
                            for index, value in enumerate(step.value("actions", (list,), [])))
            step.done()
            built.append(TimelinePhase(name, actions, soak_s, step.key))
    else:
        built = [TimelinePhase(name, tuple(ActionCall(a, {}, f"default timeline {name}.actions[{j}]")
                                           for j, a in enumerate(actions)), soak, f"phases.{name}_s")
                 for name, actions, soak in DEFAULT_PHASES]
    known = {f"{phase.name}_s": phase for phase in built}
    for key in list(phases.raw):
        if key not in known:
            raise phases.error(key, f"unknown key{did_you_mean(key, known)}: [phases] sets the soak of a phase "
                               "of the timeline as <phase>_s")
        soak = phases.number(key, minimum=0, positive=False, maximum=86_400)
        built = [replace(p, soak_s=soak) if p is known[key] else p for p in built]
        known = {f"{p.name}_s": p for p in built}
    phases.done()
    return tuple(built)


def _action(step: Table, index: int, value: Any) -> ActionCall:
    key = f"{step.key}.actions[{index}]"
    if isinstance(value, str) and value.strip():
        return ActionCall(value, {}, key)
    if isinstance(value, dict) and isinstance(value.get("action"), str):
        return ActionCall(value["action"], {k: v for k, v in value.items() if k != "action"}, key)
    raise PlanError(step.path, key, f"must be an action name or a table with 'action' = NAME, got {value!r:.60}")


def _gates(root: Table, phase_names: list[str], dependencies: tuple[Dependency, ...] = ()) -> list[Gate]:
    gates = []
    for spec in root.tables("gates"):
        metric = spec.string("metric")
        if metric not in METRICS:
            raise spec.error("metric", f"unknown metric {metric!r}{did_you_mean(metric, METRICS)}")
        phase = spec.string("phase", None)
        if phase is not None and phase not in phase_names:
            raise spec.error("phase", f"no phase {phase!r} in the timeline{did_you_mean(phase, phase_names)}")
        if phase is not None and metric == "rollback_safe":
            raise spec.error("phase", "rollback_safe is the verdict of the whole rollback, not of one phase")
        endpoint = spec.string("endpoint", None)
        if endpoint is not None and metric not in ENDPOINT_METRICS:
            raise spec.error("endpoint", f"{metric} is not measured per endpoint (only {', '.join(ENDPOINT_METRICS)})")
        cause = spec.string("cause", None, choices=CAUSES)
        if cause is not None and metric not in CAUSE_METRICS:
            raise spec.error("cause", f"{metric} cannot be limited to a cause (only request and lock-wait metrics: "
                             f"{', '.join(CAUSE_METRICS)})")
        dependency = _gate_dependency(spec, metric, dependencies)
        bounds = {b: spec.number(b, None, positive=False) for b in ("max", "min")}
        given = [b for b, v in bounds.items() if v is not None]
        if len(given) != 1:
            raise spec.error("", "needs exactly one of 'max' or 'min'")
        spec.done()
        gates.append(Gate(metric=metric, phase=phase, endpoint=endpoint, max=bounds["max"], min=bounds["min"],
                          cause=cause, dependency=dependency))
    return gates


def _gate_dependency(spec: Table, metric: str, dependencies: tuple[Dependency, ...]) -> str | None:
    """A gate's `dependency`: one of [[dependencies]], for the dependency metrics only."""
    names = [d.name for d in dependencies]
    if metric in DEPENDENCY_METRICS and not names:
        raise spec.error("metric", f"{metric} measures calls to [[dependencies]] stubs, and the plan declares none")
    dependency = spec.string("dependency", None)
    if dependency is not None and metric not in DEPENDENCY_METRICS:
        raise spec.error("dependency", f"{metric} is not measured per dependency (only "
                         f"{', '.join(DEPENDENCY_METRICS)})")
    if dependency is not None and dependency not in names:
        raise spec.error("dependency", f"no dependency {dependency!r} in [[dependencies]]"
                         f"{did_you_mean(dependency, names)}")
    return dependency


def _server_settings(table: Table) -> dict[str, str]:
    """PostgreSQL settings given at server start (so restart-only ones such as shared_buffers work too)."""
    settings: dict[str, str] = {}
    for name in list(table.raw):
        if not SETTING_NAME.match(name):
            raise table.error(name, "must be a PostgreSQL setting name (letters, digits and _)")
        if name.lower() in HARNESS_SETTINGS:
            raise table.error(name, "is set by the harness (it decides where the server listens and how its log "
                              "reads back)")
        value = table.value(name, (str, int, float, bool))
        text = ("on" if value else "off") if isinstance(value, bool) else str(value)
        if not text.strip() or "\n" in text or "\0" in text:
            raise table.error(name, f"must be a one-line value, got {value!r:.60}")
        settings[name.lower()] = text
    table.done()
    return settings


def _contention(root: Table, phase_names: list[str]) -> list[Contention]:
    items = []
    for spec in root.tables("contention"):
        kind = spec.string("kind", choices=CONTENTION_KINDS)
        table = spec.string("table", None)
        query = spec.string("query", None)
        if table is None and query is None:
            raise spec.error("table", "missing (name the table to hold a lock on, or give the session's 'query')")
        phase = spec.string("phase", "upgrade" if "upgrade" in phase_names else MISSING)
        if phase not in phase_names:
            raise spec.error("phase", f"no phase {phase!r} in the timeline{did_you_mean(phase, phase_names)}")
        seconds = spec.number("seconds", 10.0, maximum=86_400)
        lead_s = spec.number("lead_s", 0.0, minimum=0, positive=False, maximum=3600)
        if lead_s >= seconds:
            raise spec.error("lead_s", f"must be shorter than seconds ({seconds:g}): the session would end before "
                             "the phase's first action")
        spec.done()
        items.append(Contention(kind, table, phase, seconds, query=query, lead_s=lead_s))
    return items


OBJECT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")


def _object_name(table: Table, key: str, name: str) -> str:
    if not OBJECT_NAME.match(name):
        raise table.error(key, f"must name a table or a column (schema.table, table.column), got {name!r}")
    return name


def _rollback(table: Table, base: Path) -> RollbackSpec:
    """[rollback]: tables, keys_only, acknowledged, config_files, environment, flags, version_table, keys,
    ignore_columns."""
    tables = tuple(_object_name(table, "tables", t) for t in table.strings("tables", []))
    keys_only = tuple(_object_name(table, "keys_only", t) for t in table.strings("keys_only", []))
    acknowledged: list[AcknowledgedSpec] = []
    if table.has("acknowledged"):
        raw = table.value("acknowledged", (dict, list))
        items = [raw] if isinstance(raw, dict) else raw
        for index, item in enumerate(items):
            key = "acknowledged" if isinstance(raw, dict) else f"acknowledged[{index}]"
            spec = Table(table.path, table.where(key), item, table.overridden)
            name = _object_name(spec, "table", spec.string("table"))
            column = spec.string("key")
            url = spec.string("url", None)
            if url is not None and (not url.startswith("/") or "{key}" not in url):
                raise spec.error("url", f"must be a path starting with '/' holding {{key}}, got {url!r}")
            spec.done()
            acknowledged.append(AcknowledgedSpec(name, column, url))
    config_files = tuple(_existing(table, "config_files", f, base, is_dir=False)
                         for f in table.strings("config_files", []))
    environment = table.boolean("environment", True)
    flags = _flags(table.table("flags"), base) if table.has("flags") else None
    version_table = table.string("version_table", None)
    if version_table is not None:
        _object_name(table, "version_table", version_table)
    checked = list(dict.fromkeys([*tables, *keys_only]))
    keys = _columns_per_table(table, "keys", checked)
    ignore_columns = _columns_per_table(table, "ignore_columns", checked)
    for name, columns in ignore_columns.items():
        if set(columns) & set(keys.get(name, ())):
            both = ", ".join(sorted(set(columns) & set(keys[name])))
            raise table.error(f"ignore_columns.{name}", f"{both} matches rows (rollback.keys): it cannot be ignored")
    table.done()
    return RollbackSpec(tables, keys_only, tuple(acknowledged), config_files, environment, flags, version_table,
                        keys=keys, ignore_columns=ignore_columns)


def _flags(table: Table, base: Path) -> FlagsSpec:
    file = table.string("file", None)
    name = table.string("table", None)
    if (file is None) == (name is None):
        raise table.error("", "needs exactly one of 'file' (a JSON object of flags) or 'table'")
    path = _existing(table, "file", file, base, is_dir=False) if file is not None else None
    if name is not None:
        _object_name(table, "table", name)
    key = table.string("key", "name")
    value = table.string("value", "value")
    probe = table.string("probe", None)
    if probe is not None and not probe.startswith("/"):
        raise table.error("probe", f"must be a path starting with '/', got {probe!r}")
    timeout = table.number("probe_timeout_s", 5.0, maximum=600)
    table.done()
    return FlagsSpec(path, name, key, value, probe, timeout)

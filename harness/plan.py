"""Load and validate a rehearsal plan (scenarios/<name>/rehearsal.toml).

Every problem is reported as one `PlanError` naming the file, the key and what is wrong.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.inject.spec import KINDS as CONTENTION_KINDS
from harness.inject.spec import Contention
from harness.upgrade.options import RUNNER_OPTION_KEYS, TRANSACTION_MODES, RunnerOptions

PLAN_FILE = "rehearsal.toml"
ENVIRONMENT_KINDS = ("auto", "local", "docker")
NETWORK_MODES = ("bridge", "host")
PHASE_NAMES = ("baseline", "upgrade", "post_upgrade", "rollback", "post_rollback")
PHASE_METRICS = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate", "rps")
RUN_METRICS = ("lock_wait_max_ms", "lock_wait_total_ms", "downtime_s", "rollback_safe", "migration_errors")


class PlanError(Exception):
    """A plan that cannot be rehearsed: one line naming file, key and problem."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


@dataclass(frozen=True)
class Migrations:
    """How a release changes the schema: a SQL directory, or a pair of commands."""

    sql_dir: Path | None = None
    options: RunnerOptions | None = None  # SQL runner options: the plan's [upgrade], overridden per release
    up_command: list[str] | None = None
    down_command: list[str] | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class Release:
    version: str
    dir: Path
    upgrades_from: str | None
    migrations: Migrations
    command: list[str]
    image: str | None = None


@dataclass(frozen=True)
class Gate:
    metric: str
    phase: str | None
    endpoint: str | None
    max: float | None
    min: float | None

    @property
    def name(self) -> str:
        where = ",".join(x for x in (self.phase, self.endpoint) if x)
        bound = f"<= {self.max:g}" if self.max is not None else f">= {self.min:g}"
        return f"{self.metric}{f'[{where}]' if where else ''} {bound}"


@dataclass(frozen=True)
class Plan:
    path: Path
    scenario: str
    environment: str
    network: str
    postgres_bin: Path | None
    postgres_image: str
    database: str
    from_version: str
    to_version: str
    releases: dict[str, Release]
    health_path: str
    service_env: dict[str, str]
    start_timeout_s: float
    stop_timeout_s: float
    seed_command: list[str] | None
    seed_rows: int
    locustfile: Path
    users: int
    spawn_rate: float
    load_env: dict[str, str]
    phase_seconds: dict[str, float]
    lock_sample_interval_ms: float
    rollback_tables: list[str]
    gates: list[Gate] = field(default_factory=list)
    runner: RunnerOptions = field(default_factory=RunnerOptions)
    contention: list[Contention] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return self.path.parent

    def upgrade_path(self) -> list[Release]:
        """Releases whose migrations take the database from `from_version` to `to_version`, in order."""
        return self._chain(self.to_version, stop_at=self.from_version)

    def setup_path(self) -> list[Release]:
        """Releases whose migrations build the `from_version` schema on an empty database, in order."""
        return self._chain(self.from_version, stop_at=None)

    def _chain(self, version: str, stop_at: str | None) -> list[Release]:
        chain: list[Release] = []
        current: str | None = version
        while current != stop_at:
            if current is None or current in [r.version for r in chain]:
                raise PlanError(self.path, "versions", f"no upgrade path from {stop_at} to {version}")
            release = self.releases[current]
            chain.append(release)
            current = release.upgrades_from
        return list(reversed(chain))


def find_plan_file(target: str | Path) -> Path:
    """The rehearsal.toml that `target` (a scenario directory or the file itself) names."""
    path = Path(target)
    if path.is_dir():
        path = path / PLAN_FILE
    if not path.is_file():
        raise PlanError(path, "", "no such plan file")
    return path.resolve()


def load_plan(target: str | Path, overrides: dict[str, Any] | None = None) -> Plan:
    """Read, override (dotted keys) and validate a plan."""
    path = find_plan_file(target)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(path, "", f"not valid TOML ({exc})") from None
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value, path)
    return _Validator(path, raw).plan()


def parse_override(text: str, path: Path | str = "--set") -> tuple[str, Any]:
    """`key.sub=value` with value read as a TOML value when it parses, else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise PlanError(path, text, "expected KEY=VALUE")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip(), parsed


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, path: Path) -> None:
    node = raw
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise PlanError(path, dotted, f"'{part}' is not a table")
    node[parts[-1]] = value


class _Validator:
    def __init__(self, path: Path, raw: dict[str, Any]) -> None:
        self.path, self.raw = path, raw

    def fail(self, key: str, problem: str) -> PlanError:
        return PlanError(self.path, key, problem)

    def table(self, key: str, required: bool = True) -> dict[str, Any]:
        value = self._lookup(key)
        if value is None:
            if required:
                raise self.fail(key, "missing table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def _lookup(self, key: str) -> Any:
        node: Any = self.raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., choices: tuple = ()) -> Any:
        value = self._lookup(key)
        if value is None:
            if default is ...:
                raise self.fail(key, "missing")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"must be {_kind_name(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.fail(key, f"must be {_kind_name(kinds)}, got {value!r}")
        if choices and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def positive(self, key: str, default: Any = ..., integer: bool = False) -> Any:
        value = self.get(key, int if integer else (int, float), default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be > 0, got {value!r}")
        return value

    def command(self, key: str, default: Any = ...) -> list[str] | None:
        value = self.get(key, (list, str), default)
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split()
        if not value or not all(isinstance(part, str) for part in value):
            raise self.fail(key, "must be a non-empty list of strings")
        return list(value)

    def existing(self, key: str, relative: str, base: Path, is_dir: bool) -> Path:
        candidate = (base / relative).resolve()
        if not (candidate.is_dir() if is_dir else candidate.is_file()):
            raise self.fail(key, f"{'directory' if is_dir else 'file'} {relative!r} does not exist")
        return candidate

    def str_map(self, key: str) -> dict[str, str]:
        mapping = self.get(key, dict, {})
        for name, value in mapping.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise self.fail(f"{key}.{name}", "must be a string or number")
        return {name: str(value) for name, value in mapping.items()}

    def plan(self) -> Plan:
        base = self.path.parent
        known = {"scenario", "environment", "versions", "service", "releases", "seed", "load", "phases",
                 "observe", "rollback", "gates", "upgrade", "contention"}
        for key in self.raw:
            if key not in known:
                raise self.fail(key, f"unknown section (known: {', '.join(sorted(known))})")
        self.table("scenario")
        self.runner = self.runner_options(self.table("upgrade", required=False), "upgrade", RunnerOptions())
        postgres_bin = self.get("environment.postgres_bin", str, None)
        releases = self.releases(base)
        from_version = self.get("versions.from", str)
        to_version = self.get("versions.to", str)
        for key, version in (("versions.from", from_version), ("versions.to", to_version)):
            if version not in releases:
                raise self.fail(key, f"no release {version!r} (releases: {', '.join(releases)})")
        if from_version == to_version:
            raise self.fail("versions.to", "must differ from versions.from")
        phase_seconds = {
            name: float(self.positive(f"phases.{name}_s", default))
            for name, default in (("baseline", 30), ("post_upgrade", 30), ("post_rollback", 30))
        }
        plan = Plan(
            path=self.path,
            scenario=self.get("scenario.name", str, base.name),
            environment=self.get("environment.kind", str, "auto", ENVIRONMENT_KINDS),
            network=self.get("environment.network", str, "bridge", NETWORK_MODES),
            postgres_bin=self.existing("environment.postgres_bin", postgres_bin, base, True)
            if postgres_bin else None,
            postgres_image=self.get("environment.postgres_image", str, "postgres:18"),
            database=self.get("environment.database", str, "app"),
            from_version=from_version,
            to_version=to_version,
            releases=releases,
            health_path=self.get("service.health_path", str, "/health"),
            service_env=self.str_map("service.env"),
            start_timeout_s=float(self.positive("service.start_timeout_s", 30)),
            stop_timeout_s=float(self.positive("service.stop_timeout_s", 10)),
            seed_command=self.command("seed.command", None),
            seed_rows=self.positive("seed.rows", 1000, integer=True),
            locustfile=self.existing("load.locustfile", self.get("load.locustfile", str), base, False),
            users=self.positive("load.users", 20, integer=True),
            spawn_rate=float(self.positive("load.spawn_rate", 10)),
            load_env=self.str_map("load.env"),
            phase_seconds=phase_seconds,
            lock_sample_interval_ms=float(self.positive("observe.lock_sample_interval_ms", 50)),
            rollback_tables=self.string_list("rollback.tables"),
            gates=self.gates(),
            runner=self.runner,
            contention=self.contention(),
        )
        plan.upgrade_path()  # raises when `to` does not upgrade from `from`
        plan.setup_path()
        return plan

    def runner_options(self, spec: dict[str, Any], key: str, defaults: RunnerOptions) -> RunnerOptions:
        """SQL runner options from `spec` (the [upgrade] table, or a release's migrations), over `defaults`."""
        values: dict[str, Any] = {}
        for name, value in spec.items():
            where = f"{key}.{name}"
            if name not in RUNNER_OPTION_KEYS:
                raise self.fail(where, "unknown key")
            if name == "transaction":
                if value not in TRANSACTION_MODES:
                    raise self.fail(where, f"must be one of {', '.join(TRANSACTION_MODES)}, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(where, f"must be an integer, got {value!r}")
            elif value < 0 or (value == 0 and name != "lock_retries"):
                raise self.fail(where, f"must be {'>= 0' if name == 'lock_retries' else '> 0'}, got {value!r}")
            values[name] = value
        return replace(defaults, **values)

    def contention(self) -> list[Contention]:
        items = []
        for index, spec in enumerate(self.get("contention", list, [])):
            key = f"contention[{index}]"
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            unknown = set(spec) - {"kind", "table", "phase", "seconds"}
            if unknown:
                raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key")
            kind = spec.get("kind")
            if kind not in CONTENTION_KINDS:
                raise self.fail(f"{key}.kind", f"must be one of {', '.join(CONTENTION_KINDS)}, got {kind!r}")
            table, phase = spec.get("table"), spec.get("phase", "upgrade")
            if not isinstance(table, str) or not table:
                raise self.fail(f"{key}.table", "must name a table")
            if phase not in PHASE_NAMES:
                raise self.fail(f"{key}.phase", f"must be one of {', '.join(PHASE_NAMES)}")
            seconds = spec.get("seconds", 10)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
                raise self.fail(f"{key}.seconds", f"must be a number > 0, got {seconds!r}")
            items.append(Contention(kind, table, phase, float(seconds)))
        return items

    def string_list(self, key: str) -> list[str]:
        value = self.get(key, list, [])
        if not all(isinstance(item, str) and item for item in value):
            raise self.fail(key, "must be a list of names")
        return list(value)

    def releases(self, base: Path) -> dict[str, Release]:
        tables = self.table("releases")
        if not tables:
            raise self.fail("releases", "no release defined")
        default_command = self.command("service.command", None)
        releases: dict[str, Release] = {}
        for version, spec in tables.items():
            key = f'releases."{version}"'
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            unknown = set(spec) - {"dir", "upgrades_from", "migrations", "command", "image"}
            if unknown:
                raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key")
            rel_dir = spec.get("dir", f"releases/{version}")
            if not isinstance(rel_dir, str):
                raise self.fail(f"{key}.dir", "must be a string")
            release_dir = self.existing(f"{key}.dir", rel_dir, base, True)
            upgrades_from = spec.get("upgrades_from")
            if upgrades_from is not None and upgrades_from not in tables:
                raise self.fail(f"{key}.upgrades_from", f"no release {upgrades_from!r}")
            command = spec.get("command", default_command)
            if not command:
                raise self.fail(f"{key}.command", "missing (set service.command or the release's command)")
            if isinstance(command, str):
                command = command.split()
            releases[version] = Release(
                version=version,
                dir=release_dir,
                upgrades_from=upgrades_from,
                migrations=self.migrations(f"{key}.migrations", spec.get("migrations"), release_dir, base),
                command=list(command),
                image=spec.get("image"),
            )
        return releases

    def migrations(self, key: str, spec: Any, release_dir: Path, base: Path) -> Migrations:
        """SQL directories are relative to the release; a command's cwd to the plan (default: the plan's dir)."""
        if spec is None:
            return Migrations()
        if not isinstance(spec, dict):
            raise self.fail(key, "must be a table with 'sql' or 'up'/'down'")
        if "sql" in spec:
            if not isinstance(spec["sql"], str):
                raise self.fail(f"{key}.sql", "must be a directory path")
            sql_dir = self.existing(f"{key}.sql", spec["sql"], release_dir, True)
            for up in sorted(sql_dir.glob("*.up.sql")):
                if not up.with_name(up.name.replace(".up.sql", ".down.sql")).is_file():
                    raise self.fail(f"{key}.sql", f"{up.name} has no matching .down.sql: it could not be rolled back")
            options = {k: v for k, v in spec.items() if k != "sql"}
            return Migrations(sql_dir=sql_dir, options=self.runner_options(options, key, self.runner))
        if "up" not in spec or "down" not in spec:
            raise self.fail(key, "needs 'sql' = DIR, or both 'up' and 'down' commands")
        unknown = set(spec) - {"up", "down", "cwd"}
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key for a command migration")
        commands = {}
        for verb in ("up", "down"):
            value = spec[verb]
            if isinstance(value, str):
                value = value.split()
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise self.fail(f"{key}.{verb}", "must be a command (list of strings)")
            commands[verb] = value
        cwd = spec.get("cwd", ".")
        return Migrations(up_command=commands["up"], down_command=commands["down"],
                          cwd=self.existing(f"{key}.cwd", cwd, base, True))

    def gates(self) -> list[Gate]:
        specs = self.get("gates", list, [])
        gates = []
        for index, spec in enumerate(specs):
            key = f"gates[{index}]"
            if not isinstance(spec, dict):
                raise self.fail(key, "must be a table")
            metric = spec.get("metric")
            if metric not in PHASE_METRICS + RUN_METRICS:
                raise self.fail(f"{key}.metric", f"unknown metric {metric!r} "
                                f"(known: {', '.join(PHASE_METRICS + RUN_METRICS)})")
            phase = spec.get("phase")
            if phase is not None and phase not in PHASE_NAMES:
                raise self.fail(f"{key}.phase", f"must be one of {', '.join(PHASE_NAMES)}")
            if phase is not None and metric in RUN_METRICS:
                raise self.fail(f"{key}.phase", f"{metric} is measured over the whole run, not per phase")
            bounds = {b: spec.get(b) for b in ("max", "min")}
            given = {b: v for b, v in bounds.items() if v is not None}
            if len(given) != 1:
                raise self.fail(key, "needs exactly one of 'max' or 'min'")
            (bound, value), = given.items()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(f"{key}.{bound}", f"must be a number, got {value!r}")
            unknown = set(spec) - {"metric", "phase", "endpoint", "max", "min"}
            if unknown:
                raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key")
            gates.append(Gate(metric=metric, phase=phase, endpoint=spec.get("endpoint"),
                              max=float(bounds["max"]) if bounds["max"] is not None else None,
                              min=float(bounds["min"]) if bounds["min"] is not None else None))
        return gates


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table",
             bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)

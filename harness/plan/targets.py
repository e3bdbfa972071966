"""The target guard: a plan may point the service and its commands only at what the harness starts.

Checked when the plan is loaded, before anything starts. Refused, unless the host is listed in [targets] allow
and the run is confirmed (`--allow-targets`):
- a database setting in service.env / load.env (DATABASE_URL, the libpq PG* variables) that is not the
  harness's own ({dsn}, or its parts {db_host}, {db_port}, {db_user}, {db_password}, {db_name}: a URL's host or
  PGHOST must then be {db_host}): the harness sets them to the database it started;
- a PostgreSQL URL or a libpq `host=` in any env value or command argument that is not the harness's own;
- any other URL in an env value or a command argument whose host is not loopback;
- a bind address (HOST, BIND, LISTEN, ...) in service.env that is not loopback (0.0.0.0 exposes the service).
Hosts are judged by core.net (parsed, resolved from /etc/hosts only: no DNS query, no packet sent).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from harness.core.net import is_loopback_host, url_host, url_port
from harness.plan.model import CommandMigrations, Plan

# libpq's connection variables (https://www.postgresql.org/docs/current/libpq-envars.html) and the usual URL one.
DATABASE_VARIABLES = ("DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD",
                      "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGSSLMODE", "PGTARGETSESSIONATTRS")
BIND_VARIABLES = re.compile(r"^(HOST|BIND|BIND_ADDRESS|LISTEN|LISTEN_ADDRESS|ADDRESS|SERVER_HOST|APP_HOST)$", re.I)
# What the harness fills with its own database (its URL, or its parts: issue 9) or the service's port.
OWN = re.compile(r"\{(dsn|port|db_host|db_port|db_user|db_password|db_name)\}")
OWN_HOST = "{db_host}"  # a URL or host setting naming this is the harness's own database
URL = re.compile(r"\b([a-z][a-z0-9+.\-]*)://[^\s'\"<>]+", re.I)
LIBPQ_HOST = re.compile(r"\b(?:host|hostaddr)\s*=\s*'?([^\s']+)", re.I)
HOST_FLAGS = ("--host", "-h", "--hostname", "--dbhost", "--db-host", "--url", "--database-url", "--dsn")
ALLOW_FLAG = "--allow-targets"


@dataclass(frozen=True)
class Target:
    """Something in the plan that points somewhere: where the plan says it, the host, and why it matters."""

    key: str
    host: str
    port: int | None
    what: str


def check_targets(plan: Plan) -> None:
    """Raise PlanError for the first target the harness did not start and the plan may not use."""
    for target in find_targets(plan):
        allowed = _allowed(target, plan.targets.allow)
        if allowed and plan.targets.confirmed:
            continue
        where = f"{target.host}:{target.port}" if target.port else target.host
        if allowed:
            raise plan.error(target.key, f"points at {where}, listed in [targets] allow: confirm it with "
                             f"{ALLOW_FLAG} (the harness did not start it)")
        raise plan.error(target.key, f"points at {where}, {target.what} the harness did not start: "
                         f"remove it, or list the host in [targets] allow and pass {ALLOW_FLAG}")


def find_targets(plan: Plan) -> Iterator[Target]:
    """Every host the plan's env values and commands point at, apart from the harness's own."""
    envs = [("service.env", plan.service_env, True), ("load.env", plan.load_env, False)]
    envs += [(f'releases."{version}".env', release.env, True) for version, release in plan.releases.items()
             if release.package is None]  # a package's manifest is scanned with its files (package/scanners)
    for section, env, is_service in envs:
        for name, value in env.items():
            key = f"{section}.{name}"
            if name.upper() in DATABASE_VARIABLES and not _own_database(name, value):
                host = url_host(value) if "://" in value else value if name.upper() in ("PGHOST", "PGHOSTADDR") \
                    else None
                yield Target(key, host or value or "(empty)", url_port(value) if "://" in value else None,
                             f"a database setting ({name}) that")
                continue
            if is_service and BIND_VARIABLES.match(name) and not OWN.search(value) \
                    and not is_loopback_host(value):
                yield Target(key, value or "(empty)", None, "a bind address (not loopback) that")
                continue
            yield from _in_text(key, value)
    commands: list[tuple[str, list[str] | None]] = [("seed.command", plan.seed_command)]
    for version, release in plan.releases.items():
        commands.append((f'releases."{version}".command', release.command))
        if isinstance(release.migrations, CommandMigrations):
            commands.append((f'releases."{version}".migrations.up', release.migrations.up))
            commands.append((f'releases."{version}".migrations.down', release.migrations.down))
            for name in ("sql_command", "down_sql_command"):
                commands.append((f'releases."{version}".migrations.{name}', getattr(release.migrations, name)))
    for key, argv in commands:
        for index, arg in enumerate(argv or []):
            yield from _in_text(f"{key}[{index}]", arg)
            if arg in HOST_FLAGS and index + 1 < len(argv or []):
                value = (argv or [])[index + 1]
                if "://" not in value and not OWN.search(value) and not is_loopback_host(value):
                    yield Target(f"{key}[{index + 1}]", value, None, "a host that")
            flag, sep, value = arg.partition("=")
            if sep and flag in HOST_FLAGS and "://" not in value and not OWN.search(value) \
                    and not is_loopback_host(value):
                yield Target(f"{key}[{index}]", value, None, "a host that")


def _own_database(name: str, value: str) -> bool:
    """Whether a database setting names the harness's own database: {dsn}; a URL whose host is {db_host};
    PGHOST = {db_host}; any other variable filled from the database's parts."""
    if "{dsn}" in value:
        return True
    if "://" in value:
        return all(_url_is_own(match.group(0)) for match in URL.finditer(value))
    if name.upper() in ("PGHOST", "PGHOSTADDR"):
        return value.strip() == OWN_HOST
    return bool(OWN.search(value))


def _url_is_own(url: str) -> bool:
    """Whether the URL's host, as written, is {db_host} (read by hand: a {db_port} port does not parse)."""
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    return authority.rpartition("@")[2].rsplit(":", 1)[0] == OWN_HOST or authority.rpartition("@")[2] == OWN_HOST


def _in_text(key: str, text: str) -> Iterator[Target]:
    if "{dsn}" in text and not URL.search(text):
        return
    for match in URL.finditer(text):
        url, scheme = match.group(0), match.group(1).lower()
        if _url_is_own(url):
            continue
        host = url_host(url)
        if scheme.startswith("postgres"):
            yield Target(key, host or "(a local socket)", url_port(url), "a database that")
        elif host is None or not is_loopback_host(host):
            yield Target(key, host or url, url_port(url), "a host that")
    for match in LIBPQ_HOST.finditer(text):
        if match.group(1) != OWN_HOST:
            yield Target(key, match.group(1), None, "a database that")


def _allowed(target: Target, allow: tuple[str, ...]) -> bool:
    for entry in allow:
        host, _, port = entry.strip().lower().rpartition(":") if _has_port(entry) else (entry.strip().lower(), "", "")
        if host.strip("[]") == target.host.lower().strip("[]") and (not port or str(target.port) == port):
            return True
    return False


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (not head.count(":") or head.endswith("]"))

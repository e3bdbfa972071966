"""The target guard: a plan may point the service and its commands only at what the harness starts.

Checked when the plan is loaded, before anything starts. Refused, unless the host is listed in [targets] allow
and the run is confirmed (`--allow-targets`):
- a database setting in service.env / load.env (DATABASE_URL, the libpq PG* variables) that is not the
  harness's own ({dsn}, {port}): the harness sets them to the database it started;
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
OWN = re.compile(r"\{(dsn|port)\}")  # what the harness fills with its own database / service port
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
    for section, env in (("service.env", plan.service_env), ("load.env", plan.load_env)):
        for name, value in env.items():
            key = f"{section}.{name}"
            if name.upper() in DATABASE_VARIABLES and not OWN.search(value):
                host = url_host(value) if "://" in value else value if name.upper() in ("PGHOST", "PGHOSTADDR") \
                    else None
                yield Target(key, host or value or "(empty)", url_port(value) if "://" in value else None,
                             f"a database setting ({name}) that")
                continue
            if section == "service.env" and BIND_VARIABLES.match(name) and not OWN.search(value) \
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


def _in_text(key: str, text: str) -> Iterator[Target]:
    if OWN.search(text):
        return
    for match in URL.finditer(text):
        url, scheme = match.group(0), match.group(1).lower()
        host = url_host(url)
        if scheme.startswith("postgres"):
            yield Target(key, host or "(a local socket)", url_port(url), "a database that")
        elif host is None or not is_loopback_host(host):
            yield Target(key, host or url, url_port(url), "a host that")
    for match in LIBPQ_HOST.finditer(text):
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

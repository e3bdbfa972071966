"""[[dependencies]]: the third-party APIs the service calls, each replaced by a loopback stub for the rehearsal.

```toml
[[dependencies]]
name = "payments"          # how the report and the timeline's `dependency` action name it
env = "PAYMENT_API_URL"    # the service finds the stub's base URL in this environment variable
latency_ms = 20            # every answer after this long (default 0)
error_rate = 0.1           # this share of the calls fails (default 0) ...
status = 503               # ... with this status (default 503)
error_burst_ms = 200       # errors in windows of this length (a brownout; default 0: each call on its own)
correlation_header = "Idempotency-Key"   # the upstream request a call belongs to (retries repeat it)
attempt_header = "X-Attempt"             # the attempt number, when the service sends one
```
"""

from __future__ import annotations

import re

from harness.plan.model import Dependency, Release, StubSettings
from harness.plan.reader import Table

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an HTTP token (RFC 9110)
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
# What every service start sets (environments.base.service_environment): a dependency cannot take it over.
HARNESS_ENV = ("PORT", "HOST", "DATABASE_URL", "REHEARSE_VERSION")
MAX_LATENCY_MS = 600_000.0


def read_dependencies(root: Table, service_env: dict[str, str], releases: dict[str, Release]) -> tuple[Dependency, ...]:
    """Every [[dependencies]] entry; unknown keys, repeated names or variables, and variables the plan or the
    harness already sets are plan errors."""
    found: list[Dependency] = []
    for table in root.tables("dependencies"):
        name = table.string("name")
        if not NAME.match(name):
            raise table.error("name", f"must be a name of letters, digits, _ . - , got {name!r}")
        if name in [d.name for d in found]:
            raise table.error("name", f"{name!r} is already a dependency: names are unique")
        env = table.string("env")
        if not ENV_NAME.match(env):
            raise table.error("env", f"must be an environment variable name (letters, digits, _), got {env!r}")
        if env in [d.env for d in found]:
            raise table.error("env", f"{env} already carries the URL of another dependency")
        if env in HARNESS_ENV or env.startswith("PG"):
            raise table.error("env", f"{env} is set by the harness for every service start")
        setters = (["service.env"] if env in service_env else []) + [
            f'releases."{v}".env' for v, r in releases.items() if env in r.env and r.package is None]
        if setters:
            raise table.error("env", f"{env} is also set by {', '.join(setters)}: the harness sets it to the stub's "
                              "URL")
        settings = read_settings(table, StubSettings(), outage=False)
        correlation = _header(table, "correlation_header", "Idempotency-Key")
        attempt = _header(table, "attempt_header", "X-Attempt")
        table.done()
        found.append(Dependency(name, env, settings, correlation, attempt, key=table.key))
    return tuple(found)


def read_settings(table: Table, defaults: StubSettings, outage: bool) -> StubSettings:
    """latency_ms, error_rate, status, error_burst_ms (and, with `outage`, outage) of `table` over `defaults`."""
    status = table.integer("status", defaults.status, minimum=400, maximum=599)
    return StubSettings(
        latency_ms=table.number("latency_ms", defaults.latency_ms, minimum=0, positive=False, maximum=MAX_LATENCY_MS),
        error_rate=table.number("error_rate", defaults.error_rate, minimum=0, positive=False, maximum=1),
        status=int(status),
        error_burst_ms=table.number("error_burst_ms", defaults.error_burst_ms, minimum=0, positive=False,
                                    maximum=MAX_LATENCY_MS),
        outage=bool(table.boolean("outage", defaults.outage)) if outage else False)


def _header(table: Table, name: str, default: str) -> str:
    value = str(table.string(name, default))
    if not HEADER_NAME.match(value):
        raise table.error(name, f"must be an HTTP header name, got {value!r}")
    return value

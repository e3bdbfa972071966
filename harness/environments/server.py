"""What the running server is: its version, and whether it offers the extensions the plan needs.

Checked as soon as the database answers, in every environment (a container's extensions are only known
then), before any migration runs; a missing extension is an environment failure naming it and where to get it.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from harness.core.database import Database
from harness.core.postgres import CHECK_APPLICATION
from harness.environments.postgres_binaries import PostgresNotFound, where_to_get


def server_facts(database: Database, extensions: list[str]) -> dict[str, Any]:
    """version, version_num, major and the available state of each required extension; raises
    PostgresNotFound when one is missing."""
    with psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        number = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
        available = {row[0] for row in conn.execute("SELECT name FROM pg_available_extensions")}
    major = number // 10000
    missing = [name for name in extensions if name not in available]
    if missing:
        named = f"extension{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        raise PostgresNotFound("environment.extensions", f"the server (PostgreSQL {version}) does not offer "
                               f"{named}: {where_to_get(missing, major)}")
    return {"version": version.split(" ")[0], "version_num": number, "major": major,
            "extensions_required": list(extensions)}


_NOT_AVAILABLE = re.compile(r'extension "([^"]+)" is not available|could not open extension control file '
                            r'"[^"]*/([^/"]+)\.control"')


def missing_extension_hint(error: str, major: int) -> str:
    """For an error that says the server lacks an extension: which one and where to get it ("" otherwise)."""
    found = _NOT_AVAILABLE.search(error)
    if found is None:
        return ""
    name = found.group(1) or found.group(2)
    where = where_to_get([name], major)
    return (f"; this server lacks extension {name}: declare environment.extensions = [\"{name}\"] (and "
            f"environment.postgres_version) so that it is checked before anything starts; {where}")


def installed_extensions(database: Database) -> list[str]:
    """Extensions created in the database (name and version), plpgsql aside."""
    with psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION) as conn:
        return [f"{name} {version}" for name, version in conn.execute(
            "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")]

"""Configuration level: the service's config files, its process environment and its feature flags, snapshotted
before the upgrade and compared after the rollback.

Files: their text (differences shown line by line, values of secret-looking keys masked). The environment:
variable names and a hash of each value (values are never kept or shown: they hold passwords). Flags: a JSON
object in a file, or the rows of a flags table (name -> value), compared name by name.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from harness.core.database import Database
from harness.load.contract import SECRET_KEYS_PATTERN
from harness.plan.model import FlagsSpec
from harness.verify.checksum import CHECK_APPLICATION, relation

MAX_FILE_BYTES = 1_000_000
MAX_DIFF_LINES = 20
_secret = re.compile(SECRET_KEYS_PATTERN)


@dataclass
class ConfigSnapshot:
    files: dict[str, bytes | None] = field(default_factory=dict)  # path -> content (None: missing)
    environment: dict[str, str] | None = None  # name -> sha256 of the value
    flags: dict[str, Any] | None = None


def read_files(paths: tuple[Path, ...]) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for path in paths:
        try:
            found[str(path)] = path.read_bytes()[:MAX_FILE_BYTES]
        except OSError:
            found[str(path)] = None
    return found


def hashed_environment(environ: dict[str, str] | None) -> dict[str, str] | None:
    if environ is None:
        return None
    return {name: hashlib.sha256(value.encode()).hexdigest() for name, value in environ.items()}


def read_flags(database: Database, spec: FlagsSpec) -> dict[str, Any]:
    """The flags now: the JSON object of `spec.file`, or name -> value of `spec.table`."""
    if spec.file is not None:
        try:
            data = json.loads(spec.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
    assert spec.table is not None
    with psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION) as conn:
        rows = conn.execute(sql.SQL("SELECT {k}::text, to_jsonb({v}) FROM {t}").format(
            k=sql.Identifier(spec.key), v=sql.Identifier(spec.value), t=relation(spec.table))).fetchall()
    return {str(name): value for name, value in rows}


def write_flag(database: Database, spec: FlagsSpec, name: str, value: Any) -> None:
    """Set one flag where the plan keeps them (the file atomically; the table by update, else insert)."""
    if spec.file is not None:
        flags = read_flags(database, spec)
        flags[name] = value
        temp = spec.file.with_name(f".{spec.file.name}.rehearse-tmp")
        temp.write_text(json.dumps(flags, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        temp.replace(spec.file)
        return
    assert spec.table is not None
    with psycopg.connect(database.dsn(), autocommit=True, application_name=CHECK_APPLICATION) as conn:
        params = {"name": name, "value": json.dumps(value)}
        target = sql.SQL("(jsonb_populate_record(NULL::{t}, jsonb_build_object({vk}, %(value)s::jsonb))).{v}").format(
            t=relation(spec.table), vk=sql.Literal(spec.value), v=sql.Identifier(spec.value))
        updated = conn.execute(sql.SQL("UPDATE {t} SET {v} = {target} WHERE {k}::text = %(name)s").format(
            t=relation(spec.table), v=sql.Identifier(spec.value), target=target, k=sql.Identifier(spec.key)),
            params).rowcount
        if not updated:
            conn.execute(sql.SQL("INSERT INTO {t} ({k}, {v}) VALUES (%(name)s, {target})").format(
                t=relation(spec.table), k=sql.Identifier(spec.key), v=sql.Identifier(spec.value), target=target),
                params)


def restore_files(snapshot: ConfigSnapshot) -> None:
    """Put back the files as they were before the upgrade (a rehearsal leaves the plan's files as it found them)."""
    for name, content in snapshot.files.items():
        path = Path(name)
        if content is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(content)


def files_diff(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> list[str]:
    """One line per file that is not back, then its differing lines (secret-looking values masked)."""
    lines: list[str] = []
    for name, was in before.items():
        now = after.get(name)
        if was == now:
            continue
        if was is None:
            lines.append(f"config file {name}: not there before the upgrade, there after the rollback")
            continue
        if now is None:
            lines.append(f"config file {name}: there before the upgrade, missing after the rollback")
            continue
        old, new = _text(was).splitlines(), _text(now).splitlines()
        lines.append(f"config file {name}: differs from before the upgrade")
        changed = [line for line in difflib.unified_diff(old, new, lineterm="", n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        lines += [f"  {_masked(line)}" for line in changed[:MAX_DIFF_LINES]]
        if len(changed) > MAX_DIFF_LINES:
            lines.append(f"  ... {len(changed) - MAX_DIFF_LINES} more lines")
    return lines


def environment_diff(before: dict[str, str] | None, after: dict[str, str] | None) -> list[str]:
    if before is None or after is None:
        return []
    lines = [f"environment variable {name}: set before the upgrade, unset after the rollback"
             for name in sorted(before.keys() - after.keys())]
    lines += [f"environment variable {name}: not set before the upgrade, set after the rollback"
              for name in sorted(after.keys() - before.keys())]
    lines += [f"environment variable {name}: value differs (not shown)"
              for name in sorted(before.keys() & after.keys()) if before[name] != after[name]]
    return lines


def flags_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    if before is None or after is None:
        return []
    lines = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            lines.append(f"flag {name}: was {json.dumps(before[name])}, gone after the rollback")
        elif name not in before:
            lines.append(f"flag {name}: not set before the upgrade, {json.dumps(after[name])} after the rollback")
        elif before[name] != after[name]:
            lines.append(f"flag {name}: was {json.dumps(before[name])} before the upgrade, "
                         f"{json.dumps(after[name])} after the rollback")
    return lines


def _text(content: bytes) -> str:
    return content.decode("utf-8", errors="replace")


def _masked(line: str) -> str:
    return _secret.sub(lambda m: m.group(1) + "***", line)

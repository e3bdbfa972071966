"""Read and parse SQL migration files, so that a file that cannot run is bad input before anything starts."""

from __future__ import annotations

from pathlib import Path

import pglast

from harness.core.errors import SqlInputError
from harness.plan.model import Plan, SqlMigrations


def sql_statements(path: Path, key: str = "") -> list[str]:
    """The statements of one file, split by PostgreSQL's own parser; SqlInputError names the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
        if "\0" in text:
            raise SqlInputError(path, key, f"contains a NUL byte (character {text.index(chr(0))}): PostgreSQL "
                                "cannot run it")
        return list(pglast.split(text, with_parser=True))
    except UnicodeDecodeError as exc:
        raise SqlInputError(path, key, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SqlInputError(path, key, exc.strerror or str(exc)) from None
    except pglast.parser.ParseError as exc:
        raise SqlInputError(path, key, f"cannot parse SQL: {exc}") from None
    except (ValueError, RecursionError) as exc:  # NUL bytes, absurd nesting: pglast's own refusals
        raise SqlInputError(path, key, f"cannot parse SQL: {type(exc).__name__}: {exc}") from None


def migration_files(directory: Path, direction: str) -> list[Path]:
    """The files to run for `direction` ("up" or "down") in the order they run."""
    files = sorted(directory.glob(f"*.{direction}.sql"))
    return list(reversed(files)) if direction == "down" else files


def check_sql_files(plan: Plan) -> None:
    """Parse every SQL migration file (up and down) of the releases that set up and upgrade the database."""
    for release in plan.setup_path() + plan.upgrade_path():
        if isinstance(release.migrations, SqlMigrations):
            key = f'releases."{release.version}".migrations.sql'
            for direction in ("up", "down"):
                for path in migration_files(release.migrations.dir, direction):
                    sql_statements(path, key)

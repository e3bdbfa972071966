"""Connection facts of a PostgreSQL database; the password never goes to logs, reports or command lines."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    def dsn(self, dbname: str | None = None) -> str:
        return (f"postgresql://{quote(self.user)}:{quote(self.password)}@{self.host}:{self.port}/"
                f"{dbname or self.dbname}")

    def dsn_without_password(self, dbname: str | None = None) -> str:
        """The DSN for command lines and {dsn}: libpq and most drivers take the password from PGPASSWORD."""
        return f"postgresql://{quote(self.user)}@{self.host}:{self.port}/{dbname or self.dbname}"

    def libpq_env(self, application_name: str | None = None) -> dict[str, str]:
        """PG* variables (and DATABASE_URL) for tools that read libpq's environment: psql, alembic, ..."""
        env = {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
               "PGPASSWORD": self.password, "PGDATABASE": self.dbname, "DATABASE_URL": self.dsn()}
        if application_name:
            env["PGAPPNAME"] = application_name
        return env

"""An ephemeral PostgreSQL cluster in a temp directory, on a free loopback port."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

from harness.core import ownership
from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.postgres import LOG_LINE_PREFIX
from harness.core.processes import OwnedProcess, die_with_parent, free_loopback_port, wait_until
from harness.environments.postgres_binaries import find_install, server_user, usable_by

SUPERUSER = "rehearse"
# Settings closer to a production server than initdb's defaults, and what the observers rely on.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "log_lock_waits": "on",
    "log_min_duration_statement": "-1",
    "log_line_prefix": LOG_LINE_PREFIX,  # epoch, pid, application: the report reads migration statements back
    "track_activity_query_size": "4096",
}


class LocalPostgres:
    """Verbs: start() -> Database, stop(). Owns its temp dir and server process."""

    def __init__(self, run_dir: Path, bin_dir: Path | None, dbname: str, env: dict[str, str],
                 label: str = "", settings: dict[str, str] | None = None, version: int | None = None,
                 extensions: list[str] | None = None) -> None:
        self.run_dir, self.dbname, self.env, self.label = run_dir, dbname, env, label
        self.settings = SERVER_SETTINGS | (settings or {})  # the plan's over the harness's defaults
        self.user = server_user()
        self.install = find_install(bin_dir, version, extensions or [])
        self.bin_dir = usable_by(self.install.bin_dir, self.user)
        self.tmp: Path | None = None
        self.server: OwnedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self.run_dir / "logs" / "postgres.log"

    def start(self) -> Database:
        """initdb, start the server (with `settings` as -c arguments), create the database; returns a
        loopback Database."""
        self.tmp = Path(tempfile.mkdtemp(prefix=f"rehearse-pg-{self.label}-" if self.label else "rehearse-pg-"))
        ownership.note_temp_dir(self.tmp)
        password = secrets.token_urlsafe(18)
        pwfile = self.tmp / "pw"
        pwfile.write_text(password)
        data = self.tmp / "data"
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.tmp, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
             "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, user=self.user, env=self.env, cwd=self.tmp, check=False,
            preexec_fn=die_with_parent(signal.SIGKILL),  # noqa: PLW1509 - only prctl runs there
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise EnvironmentFailure(f"initdb failed: {initdb.stderr.strip().splitlines()[-1:]}")
        port = free_loopback_port()
        argv = [str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(self.tmp)]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        self.server = OwnedProcess("postgres", argv, self.log_path, cwd=self.tmp,
                                   env=self.env, user=self.user, death_signal=signal.SIGINT)  # a fast shutdown
        database = Database("127.0.0.1", port, SUPERUSER, password, "postgres")
        wait_until(lambda: _accepts(database), timeout=30, what="PostgreSQL to accept connections",
                   alive=self.server)
        with psycopg.connect(database.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')
        return Database("127.0.0.1", port, SUPERUSER, password, self.dbname)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), kill after a grace period, remove the cluster."""
        if self.server is not None:
            self.server.stop(signal.SIGINT, timeout=15)
            self.server = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            ownership.forget_temp_dir(self.tmp)
            self.tmp = None


def _accepts(database: Database) -> bool:
    try:
        with psycopg.connect(database.dsn(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False

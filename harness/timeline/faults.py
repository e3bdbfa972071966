"""Faults during the rehearsal, as events: the service or the load generator died, the database went away or
restarted, the run directory's disk filled up.

The FaultWatcher polls (every half second) the load process, the service (outside swaps), and the database
(its own connection: a lost connection that comes back is a restart; one that stays away is the database
down), and hears of every stream write that failed. Each fault is logged to streams/run.jsonl ("fault") and
said on the terminal. A fatal one (database down, disk full) ends the run: the timeline's waits (`sleep`) and
its checks between actions (`check`) raise it as an EnvironmentFailure, so the run stops with a partial report
and exit code 3 instead of a traceback or a hang.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from harness.core.database import Database
from harness.core.errors import EnvironmentFailure
from harness.core.poller import Poller
from harness.core.postgres import CHECK_APPLICATION
from harness.core.streams import on_write_failure
from harness.environments.base import Environment
from harness.events import Events
from harness.load.launcher import Load
from harness.records.run import Fault, Phase
from harness.rundir import RunLog

DATABASE_DOWN_AFTER_S = 3.0  # unreachable this long: the database is down, the run cannot go on
INTERVAL_S = 0.5
DISK_LOW_BYTES = 1024 * 1024  # less free space than this on the run directory's disk: it is full


class FaultWatcher(Poller):
    """Verbs: watch(events) starts it, sleep(s) / check() raise a fatal fault, stop() ends it; `faults` lists
    what it saw, `unwritten` what could not be logged yet (a full disk: the runner logs them at the end)."""

    name = "fault-watcher"

    def __init__(self, env: Environment, database: Database, load: Load | None, log: RunLog,
                 say: Callable[[str], None], run_dir: Path | None = None, interval_s: float = INTERVAL_S) -> None:
        super().__init__(interval_s, lambda message: None)
        self.env, self.database, self.load, self.log, self.say = env, database, load, log, say
        self.run_dir = run_dir
        self.faults: list[Fault] = []
        self.unwritten: list[Fault] = []
        self.fatal: Fault | None = None
        self.phase: str | None = None
        self.swapping = False
        self._service_reported = False
        self._load_reported = False
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._db_lost_at: float | None = None
        self._db_started: float | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- the timeline's side -------------------------------------------------------------------------

    def watch(self, events: Events) -> None:
        events.phase_started.add_listener(self._phase_started)
        events.swap_started.add_listener(self._swap_started)
        events.swap_ended.add_listener(self._swap_ended)
        self._unsubscribe = on_write_failure(self._write_failed)
        self.start()

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less when a fatal fault arrives (then raise it)."""
        self._wake.wait(max(0.0, seconds))
        self.check()

    def check(self) -> None:
        if self.fatal is not None:
            raise EnvironmentFailure(self.fatal.message)

    def close(self) -> None:
        self.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _phase_started(self, phase: Phase, **_: Any) -> None:
        self.phase = phase.name

    def _swap_started(self, **_: Any) -> None:
        self.swapping = True

    def _swap_ended(self, **_: Any) -> None:
        self.swapping, self._service_reported = False, False

    # -- the poller's side ---------------------------------------------------------------------------

    def connect(self) -> None:
        self._connect_database()

    def poll(self) -> None:
        if self.load is not None and self.load.process is not None and not self._load_reported \
                and not self.load.process.running():
            self._load_reported = True
            code = self.load.process.popen.returncode
            self.fault("load_died", f"the load generator (locust) exited with code {code}: no traffic from now on "
                       f"({self.load.process.log_tail(2) or 'no output'})")
        if not self.swapping and not self._service_reported:
            failure = self.env.service_failure()
            if failure is not None and failure != "not started" and not self.swapping:
                self._service_reported = True
                self.fault("service_died", f"the service {failure}")
        self._poll_database()
        self._poll_disk()

    def _poll_disk(self) -> None:
        """Streams on a full disk fail a page at a time: free space tells at once."""
        if self.run_dir is None:
            return
        with contextlib.suppress(OSError):
            stats = os.statvfs(self.run_dir)
            free = stats.f_bavail * stats.f_frsize
            if free < DISK_LOW_BYTES:
                self.fault("disk_full", f"the run directory's disk is full ({free // 1024} KiB left on "
                           f"{self.run_dir}): the run stops; its streams so far are kept", fatal=True)

    def disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def _connect_database(self) -> None:
        self._conn = psycopg.connect(self.database.dsn(), autocommit=True, connect_timeout=2,
                                     application_name=CHECK_APPLICATION)
        self._conn.execute("SET statement_timeout = '2s'")

    def _poll_database(self) -> None:
        try:
            if self._conn is None or self._conn.broken or self._conn.closed:
                self._connect_database()
            assert self._conn is not None
            row = self._conn.execute("SELECT extract(epoch FROM pg_postmaster_start_time())::float8").fetchone()
            started = float(row[0]) if row else None
        except psycopg.Error as exc:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
            now = time.time()
            if self._db_lost_at is None:
                self._db_lost_at = now
            elif now - self._db_lost_at >= DATABASE_DOWN_AFTER_S and (self.fatal is None):
                reason = " ".join(str(exc).split())[:160]
                self.fault("database_down", f"the database has not answered for {now - self._db_lost_at:.1f} s "
                           f"({reason})", fatal=True)
            return
        if self._db_lost_at is not None:
            gap = time.time() - self._db_lost_at
            restarted = self._db_started is not None and started is not None and started != self._db_started
            self.fault("database_restarted", f"the database dropped every connection and answered again "
                       f"{gap:.1f} s later" + (" (the server restarted)" if restarted else " (crash recovery or "
                                               "terminated backends)"))
            self._db_lost_at = None
        self._db_started = started

    def _write_failed(self, path: Path, error: OSError) -> None:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            self.fault("disk_full", f"the run directory's disk is full ({path.name}: {error.strerror}): the run "
                       "stops; its streams so far are kept", fatal=True)
        else:
            self.fault("disk_full", f"a stream of the run cannot be written ({path.name}: "
                       f"{error.strerror or error}): the run stops", fatal=True)

    def fault(self, kind: str, message: str, fatal: bool = False) -> None:
        """Record a fault (once per kind while it lasts); a fatal one wakes the timeline to stop."""
        with self._lock:
            if fatal and self.fatal is not None:
                return
            if any(f.kind == kind and kind in ("disk_full", "database_down") for f in self.faults):
                return
            fault = Fault(kind, message, time.time(), self.phase, fatal)
            self.faults.append(fault)
            if fatal:
                self.fatal = fault
        self.say(f"fault: {message}")
        if not self.log.write("fault", fault):
            self.unwritten.append(fault)
        if fatal:
            self._wake.set()

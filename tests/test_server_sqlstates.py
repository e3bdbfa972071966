"""SQLSTATEs of an unmodified service's failed requests come from the server's log: a real server, a real
service process that answers bare 500s, real HTTP requests, the harness's request reader and correlation."""

from __future__ import annotations

import csv
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.core.processes import OwnedProcess, free_loopback_port, wait_until
from harness.environments.local_postgres import LocalPostgres
from harness.load.contract import REQUEST_COLUMNS
from harness.observe.server_log import entries, server_errors
from harness.result.frames import request_frame
from harness.result.server_errors import correlate
from harness.service.health import is_healthy

from .conftest import REPO

APP = REPO / "tests" / "apps" / "plain_errors.py"


def _get(url: str, rows: list[list], name: str) -> None:
    started = time.time()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            status, error, body = response.status, "", response.read()
    except urllib.error.HTTPError as exc:
        status, error, body = exc.code, f"HTTPError: {exc.code}", exc.read()
    assert b"SQLSTATE" not in body.upper() and b"4" not in body[:1]
    rows.append([f"{started:.6f}", name, "GET", status, f"{(time.time() - started) * 1000:.3f}", len(body), error,
                 "", 1])


@pytest.fixture(scope="module")
def plain_errors_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    run_dir = tmp_path_factory.mktemp("plain-errors")
    server = LocalPostgres(run_dir, None, "plain", dict(os.environ), "sqlstates")
    database = server.start()
    port = free_loopback_port()
    app = OwnedProcess("plain-errors", [sys.executable, str(APP)], run_dir / "logs" / "app.log",
                       env={**os.environ, **database.libpq_env(), "PORT": str(port)})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: is_healthy(base + "/health"), 30, what="the service", alive=app)
        rows: list[list] = []
        for path in ("/undefined-function", "/bad-cast", "/ok"):  # one at a time: nothing to tell apart
            _get(base + path, rows, path)
        # then all at once: several requests fail in the same millisecond, for different reasons
        plan = ["/ok", "/undefined-function", "/bad-cast", "/ok", "/undefined-function", "/bad-cast"]
        threads = [threading.Thread(target=_get, args=(base + path, rows, path)) for path in plan]
        threads += [threading.Thread(target=_get, args=(base + path, rows, "/deadlock")) for path in
                    ("/deadlock/a", "/deadlock/b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        requests_csv = run_dir / "requests.csv"
        with open(requests_csv, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(REQUEST_COLUMNS)
            writer.writerows(rows)
    finally:
        app.stop()
        server.stop()
    return requests_csv, run_dir / "logs" / "postgres.log"


def test_bare_500s_get_their_sqlstates_from_the_server_log(plain_errors_run: tuple[Path, Path]) -> None:
    requests_csv, log = plain_errors_run
    requests = request_frame(requests_csv)
    assert requests["sqlstate"].isna().all(), "the service named no SQLSTATE"
    found = correlate(requests, server_errors(log))
    failed = found[found["error"].notna()]
    by_name = {name: sorted(group["sqlstate"]) for name, group in failed.groupby("name")}
    assert by_name == {"/undefined-function": ["42883"] * 3, "/bad-cast": ["22P02"] * 3, "/deadlock": ["40P01"]}
    assert set(failed["sqlstate_source"]) == {"server log"}
    assert found.loc[found["error"].isna(), "sqlstate"].isna().all(), "requests that did not fail get none"


def test_the_server_log_entries_carry_backend_application_and_sqlstate(plain_errors_run: tuple[Path, Path]) -> None:
    _, log = plain_errors_run
    deadlock = next(e for e in entries(log) if e.sqlstate == "40P01")
    assert deadlock.level == "ERROR" and deadlock.application == "plain-errors" and deadlock.pid > 0
    assert "deadlock detected" in deadlock.text and "Process" in deadlock.parts["DETAIL"]
    assert "UPDATE pair" in deadlock.parts["STATEMENT"]

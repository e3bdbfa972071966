"""Locust plugin: stream every request to a CSV file. Loaded into the Locust process next to the locustfile.

It runs under gevent (Locust monkey-patches the process), so it must not import the harness's asyncio code.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

# Loaded by path into Locust: make `harness` resolve to this checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.load.contract import (  # noqa: E402
    ERROR_BODIES_FILE_ENV,
    ERROR_BODIES_MAX,
    ERROR_BODIES_PER_ENDPOINT_WINDOW,
    ERROR_BODY_CHARS,
    ERROR_BODY_WINDOW_S,
    INTENDED_ATTR,
    LOAD_MODEL_ENV,
    REQUEST_COLUMNS,
    REQUESTS_FILE_ENV,
    SECRET_KEYS_PATTERN,
    SERVED_BY_HEADER,
    SQLSTATE_PATTERN,
    worker_stream,
)

if os.environ.get(LOAD_MODEL_ENV):  # the open model: Locust runs this user class (the launcher names it)
    from harness.load.open_model import OpenModelUser  # noqa: E402, F401

FLUSH_EVERY_S = 0.5  # what a killed Locust can lose at most (the harness's streams lose nothing)

_path = os.environ.get(REQUESTS_FILE_ENV)
# Opened at Locust's init, in each process that runs users (after `--processes` forked, and never in a master):
# a Locust worker process writes requests-<pid>.csv, tagged with its own pid.
_file: TextIO | None = None
_writer = None
_worker = 0
_sqlstate = re.compile(SQLSTATE_PATTERN)
_secret = re.compile(SECRET_KEYS_PATTERN)
_bodies_path = os.environ.get(ERROR_BODIES_FILE_ENV)
# Line-buffered: one write per line, so Locust worker processes appending to the one file never tear a line.
_bodies = open(_bodies_path, "a", encoding="utf-8", buffering=1) if _bodies_path else None  # noqa: SIM115
_bodies_seen: dict[tuple, int] = {}
_bodies_written = 0
_failed: list[OSError] = []  # the disk filled up: recording stops (the harness sees it and stops the run)


def _open(runner) -> None:
    global _file, _writer, _worker
    if not _path or isinstance(runner, MasterRunner):  # a master runs no users: its workers record
        return
    _worker = os.getpid()
    path = worker_stream(Path(_path), _worker) if isinstance(runner, WorkerRunner) else Path(_path)
    _file = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed at quit
    _writer = csv.writer(_file)
    if _file.tell() == 0:
        _writer.writerow(REQUEST_COLUMNS)


def _disk_failed(exc: OSError) -> None:
    if not _failed:
        _failed.append(exc)
        print(f"rehearse recorder: cannot write {_path}: {exc.strerror or exc}; recording stops", file=sys.stderr)


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None,
            start_time=None, **_kwargs):
    if _writer is None or _failed:
        return
    status = getattr(response, "status_code", None) or 0
    error = None if exception is None else f"{type(exception).__name__}: {exception}"[:300]
    sqlstate = _sqlstate_of(response) if error and status >= 400 else ""
    served_by = _served_by(response)
    current = gevent.getcurrent()
    intended = getattr(current, INTENDED_ATTR, None)
    if intended is not None and start_time:  # the first request of an open-model arrival: timed from its arrival
        setattr(current, INTENDED_ATTR, None)
        response_time += max(0.0, start_time - intended) * 1000
    else:
        intended = start_time
    try:
        if error is None and _file is not None:  # the common case, formatted in one step (bench/load_overhead.py)
            stamp = f"{start_time:.6f}" if start_time else ""
            _file.write(_ROW % (stamp, _field(name), _field(request_type), status, response_time, response_length or 0,
                                _worker, _field(served_by) if served_by else "",
                                stamp if intended is start_time else f"{intended:.6f}"))
        else:
            _writer.writerow([f"{start_time:.6f}" if start_time else "", name, request_type, status,
                              f"{response_time:.3f}", response_length or 0, error or "", sqlstate, _worker,
                              served_by, f"{intended:.6f}" if intended else ""])
            if error:
                _sample_body(start_time, name, status, response, error, served_by)
    except OSError as exc:
        _disk_failed(exc)
    except ValueError:  # closed at quit: an open-model arrival still in flight ended after it
        return


# A row without error or SQLSTATE, as csv.writer would write it (REQUEST_COLUMNS' order).
_ROW = "%s,%s,%s,%d,%.3f,%d,,,%d,%s,%s\r\n"
_fields: dict[str, str] = {}


def _field(value) -> str:
    """A text field quoted as csv.writer quotes it (only when it must be), memoized: names repeat."""
    text = _fields.get(value)
    if text is None:
        text = str(value)
        if any(c in text for c in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        if len(_fields) < 10_000:
            _fields[value] = text
    return text


def _served_by(response) -> str:
    try:
        return (response.headers.get(SERVED_BY_HEADER) or "") if response is not None else ""
    except Exception:  # noqa: BLE001 - a response without headers was served by nobody we know
        return ""


def _sample_body(start_time, name, status, response, error, served_by) -> None:
    """Keep a few bodies of failed responses per endpoint, status and time window; secrets masked."""
    global _bodies_written
    if _bodies is None:
        return
    at = start_time or 0.0
    slot = (name, status, int(at // ERROR_BODY_WINDOW_S))
    if _bodies_written >= ERROR_BODIES_MAX or _bodies_seen.get(slot, 0) >= ERROR_BODIES_PER_ENDPOINT_WINDOW:
        return
    _bodies_seen[slot] = _bodies_seen.get(slot, 0) + 1
    _bodies_written += 1
    try:
        body = (response.text or "") if response is not None else ""
    except Exception:  # noqa: BLE001 - an undecodable body is shown as the error alone
        body = ""
    body = _secret.sub(lambda m: m.group(1) + '"***"', " ".join((body or error).split()))[:ERROR_BODY_CHARS]
    _bodies.write(json.dumps({"at": at, "name": name, "status": status, "served_by": served_by, "body": body}) + "\n")


def _sqlstate_of(response) -> str:
    try:
        found = _sqlstate.search((response.text or "")[:2000])
    except Exception:  # noqa: BLE001 - an undecodable body just has no SQLSTATE
        return ""
    return found.group(1) if found else ""


def _flush_forever(file: TextIO) -> None:
    while not _failed and not file.closed:
        gevent.sleep(FLUSH_EVERY_S)
        try:
            file.flush()
            if _bodies is not None and not _bodies.closed:
                _bodies.flush()
        except OSError as exc:
            _disk_failed(exc)
        except ValueError:  # closed meanwhile
            return


@events.init.add_listener
def _start_flusher(environment, **_kwargs):
    _open(environment.runner)
    if _file is not None:
        gevent.spawn(_flush_forever, _file)


@events.quitting.add_listener
def _close(environment, **_kwargs):
    if _file is not None and not _file.closed:
        try:
            _file.flush()
            _file.close()
        except OSError as exc:
            _disk_failed(exc)
    if _bodies is not None and not _bodies.closed:
        with contextlib.suppress(OSError):
            _bodies.close()

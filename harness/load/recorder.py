"""Locust plugin: stream every request to a CSV file. Loaded into the Locust process next to the locustfile.

It runs under gevent (Locust monkey-patches the process), so it must not import the harness's asyncio code.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from pathlib import Path
from typing import TextIO

import gevent
from locust import events

# Loaded by path into Locust: make `harness` resolve to this checkout, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.load.contract import REQUEST_COLUMNS, REQUESTS_FILE_ENV, SQLSTATE_PATTERN  # noqa: E402

FLUSH_EVERY_S = 0.5  # what a killed Locust can lose at most (the harness's streams lose nothing)

_path = os.environ.get(REQUESTS_FILE_ENV)
_file = open(_path, "a", newline="", encoding="utf-8") if _path else None  # noqa: SIM115 - closed at quit
_writer = csv.writer(_file) if _file else None
_worker = os.getpid()
_sqlstate = re.compile(SQLSTATE_PATTERN)
_failed: list[OSError] = []  # the disk filled up: recording stops (the harness sees it and stops the run)
if _file is not None and _writer is not None and _file.tell() == 0:
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
    try:
        _writer.writerow([f"{start_time:.6f}" if start_time else "", name, request_type, status,
                          f"{response_time:.3f}", response_length or 0, error or "", sqlstate, _worker])
    except OSError as exc:
        _disk_failed(exc)


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
        except OSError as exc:
            _disk_failed(exc)
        except ValueError:  # closed meanwhile
            return


@events.init.add_listener
def _start_flusher(environment, **_kwargs):
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

"""Locust plugin: the open workload model (plan: load.model = "open"). Imported by the recorder when the
harness sets REHEARSE_LOAD_MODEL; it runs under gevent, and the harness never imports it.

Locust runs one OpenModelUser per process that runs users (the launcher asks for as many users as there are
workers). It does not loop like a user: it issues the plan's arrivals (harness.load.schedule) at their intended
times, each one task of the locustfile's user classes, run on a user instance of a bounded pool (created on
demand, reused once idle: its own connection, on_start run once). The greenlet running an arrival carries its
intended start, so the recorder times the arrival's first request from it: a request the scheduler sent late
still counts its whole delay (coordinated omission corrected, as wrk2 does). An arrival that finds the pool at
max_concurrency is dropped and written to dropped[-<pid>].csv (as k6's dropped_iterations).
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import gevent
from gevent.pool import Group
from locust import User, constant, events, task
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser
from locust.runners import MasterRunner, WorkerRunner
from locust.user.task import LOCUST_STATE_STOPPING, TaskSet

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.load.contract import (  # noqa: E402
    DROPPED_COLUMNS,
    DROPPED_FILE_ENV,
    INTENDED_ATTR,
    LOAD_MODEL_ENV,
    worker_stream,
)
from harness.load.schedule import Stream, arrivals  # noqa: E402

FLUSH_EVERY_S = 0.5
_settings: dict[str, Any] = json.loads(os.environ.get(LOAD_MODEL_ENV) or "{}")
_log = logging.getLogger("rehearse.open_model")


class _Dropped:
    """The dropped-arrivals stream of this process (opened at Locust's init, like the recorder's)."""

    def __init__(self) -> None:
        self.file: TextIO | None = None
        self.writer: Any = None
        self.worker = 0

    def open(self, runner: Any) -> None:
        path = os.environ.get(DROPPED_FILE_ENV)
        if not path or isinstance(runner, MasterRunner):
            return
        self.worker = os.getpid()
        target = worker_stream(Path(path), self.worker) if isinstance(runner, WorkerRunner) else Path(path)
        self.file = open(target, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed at quit
        self.writer = csv.writer(self.file)
        if self.file.tell() == 0:
            self.writer.writerow(DROPPED_COLUMNS)
        gevent.spawn(self._flush_forever)

    def write(self, intended: float, task_name: str, reason: str) -> None:
        if self.writer is not None:
            # disk full (the recorder reports it), or closed at quit
            with contextlib.suppress(OSError, ValueError):
                self.writer.writerow([f"{intended:.6f}", task_name, self.worker, reason])

    def _flush_forever(self) -> None:
        while self.file is not None and not self.file.closed:
            gevent.sleep(FLUSH_EVERY_S)
            try:
                self.file.flush()
            except (OSError, ValueError):
                return

    def close(self) -> None:
        if self.file is not None and not self.file.closed:
            with contextlib.suppress(OSError):
                self.file.flush()
                self.file.close()


_dropped = _Dropped()


@events.init.add_listener
def _open_dropped(environment, **_kwargs):
    _dropped.open(environment.runner)


@events.quitting.add_listener
def _close_dropped(environment, **_kwargs):
    _dropped.close()


def _task_name(fn: Any) -> str:
    return str(getattr(fn, "__name__", fn))


class _Pool:
    """User instances of the locustfile's classes, at most `limit` busy at once."""

    def __init__(self, environment: Any, classes: list[type[User]], limit: int) -> None:
        self.environment, self.classes, self.limit = environment, classes, limit
        self.weights = [max(0, int(getattr(c, "weight", 1) or 0)) or 1 for c in classes]
        self.idle: dict[type[User], list[User]] = {c: [] for c in classes}
        self.busy = 0
        self.group = Group()
        self.logged: set[tuple[str, str]] = set()
        for cls in classes:  # as Locust's runner does for the classes it spawns
            if environment.host and not getattr(cls, "host", None):
                cls.host = environment.host

    def pick(self, task_name: str | None) -> tuple[type[User], Any]:
        """The class and task of an arrival: that named task, or any task by the classes' weights."""
        if task_name is not None:
            for cls in self.classes:
                for candidate in cls.tasks:
                    if _task_name(candidate) == task_name:
                        return cls, candidate
            raise ValueError(f"no task {task_name!r} in the locustfile's user classes")
        cls = random.choices(self.classes, self.weights)[0]
        if not cls.tasks:
            raise ValueError(f"{cls.__name__} has no tasks")
        return cls, random.choice(cls.tasks)

    def run(self, cls: type[User], chosen: Any, intended: float) -> None:
        """Run one arrival on an idle user of `cls` (a new one when none is idle)."""
        self.busy += 1
        self.group.spawn(self._run, cls, chosen, intended)

    def _run(self, cls: type[User], chosen: Any, intended: float) -> None:
        user = self.idle[cls].pop() if self.idle[cls] else None
        try:
            if user is None:
                user = cls(self.environment)
                user.on_start()
            setattr(gevent.getcurrent(), INTENDED_ATTR, intended)
            _call(user, chosen)
        except (StopUser, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet):
            pass
        except Exception as exc:  # noqa: BLE001 - a task's failure is Locust's user_error, as for a looping user
            if (_task_name(chosen), str(exc)) not in self.logged:  # once each: arrivals do not flood the log
                self.logged.add((_task_name(chosen), str(exc)))
                _log.error("%s: %s", _task_name(chosen), exc)
            self.environment.events.user_error.fire(user_instance=user, exception=exc, tb=exc.__traceback__)
        finally:
            self.busy -= 1
            if user is not None:
                self.idle[cls].append(user)


def _call(user: User, chosen: Any) -> None:
    """One task: a function of the user, or one task of a TaskSet (one level)."""
    if isinstance(chosen, type) and issubclass(chosen, TaskSet):
        taskset = chosen(user)
        inner: Any = random.choice(taskset.tasks)
        if isinstance(inner, type):
            raise ValueError(f"nested TaskSet {inner.__name__} is not supported by the open model")
        inner(taskset)
    else:
        chosen(user)


class OpenModelUser(User):
    """Issues this process's share of the plan's arrivals; never a looping user itself."""

    wait_time = constant(0)

    @task
    def arrive(self) -> None:
        classes = [c for c in (self.environment.available_user_classes or {}).values()
                   if c is not OpenModelUser and not getattr(c, "abstract", False)]
        if not classes:
            raise StopUser()
        workers = max(1, int(_settings.get("workers") or 1))
        worker = int(getattr(self.environment.runner, "worker_index", 0) or 0) % workers
        streams = [Stream(name, float(rate)) for name, rate in (_settings.get("rates") or {}).items()]
        if _settings.get("rate"):
            streams.append(Stream(None, float(_settings["rate"])))
        limit = max(1, -(-int(_settings.get("max_concurrency") or 1000) // workers))
        pool = _Pool(self.environment, classes, limit)
        for name in {s.task for s in streams if s.task is not None}:
            pool.pick(name)  # an unknown task name fails now, not at its first arrival
        started = time.time()
        for offset, task_name in arrivals(streams, float(_settings.get("ramp_s") or 0), worker, workers):
            if self._state == LOCUST_STATE_STOPPING:
                break
            intended = started + offset
            delay = intended - time.time()
            if delay > 0:
                gevent.sleep(delay)
            cls, chosen = pool.pick(task_name)
            if pool.busy >= pool.limit:
                _dropped.write(intended, _task_name(chosen), "max_concurrency")
                continue
            pool.run(cls, chosen, intended)
        pool.group.join(timeout=2)
        raise StopUser()

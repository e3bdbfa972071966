"""One rehearsal, end to end: environment up, observers on, load on, the timeline's phases, and teardown.

Whatever happens (success, a failure, Ctrl-C), everything started is stopped and the streams stay on disk;
the outcome is returned, never attached to an exception. The report is built from the streams afterwards.
Should the harness itself die (SIGKILL), its children get a parent-death signal and the watchdog removes the
rest from the run's registry; every run first removes what dead runs left (harness.cleanup).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.cleanup import remove_dead_runs
from harness.core import ownership, redaction
from harness.core.errors import EnvironmentFailure, InputError, MigrationError
from harness.core.processes import run_env
from harness.core.signals import held_signals
from harness.core.streams import JsonLines
from harness.core.text import one_line, redact
from harness.environments.select import open_environment
from harness.environments.server import installed_extensions, missing_extension_hint, server_facts
from harness.events import Events
from harness.load.launcher import Load
from harness.observe.base import ObserverContext
from harness.plan import Plan
from harness.plan.packages import unpacked
from harness.records.run import DEPENDENCY_STREAM, ActionRecord, Phase, Stop
from harness.rundir import RunDir, RunLog
from harness.seed import seed
from harness.service import swap as service
from harness.service.dependency_stub import start_stubs
from harness.timeline import clock
from harness.timeline.actions import SETUP, PlannedPhase, split_setup
from harness.timeline.actions.base import Action
from harness.timeline.faults import FaultWatcher
from harness.timeline.observers import OBSERVERS
from harness.timeline.state import Rehearsal, Skip
from harness.upgrade.migrate import Migrator
from harness.verify.checksum import TableProblem, check_tables
from harness.watchdog import Watchdog

Say = Callable[[str], None]
HARNESS_LOG = "harness.log"
WATCHDOG_LOG = "watchdog.log"
SECRET_ENV_NAME = redaction.SECRET_NAME


@dataclass
class Outcome:
    """How the run ended: its directory, and why it stopped early (None: the timeline ran to its end)."""

    run: RunDir
    environment: str = ""
    stop: Stop | None = None
    plan: Plan | None = None  # the plan as run: package releases unpacked into the run directory


def rehearse(plan: Plan, phases: list[PlannedPhase], kind: str, out: Path | None, say: Say = print) -> Outcome:
    """Run the whole timeline. Always tears the environment down, also on Ctrl-C or SIGTERM."""
    run = RunDir.create(plan, out)
    outcome = Outcome(run)
    log = RunLog(run)
    log.write("run", scenario=plan.scenario, plan=str(plan.path), overrides=plan.overrides, run_id=run.run_id,
              from_version=plan.from_version, to_version=plan.to_version, pid=os.getpid())
    stack = contextlib.ExitStack()
    secrets: list[str] = []
    watchdog = Watchdog()
    faults: list[FaultWatcher] = []
    registry = ownership.RunRegistry(run.run_id, run.path)
    try:
        with ownership.active(registry):
            try:
                watchdog.start(registry.path, run.log(WATCHDOG_LOG))
                _stage(log, "cleanup")
                for line in remove_dead_runs():
                    say(f"cleanup: removed {line}")
                    log.write("cleanup", removed=line)
                _run(plan, phases, kind, run, log, stack, outcome, secrets, faults, say)
            except BaseException as exc:  # noqa: BLE001 - every way out is recorded, then mapped by the CLI
                outcome.stop = _stop(exc, run, secrets)
            finally:
                with held_signals() as caught:
                    log.write("teardown")
                    try:
                        stack.close()
                    except BaseException as exc:  # noqa: BLE001 - a teardown failure must not hide what came before
                        outcome.stop = outcome.stop or _stop(exc, run, secrets)
                    run.release_reserve()  # the space held back for these last facts and the report
                    for watcher in faults:
                        for fault in watcher.unwritten:
                            log.write("fault", fault)
                if caught and outcome.stop is None:
                    outcome.stop = Stop("interrupted", "interrupted during teardown")
                if outcome.stop is not None:
                    log.write("stop", outcome.stop)
                log.write("ended")
                log.close()
    finally:
        registry.close()
        watchdog.dismiss()
    return outcome


def _stage(log: RunLog, name: str) -> None:
    """A step of the run outside the timeline's phases began: the summary's reached_stage."""
    log.write("stage", name=name)


def _run(plan: Plan, phases: list[PlannedPhase], kind: str, run: RunDir, log: RunLog, stack: contextlib.ExitStack,
         outcome: Outcome, secrets: list[str], fault_watchers: list[FaultWatcher], say: Say) -> None:
    redaction.remember(*(value for name, value in {**plan.service_env, **plan.load_env}.items()
                         if re.fullmatch(SECRET_ENV_NAME, name, re.I)))
    plan = outcome.plan = unpacked(plan, run.path)  # package releases: their files, safely, in the run dir
    setup, phases = split_setup(phases)
    stubs, plan = start_stubs(plan, run.stream(DEPENDENCY_STREAM), run.log("dependency_stubs.log"),
                              {**os.environ, **run_env(run.run_id)})
    if stubs is not None:  # the service's third-party APIs: loopback stubs, their URLs in the releases' env
        stack.callback(stubs.stop)
        outcome.plan = plan
        log.write("dependencies", urls={f"{name}@{version}": url for (name, version), url in stubs.urls.items()})
    _stage(log, "environment")
    env, why = open_environment(plan, kind, run.path, run.run_id)
    stack.callback(env.close)
    outcome.environment = env.name
    log.write("environment", name=env.name, reason=why)
    say(f"environment: {env.name} ({why})")

    def timing(name: str, started: float) -> float:
        seconds = time.monotonic() - started
        log.write("timing", name=name, seconds=seconds)
        return seconds

    def report_error(source: str, message: str) -> None:
        log.write("observer_error", source=source, message=redact(message, *secrets))

    events = Events(report_error)
    t0 = time.monotonic()
    _stage(log, "database")
    database = env.start_database()
    secrets.append(database.password)
    redaction.remember(database.password)
    timing("database_start_s", t0)
    server = server_facts(database, plan.extensions) | {"source": getattr(env, "server_source", env.name)}

    statements = JsonLines(run.stream("statements.jsonl"))
    stack.callback(statements.close)
    migrator = Migrator(plan, database, statements, run.log("migrations.log"), run.run_id, events,
                        lambda message: report_error("migrations", message))
    old = plan.releases[plan.from_version]
    rehearsal = Rehearsal(plan, env, database, migrator, events, log, say, serving=old, run=run, stack=stack,
                          dependencies=stubs)
    if setup:  # before anything of a package runs: its set-up migrations, its service
        rehearsal.phase = Phase(SETUP, old.version, old.version, time.time())
        for action in setup:
            _act(rehearsal, action, SETUP)
        plan = outcome.plan = rehearsal.plan
    t0 = time.monotonic()
    _stage(log, "schema")
    try:
        migrator.apply(plan.setup_path(), phase="setup")
    except MigrationError as failure:
        hint = missing_extension_hint(str(failure), int(server["major"]))
        raise EnvironmentFailure(f"setting up the {plan.from_version} schema failed: {failure} "
                                 f"(log: {run.log('migrations.log')}){hint}") from None
    migrator.applied.clear()  # the setup is the baseline: a revert never undoes it
    timing("schema_setup_s", t0)
    try:  # bad input found before the load starts, not after the baseline
        check_tables(database, plan.rollback.checked_tables, plan.rollback.keys)
    except TableProblem as problem:
        raise plan.error("rollback.tables", f"{problem} in the {plan.from_version} schema") from None
    _stage(log, "seed")
    seeded = seed(plan, database, run.log("seed.log"), run.run_id)
    log.write("timing", name="seed_s", seconds=seeded)
    log.write("server", server, extensions_installed=installed_extensions(database))
    say(f"database ready: PostgreSQL {server['version']}, schema {plan.from_version}, seeded in {seeded:.1f}s")

    t0 = time.monotonic()
    _stage(log, "service")
    old = rehearsal.serving
    mixed = any(action.name == "start_other" for planned in phases for action in planned.actions)
    control = service.service_control(env, plan, run.log("proxy.log"), {**os.environ, **run_env(run.run_id)},
                                      mixed=mixed)
    stack.callback(control.close)
    rehearsal.control = control
    load_url = control.start(old)
    url = control.service_url
    timing("service_start_s", t0)

    _stage(log, "observers")
    context = ObserverContext(plan, database, run, events, report_error, say, service_url=url,
                              service_environ=control.service_environ)
    for factory in OBSERVERS:
        observer = factory(context)
        if observer is not None:
            stack.callback(observer.close)
            observer.attach(events)

    if control.proxy is not None:  # the load goes through it: blue_green swaps, or versions side by side
        log.write("proxy", url=load_url, service=url, swap=plan.swap, mixed=mixed)
    _stage(log, "load")
    load = Load(plan, run.stream("requests.csv"), run.log("locust.log"), run.run_id)
    stack.callback(load.stop)
    watcher = FaultWatcher(control, database, load, log, say, run.path)
    fault_watchers.append(watcher)
    watcher.watch(events)
    stack.callback(watcher.close)  # closed first: stopping the load and the service on purpose is no fault
    load.start(load_url)
    load.wait_for_traffic()
    watcher.sleep(load.ramp_seconds())
    say(f"load running: {load.describe()} against {load_url}")

    _stage(log, "timeline")
    phase_stream = JsonLines(run.stream(clock.STREAM))
    stack.callback(phase_stream.close)
    rehearsal.url, rehearsal.wait = url, watcher.sleep
    phase_clock = clock.PhaseClock(phase_stream, events)
    for planned in phases:
        with phase_clock.phase(planned.name, rehearsal.serving.version) as phase:
            rehearsal.phase = phase
            if planned.actions:
                say(f"{planned.name}: " + "; ".join(a.describe(plan) for a in planned.actions))
            for action in planned.actions:
                _act(rehearsal, action, planned.name)
                watcher.check()
            watcher.sleep(planned.soak_s)
            phase.to_version = rehearsal.serving.version
    events.rehearsal_ending.fire()


def _act(rehearsal: Rehearsal, action: Action, phase_name: str) -> None:
    """Run one action and record how it went; a failed migration is recorded, and the timeline goes on."""
    assert rehearsal.phase is not None
    record = ActionRecord(phase_name, action.name, action.describe(rehearsal.plan), time.time(),
                          expect_failure=bool(getattr(action, "expect_failure", False)))
    rehearsal.log.write("action_started", phase=phase_name, name=action.name)
    rehearsal.events.action_started.fire(phase=rehearsal.phase, action=action)
    try:
        record.message = action.run(rehearsal)
    except Skip as skipped:
        record.status, record.message = "skipped", str(skipped)
        rehearsal.say(f"{phase_name}: {action.name} skipped: {skipped}")
    except MigrationError as failure:
        record.status, record.message = "failed", str(failure)
        rehearsal.say(f"{phase_name}: {action.name} failed: {failure}")
    except BaseException as exc:
        record.status, record.message = "failed", one_line(str(exc) or type(exc).__name__, 300)
        raise
    finally:
        record.ended = time.time()
        rehearsal.log.write("action", record)
    rehearsal.events.action_ended.fire(phase=rehearsal.phase, action=action, record=record)


def _stop(exc: BaseException, run: RunDir, secrets: list[str]) -> Stop:
    if isinstance(exc, KeyboardInterrupt):
        return Stop("interrupted", "interrupted")
    if isinstance(exc, EnvironmentFailure):
        return Stop("environment", redact(str(exc), *secrets))
    if isinstance(exc, InputError):
        return Stop("input", redact(str(exc), *secrets))
    log = run.log(HARNESS_LOG)
    with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as out:
        out.write(redact("".join(traceback.format_exception(exc)), *secrets))
    return Stop("crash", f"{type(exc).__name__}: {one_line(redact(str(exc), *secrets), 200)} (traceback: {log})")

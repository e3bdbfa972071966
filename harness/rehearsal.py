"""One rehearsal, end to end: environment up, load on, phases, verify, report, environment down."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.environments.base import Database, Environment, placeholders
from harness.environments.processes import EnvironmentFailure
from harness.environments.select import open_environment
from harness.inject.contention import Injector
from harness.load.launcher import Load
from harness.observe.locks import LockSampler
from harness.plan import Plan, PlanError
from harness.rundir import JsonLines, RunDir
from harness.seed import seed
from harness.service import swap as service
from harness.timeline import PhaseClock
from harness.upgrade.migrate import Migrator
from harness.upgrade.steps import MigrationFailed
from harness.verify.data import TableProblem
from harness.verify.rollback import RollbackCheck


@dataclass
class Outcome:
    """What the timeline produced besides the streams: the facts the report needs."""

    run: RunDir
    environment: str = ""
    environment_reason: str = ""
    started: float = field(default_factory=time.time)
    ended: float | None = None
    clock: PhaseClock | None = None
    swaps: list[service.Swap] = field(default_factory=list)
    migration_failures: list[MigrationFailed] = field(default_factory=list)
    rollback: RollbackCheck | None = None
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: str | None = None
    sampler_errors: list[str] = field(default_factory=list)
    migration_pids: set[int] = field(default_factory=set)
    invalid_indexes: list[str] = field(default_factory=list)
    contention: list[dict] = field(default_factory=list)


def rehearse(plan: Plan, kind: str, out: Path | None, say=print) -> Outcome:
    """Run the whole timeline. Always tears the environment down; raises EnvironmentFailure/KeyboardInterrupt
    after teardown, with the outcome so far attached as `.outcome`."""
    run = RunDir.create(plan, out)
    outcome = Outcome(run)
    stack = contextlib.ExitStack()
    try:
        with stack:
            env, outcome.environment_reason = open_environment(plan, kind, run.path, run.run_id)
            stack.callback(env.close)
            outcome.environment = env.name
            say(f"environment: {env.name} ({outcome.environment_reason})")
            _timeline(plan, env, run, outcome, stack, say)
    except BaseException as exc:
        outcome.interrupted = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        exc.outcome = outcome  # type: ignore[attr-defined]
        raise
    finally:
        outcome.ended = time.time()
    return outcome


def _timeline(plan: Plan, env: Environment, run: RunDir, outcome: Outcome, stack: contextlib.ExitStack,
              say) -> None:
    releases = plan.releases
    old, new = releases[plan.from_version], releases[plan.to_version]
    t0 = time.monotonic()
    database = env.start_database()
    outcome.timings["database_start_s"] = time.monotonic() - t0

    statements = JsonLines(run.stream("statements.jsonl"))
    stack.callback(statements.close)
    backends = JsonLines(run.stream("migration_backends.jsonl"))
    stack.callback(backends.close)
    migrator = Migrator(database, statements, run.path / "logs" / "migrations.log", run.run_id,
                        placeholders(plan), plan.runner, backends)
    t0 = time.monotonic()
    try:
        migrator.apply(plan.setup_path(), phase="setup")
    except MigrationFailed as failure:
        raise EnvironmentFailure(f"setting up the {plan.from_version} schema failed: {failure}") from None
    migrator.applied.clear()  # the setup is the baseline: rollback never reverts it
    outcome.timings["schema_setup_s"] = time.monotonic() - t0
    outcome.timings["seed_s"] = seed(plan, database, run.path / "logs" / "seed.log", run.run_id)
    say(f"database ready: schema {plan.from_version}, seeded in {outcome.timings['seed_s']:.1f}s")

    t0 = time.monotonic()
    url = service.start(env, plan, old)
    outcome.timings["service_start_s"] = time.monotonic() - t0

    sampler = LockSampler(database, plan.lock_sample_interval_ms / 1000, JsonLines(run.stream("locks.jsonl")))
    sampler.start()
    stack.callback(_collect_sampler, sampler, outcome)

    load = Load(plan, run.stream("requests.csv"), run.path / "logs" / "locust.log", run.run_id)
    stack.callback(load.stop)
    load.start(url)
    load.wait_for_traffic()
    time.sleep(load.ramp_seconds())
    say(f"load running: {plan.users} users against {url}")

    check = RollbackCheck(database, plan.rollback_tables)
    outcome.rollback = check
    clock = PhaseClock(JsonLines(run.stream("phases.jsonl")))
    stack.callback(clock.stream.close)
    outcome.clock = clock
    p = plan.phase_seconds

    def phase(name: str, from_version: str, to_version: str) -> contextlib.AbstractContextManager:
        return _phase(clock, name, from_version, to_version, plan, database, outcome, stack)

    with phase("baseline", old.version, old.version):
        time.sleep(p["baseline"])
        _table_check(check.before_upgrade, plan)

    swapped = False
    with phase("upgrade", old.version, new.version):
        say(f"upgrade: migrations of {new.version}, then swap {old.version} -> {new.version}")
        try:
            migrator.apply(plan.upgrade_path(), phase="upgrade")
            outcome.swaps.append(service.swap(env, plan, old, new))
            swapped = True
        except MigrationFailed as failure:
            outcome.migration_failures.append(failure)
            outcome.invalid_indexes = migrator.sql.invalid_indexes()
            say(f"upgrade migration failed: {failure}; the service stays at {old.version}")
        outcome.migration_pids |= {s.pid for s in migrator.steps if s.pid}

    running = new if swapped else old
    with phase("post_upgrade", running.version, running.version):
        time.sleep(p["post_upgrade"])
        check.before_rollback()

    with phase("rollback", running.version, old.version):
        say(f"rollback: down-migrations, then swap {running.version} -> {old.version}")
        try:
            migrator.revert(phase="rollback")
        except MigrationFailed as failure:
            outcome.migration_failures.append(failure)
            outcome.invalid_indexes = migrator.sql.invalid_indexes()
            say(f"rollback migration failed: {failure}")
        if swapped:
            outcome.swaps.append(service.swap(env, plan, new, old))
        outcome.migration_pids |= {s.pid for s in migrator.steps if s.pid}
        check.after_rollback()

    with phase("post_rollback", old.version, old.version):
        time.sleep(p["post_rollback"])


@contextlib.contextmanager
def _phase(clock: PhaseClock, name: str, from_version: str, to_version: str, plan: Plan, database: Database,
           outcome: Outcome, stack: contextlib.ExitStack) -> Iterator[None]:
    """A phase on the clock, with the plan's contention injectors for it running from its start."""
    with clock.phase(name, from_version, to_version):
        injectors = [Injector(database, c) for c in plan.contention if c.phase == name]
        try:
            for injector in injectors:
                stack.callback(injector.stop)
                injector.start()
            yield
        finally:
            for injector in injectors:
                injector.stop()
                outcome.contention.append(injector.record())


def _collect_sampler(sampler: LockSampler, outcome: Outcome) -> None:
    sampler.stop()
    outcome.sampler_errors.extend(sampler.errors)
    outcome.timings["lock_samples"] = sampler.samples


def _table_check(step, plan: Plan) -> None:
    try:
        step()
    except TableProblem as problem:
        raise PlanError(plan.path, "rollback.tables", str(problem)) from None

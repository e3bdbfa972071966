"""What the lock observer costs: pgbench TPS without and with the real LockSampler, side by side in one run.

A throwaway server (the harness's own LocalPostgres), one pgbench database per scale. For every scale and
sampling interval, each round runs a pair of pgbench runs back to back, one without and one with the sampler
(pair order alternates between rounds, so drift of a noisy machine hits both sides alike). The figure of merit
is the median over rounds of the pair ratio TPS(with) / TPS(without); the spread is the range of those ratios.
Beside it, the CPU the sampler used (its thread in this process plus its server backend): far less noisy than
TPS, and on a CPU-bound machine the TPS it costs, to first order.

TPC-B updates one pgbench_branches row per transaction, and there are `scale` branches: at -s 1 all eight
clients queue on one row (several transactionid waiters in every sample), at -s 10 they still collide now and
then (about one waiter per sample). -N (simple-update, no branch/teller updates) gives a run without waiters,
where the sampler finds nothing and writes nothing.

    python bench/lock_observer_cost.py                       # defaults: about 6 minutes
    python bench/lock_observer_cost.py --scale 10 -N         # no lock waits at all
    python bench/lock_observer_cost.py --intervals 50 --rounds 8 --variants current,precheck

`--variants precheck` is an EXPERIMENT, not the harness's behaviour: it monkeypatches
harness.observe.locks.sample with a version that first asks pg_stat_activity whether anyone waits for a
heavyweight lock, and only then runs the full pg_locks query.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core.database import Database  # noqa: E402
from harness.core.streams import JsonLines  # noqa: E402
from harness.environments.local_postgres import LocalPostgres  # noqa: E402
from harness.observe import locks  # noqa: E402

DEFAULT_INTERVAL_MS = 50.0  # plan default of observe.lock_sample_interval_ms
TARGET_PCT = 2.0
TPS_RE = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)

# --- experiment: a cheap pre-check before the full pg_locks query (not what the harness does) -------------

PRECHECK_SQL = ("SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid())")
_ORIGINAL_SAMPLE = locks.sample


async def _precheck_sample(conn: Any) -> list[dict[str, Any]]:
    """EXPERIMENT: skip the pg_locks query (which takes every lock-manager partition lock) when no backend
    waits for a heavyweight lock right now."""
    if not await conn.fetchval(PRECHECK_SQL):
        return []
    return await _ORIGINAL_SAMPLE(conn)


VARIANTS = {"current": _ORIGINAL_SAMPLE, "precheck": _precheck_sample}


@contextlib.contextmanager
def sample_function(variant: str):
    """harness.observe.locks.sample replaced by the variant's for the duration (the sampler thread looks the
    module-level function up on every sample)."""
    locks.sample = VARIANTS[variant]
    try:
        yield
    finally:
        locks.sample = _ORIGINAL_SAMPLE


# --- measurement ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    scale: int
    interval_ms: float  # the pair's interval; a run without the sampler has variant None
    variant: str | None
    round: int
    tps: float
    samples: int = 0
    rows: int = 0
    errors: int = 0
    client_cpu_s: float = 0.0
    backend_cpu_s: float = 0.0


class Bench:
    def __init__(self, srv: LocalPostgres, admin: Database, args: argparse.Namespace, work: Path) -> None:
        self.srv, self.admin, self.args, self.work = srv, admin, args, work
        self.pgbench = str(srv.bin_dir / "pgbench")
        self.runs: list[Run] = []
        self.counter = 0

    def database(self, scale: int) -> Database:
        return dataclasses.replace(self.admin, dbname=f"pgbench_s{scale}")

    def pgbench_cmd(self, db: Database, *extra: str) -> list[str]:
        return [self.pgbench, "-h", db.host, "-p", str(db.port), "-U", db.user, *extra, db.dbname]

    def run_pgbench(self, db: Database, *extra: str) -> str:
        env = dict(os.environ, PGPASSWORD=db.password)
        done = subprocess.run(self.pgbench_cmd(db, *extra), env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pgbench {' '.join(extra)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return done.stdout

    def init(self, scale: int) -> None:
        db = self.database(scale)
        with psycopg.connect(self.admin.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db.dbname}"')
        self.run_pgbench(db, "-i", "-s", str(scale), "-q")

    def reset(self, db: Database) -> None:
        """Same starting state for every run, outside the measured window: what pgbench does without -n
        (vacuum branches and tellers, empty the history), then a checkpoint so none is carried into the run."""
        with psycopg.connect(db.dsn(), autocommit=True) as conn:
            conn.execute("VACUUM pgbench_branches, pgbench_tellers")
            conn.execute("TRUNCATE pgbench_history")
            conn.execute("CHECKPOINT")

    def measure_tps(self, db: Database, seconds: int) -> float:
        out = self.run_pgbench(db, "-c", str(self.args.clients), "-j", str(self.args.jobs), "-T", str(seconds),
                               "-n", *(["-N"] if self.args.skip_some_updates else []))
        match = TPS_RE.search(out)
        if not match:
            raise RuntimeError(f"no tps in pgbench output: {out[-500:]}")
        return float(match.group(1))

    def without(self, scale: int, interval_ms: float, rnd: int) -> Run:
        db = self.database(scale)
        self.reset(db)
        run = Run(scale, interval_ms, None, rnd, self.measure_tps(db, self.args.seconds))
        self.runs.append(run)
        return run

    def with_sampler(self, scale: int, interval_ms: float, variant: str, rnd: int) -> Run:
        db = self.database(scale)
        self.counter += 1
        stream = self.work / f"locks-{self.counter:03d}-s{scale}-{interval_ms:g}ms-{variant}.jsonl"
        self.reset(db)
        with sample_function(variant):
            sampler = locks.LockSampler(db, interval_ms / 1000, JsonLines(stream))
            sampler.start()
            try:
                backend = sampler_backend_pid(db)
                cpu0, bcpu0, samples0 = sampler_thread_cpu(), backend_cpu(backend), sampler.samples
                tps = self.measure_tps(db, self.args.seconds)
                cpu1, bcpu1, samples1 = sampler_thread_cpu(), backend_cpu(backend), sampler.samples
            finally:
                sampler.stop()
        rows = sum(1 for _ in stream.open(encoding="utf-8"))
        stream.unlink()
        run = Run(scale, interval_ms, variant, rnd, tps, samples=samples1 - samples0, rows=rows,
                  errors=len(sampler.errors), client_cpu_s=cpu1 - cpu0, backend_cpu_s=bcpu1 - bcpu0)
        self.runs.append(run)
        return run


def sampler_thread_cpu() -> float:
    """CPU seconds of the sampler's thread in this process (schedstat: nanoseconds on a CPU)."""
    thread = next((t for t in threading.enumerate() if t.name == "lock-sampler"), None)
    return _schedstat(f"/proc/self/task/{thread.native_id}/schedstat") if thread and thread.native_id else 0.0


def sampler_backend_pid(db: Database) -> int | None:
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                           (locks.APPLICATION_NAME,)).fetchone()
    return row[0] if row else None


def backend_cpu(pid: int | None) -> float:
    """CPU seconds of the sampler's server backend."""
    return _schedstat(f"/proc/{pid}/schedstat") if pid is not None else 0.0


def _schedstat(path: str) -> float:
    try:
        return int(Path(path).read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


# --- report -----------------------------------------------------------------------------------------------


def spread(values: list[float], fmt: str) -> str:
    return f"{format(min(values), fmt)}–{format(max(values), fmt)}" if len(values) > 1 else "–"


def report(bench: Bench, args: argparse.Namespace, version: str, elapsed: float) -> None:
    ncpu = os.cpu_count() or 1
    machine = args.seconds * ncpu  # CPU seconds the machine has during one run
    print()
    print(f"{version}")
    script = "-N (simple-update)" if args.skip_some_updates else "(TPC-B-like)"
    print(f"{ncpu} CPUs, pgbench -c {args.clients} -j {args.jobs} -T {args.seconds} -n {script}, "
          f"{args.rounds} rounds, {elapsed / 60:.1f} min total")
    print()
    print("| scale | interval | variant | TPS without (median, range) | TPS with (median, range) "
          "| with/without, median of pairs | pair ratios range | samples/run | rows/run "
          "| sampler CPU, % of machine (client + backend) | CPU µs/sample |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for scale in args.scale:
        for interval in args.intervals:
            for variant in args.variants:
                ratios, base, withs = [], [], []
                for rnd in range(args.rounds):
                    cell = [r for r in bench.runs if (r.scale, r.round, r.interval_ms) == (scale, rnd, interval)]
                    a = [r for r in cell if r.variant is None]
                    b = [r for r in cell if r.variant == variant]
                    if a and b:
                        base.append(a[0].tps)
                        withs.append(b[0])
                        ratios.append(b[0].tps / a[0].tps)
                if not ratios:
                    continue
                ratio = statistics.median(ratios)
                client = statistics.median(r.client_cpu_s / machine * 100 for r in withs)
                backend = statistics.median(r.backend_cpu_s / machine * 100 for r in withs)
                cpu = statistics.median((r.client_cpu_s + r.backend_cpu_s) / machine * 100 for r in withs)
                per_sample = statistics.median((r.client_cpu_s + r.backend_cpu_s) / max(r.samples, 1) * 1e6
                                               for r in withs)
                tps_with = [r.tps for r in withs]
                errors = sum(r.errors for r in withs)
                print(f"| {scale} | {interval:g} ms | {variant}{' (experiment)' if variant != 'current' else ''} "
                      f"| {statistics.median(base):.0f} ({spread(base, '.0f')}) "
                      f"| {statistics.median(tps_with):.0f} ({spread(tps_with, '.0f')}) "
                      f"| {ratio:.3f} ({(ratio - 1) * 100:+.1f}%) | {spread(ratios, '.3f')} "
                      f"| {statistics.median(r.samples for r in withs):.0f} "
                      f"| {statistics.median(r.rows for r in withs):.0f} "
                      f"| {cpu:.2f} ({client:.2f} + {backend:.2f}) "
                      f"| {per_sample:.0f}{f' ({errors} sampler errors)' if errors else ''} |")
                if interval == DEFAULT_INTERVAL_MS:
                    verdicts.append((scale, variant, ratios, cpu))
    print()
    print(f"target: the observer costs at most {TARGET_PCT:g}% TPS at the default interval "
          f"({DEFAULT_INTERVAL_MS:g} ms)")
    for scale, variant, ratios, cpu in verdicts:
        cost = (1 - statistics.median(ratios)) * 100
        noise = (max(ratios) - min(ratios)) / 2 * 100
        if len(ratios) < 2:
            tps_verdict = "inconclusive: one round, no spread"
        elif noise > TARGET_PCT:
            tps_verdict = f"inconclusive: pair ratios spread ±{noise:.1f}% > {TARGET_PCT:g}%, machine too noisy"
        else:
            tps_verdict = "met" if cost <= TARGET_PCT else "MISSED"
        print(f"  -s {scale}, {variant}: TPS cost {cost:+.1f}% ({tps_verdict}); the sampler took {cpu:.2f}% "
              f"of the machine ({'met' if cpu <= TARGET_PCT else 'MISSED'} if the workload is CPU-bound)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="pgbench -T per run (default 5)")
    parser.add_argument("--rounds", type=int, default=4, help="pairs per configuration (default 4)")
    parser.add_argument("--intervals", type=lambda s: [float(x) for x in s.split(",")], default=[10, 20, 50, 100],
                        help="sampling intervals in ms, comma-separated (default 10,20,50,100)")
    parser.add_argument("--scale", type=lambda s: [int(x) for x in s.split(",")], default=[10, 1],
                        help="pgbench scales, comma-separated (default 10,1: few / many lock waits)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("-N", "--skip-some-updates", action="store_true",
                        help="pgbench -N: no updates of branches and tellers, so (almost) no lock waits at any scale")
    parser.add_argument("--variants", type=lambda s: s.split(","), default=["current"],
                        help=f"sampler variants, comma-separated, of {','.join(VARIANTS)} (default current); "
                             "precheck is an experiment")
    args = parser.parse_args(argv)
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    work = Path(tempfile.mkdtemp(prefix="rehearse-bench-locks-"))
    started = time.monotonic()
    srv = LocalPostgres(work, None, "bench", dict(os.environ), label="bench")
    try:
        admin = srv.start()
        with psycopg.connect(admin.dsn(), autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()[0]
        bench = Bench(srv, admin, args, work)
        for scale in args.scale:
            print(f"pgbench -i -s {scale} ...", flush=True)
            bench.init(scale)
            bench.reset(bench.database(scale))
            bench.measure_tps(bench.database(scale), min(args.seconds, 5))  # warm-up, not recorded
        runs_total = len(args.scale) * len(args.intervals) * args.rounds * (1 + len(args.variants))
        print(f"{runs_total} runs of {args.seconds} s", flush=True)
        for rnd in range(args.rounds):
            for scale in args.scale:
                for interval in args.intervals:
                    # the order rotates every round: with one variant, without first in even rounds, last in odd
                    order: list[str | None] = [None, *args.variants]
                    shift = rnd % len(order)
                    order = order[shift:] + order[:shift]
                    line = [f"round {rnd + 1} -s {scale} {interval:g} ms:"]
                    for variant in order:
                        if variant is None:
                            line.append(f"without {bench.without(scale, interval, rnd).tps:.0f}")
                        else:
                            run = bench.with_sampler(scale, interval, variant, rnd)
                            line.append(f"{variant} {run.tps:.0f} ({run.samples} samples, {run.rows} rows)")
                    print(" ".join(line), flush=True)
        report(bench, args, version, time.monotonic() - started)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

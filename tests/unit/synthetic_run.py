"""A synthetic run directory of the shop scenario (scenarios/shop), deterministic for a seed: every stream a
report reads, shaped like a real rehearsal's (streams/requests.csv as harness/load/recorder.py writes it),
with as many request rows as asked. For the scale benchmark (bench/report_scale.py) and the tests of the
report's figures on many rows (nothing here is measured: the figures are what the streams say)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from harness.load.contract import REQUEST_COLUMNS

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "scenarios" / "shop" / "rehearsal.toml"
T0 = 1_796_000_000.0
ENDPOINTS = [  # name, method, success status, share of the traffic, median latency in ms
    ("/products?offset=[n]", "GET", 200, 0.22, 9.0), ("/products/[id]", "GET", 200, 0.18, 4.0),
    ("/orders/[id]", "GET", 200, 0.15, 5.0), ("/orders", "POST", 201, 0.12, 14.0),
    ("/search?q=[prefix]", "GET", 200, 0.10, 22.0), ("/customers/[id]/orders", "GET", 200, 0.08, 11.0),
    ("/customers/[id]", "GET", 200, 0.05, 3.0), ("/orders/[id]", "PATCH", 200, 0.04, 12.0),
    ("/cart", "POST", 201, 0.03, 8.0), ("/health/deep", "GET", 200, 0.01, 2.0),
    ("/reports/daily", "GET", 200, 0.01, 90.0), ("/webhooks", "POST", 202, 0.01, 6.0)]
# (share of the whole run, name, versions at start and end); warmup before the first, teardown after the last
PHASES = [(0.30, "baseline", "1.0", "1.0"), (0.10, "upgrade", "1.0", "2.0"), (0.25, "post_upgrade", "2.0", "2.0"),
          (0.10, "rollback", "2.0", "1.0"), (0.25, "post_rollback", "1.0", "1.0")]
WORKERS = [41001, 41002, 41003, 41004]
MIGRATION_PID = 39001
REFUSED = "ConnectionRefusedError: [Errno 111] Connection refused"
SERVER_ERROR = "HTTPError: 500 Server Error: Internal Server Error for url: {name}"
UNAVAILABLE = 'CatchResponseError: 503, "service unavailable", retry'  # a comma and quotes: the CSV quotes it


def write_run(path: Path, rows: int, rps: float = 1400.0, seed: int = 7, chunk: int = 1_000_000) -> Path:
    """Write a run directory with `rows` requests at about `rps` (the run lasts rows / rps seconds)."""
    rng = np.random.default_rng(seed)
    (path / "streams").mkdir(parents=True, exist_ok=True)
    (path / "logs").mkdir(exist_ok=True)
    seconds = rows / rps
    lead = min(5.0, seconds * 0.01)  # warmup, and as long again of teardown after the last phase
    phases, at = [], T0 + lead
    for share, name, first, last in PHASES:
        phases.append({"name": name, "from_version": first, "to_version": last, "started": at,
                       "ended": at + share * (seconds - 2 * lead)})
        at = phases[-1]["ended"]
    steps = _steps(phases)
    swaps = _swaps(phases)
    _write_jsonl(path / "streams" / "phases.jsonl", [dict(p, ended=None, event="start") if i % 2 == 0 else
                                                    dict(p, event="end") for p in phases for i in (0, 1)])
    _write_jsonl(path / "streams" / "statements.jsonl", steps)
    _write_jsonl(path / "streams" / "run.jsonl", _run_log(phases, steps, swaps, T0 + seconds))
    _write_jsonl(path / "streams" / "locks.jsonl", _locks(rng, steps))
    _write_jsonl(path / "streams" / "health.jsonl", _health(rng, swaps, T0, T0 + seconds))
    checks = [{"name": "before_upgrade", "phase": "baseline", "started": phases[1]["started"] - 0.2,
               "ended": phases[1]["started"] - 0.05},
              {"name": "after_rollback", "phase": "rollback", "started": phases[3]["ended"] - 0.3,
               "ended": phases[3]["ended"] - 0.05}]
    _write_jsonl(path / "streams" / "checks.jsonl", checks)
    _write_jsonl(path / "streams" / "rollback.jsonl", [{"kind": "verdict", "safe": True, "checked": True,
                                                        "phase": "rollback", "check_seconds": 0.4}])
    for name in ("contention.jsonl", "migration_backends.jsonl", "command_rewrites.jsonl", "app_locks.jsonl"):
        (path / "streams" / name).write_text("")
    log = []
    with open(path / "streams" / "requests.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)  # as the recorder writes it
        writer.writerow(REQUEST_COLUMNS)
        written = 0
        while written < rows:
            count = min(chunk, rows - written)
            columns, errors = _requests(rng, count, written, rows, T0, seconds, phases, steps, swaps)
            writer.writerows(zip(*columns, strict=True))
            log += errors
            written += count
    (path / "logs" / "postgres.log").write_text("".join(log))
    return path


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _steps(phases: list[dict]) -> list[dict]:
    """The shop's 2.0 migration in the upgrade phase and its down-migration in the rollback, plus setup steps."""
    lock = {"mode": "AccessExclusiveLock", "relation": "orders", "is_index": False}
    row_lock = {"mode": "RowExclusiveLock", "relation": "orders", "is_index": False}
    rows, seq = [], 0
    plans = [("setup", phases[0]["started"] - 3.0, "1.0", "up", "001_schema.up.sql",
              ["CREATE TABLE customers (id bigserial PRIMARY KEY)", "CREATE TABLE orders (id bigserial PRIMARY KEY)"]),
             ("upgrade", phases[1]["started"] + 0.2 * (phases[1]["ended"] - phases[1]["started"]), "2.0", "up",
              "001_order_currency.up.sql", ["BEGIN", "ALTER TABLE orders ADD COLUMN currency text",
                                            "UPDATE orders SET currency = 'EUR'", "COMMIT"]),
             ("rollback", phases[3]["started"] + 0.2 * (phases[3]["ended"] - phases[3]["started"]), "2.0", "down",
              "001_order_currency.down.sql", ["ALTER TABLE orders DROP COLUMN currency"])]
    for phase, at, version, direction, source, sqls in plans:
        span = 2.0 if phase == "setup" else 0.4 * (phases[1]["ended"] - phases[1]["started"])
        for index, sql in enumerate(sqls):
            seq += 1
            length = span * (0.8 if sql.startswith("UPDATE") else 0.1 if sql.startswith("ALTER") else 0.01)
            takes = [lock] if sql.startswith("ALTER") else [row_lock] if sql.startswith("UPDATE") else None
            rows.append({"phase": phase, "seq": seq, "version": version, "direction": direction, "source": source,
                         "sql": sql, "started": at, "ended": at + length, "sqlstate": None, "error": None,
                         "pid": MIGRATION_PID, "statement_index": index, "txn": seq - index, "attempt": 1,
                         "locks": takes, "locks_held": None if takes is None else [lock] + takes, "rewrites": [],
                         "origin": "sql", "duration_ms": length * 1000})
            at += length + 0.001
    return rows


def _swaps(phases: list[dict]) -> list[dict]:
    found = []
    for phase, first, last in ((phases[1], "1.0", "2.0"), (phases[3], "2.0", "1.0")):
        stopped = phase["started"] + 0.7 * (phase["ended"] - phase["started"])
        found.append({"phase": phase["name"], "from_version": first, "to_version": last, "stopped_at": stopped,
                      "healthy_at": stopped + 0.6, "strategy": "restart", "started_at": stopped,
                      "ended_at": stopped + 0.6, "in_flight_at_stop": 3})
    return found


def _run_log(phases: list[dict], steps: list[dict], swaps: list[dict], ended: float) -> list[dict]:
    rows: list[dict] = [
        {"event": "run", "at": T0 - 10, "scenario": "shop", "plan": str(PLAN),
         "overrides": {"environment.kind": "local"}, "run_id": "synthetic"},
        {"event": "environment", "at": T0 - 9, "name": "local", "reason": "local: as asked"},
        {"event": "timing", "at": T0 - 8, "name": "seed_s", "seconds": 1.5},
        {"event": "stage", "at": T0 - 1, "name": "timeline"}]
    for phase, name in (("upgrade", "migrate"), ("rollback", "revert")):
        own = [s for s in steps if s["phase"] == phase]
        rows.append({"event": "action", "at": own[-1]["ended"], "phase": phase, "name": name, "description": name,
                     "started": own[0]["started"], "ended": own[-1]["ended"], "status": "ok", "message": None,
                     "expect_failure": False})
    for swap in swaps:
        rows.append({"event": "swap", "at": swap["healthy_at"], **swap})
        rows.append({"event": "action", "at": swap["healthy_at"], "phase": swap["phase"],
                     "name": "swap" if swap["phase"] == "upgrade" else "swap_back", "description": "swap",
                     "started": swap["stopped_at"], "ended": swap["healthy_at"], "status": "ok", "message": None,
                     "expect_failure": False})
    rows.sort(key=lambda r: r["at"])
    return rows + [{"event": "teardown", "at": ended - 0.5}, {"event": "ended", "at": ended}]


def _locks(rng: np.random.Generator, steps: list[dict]) -> list[dict]:
    """Service backends queued behind the ALTER's ACCESS EXCLUSIVE lock while its transaction runs, sampled every
    50 ms (the sampler's rows: one per waiting backend and sample)."""
    rows = []
    for alter in (s for s in steps if s["sql"].startswith("ALTER")):
        txn = [s for s in steps if s["txn"] == alter["txn"]]
        begin, end = alter["started"], min(txn[-1]["ended"], alter["started"] + 60.0)
        waiters: dict[int, float] = {}
        for sampled in np.arange(begin + 0.05, end, 0.05):
            for pid in range(50001, 50013):
                if pid not in waiters and rng.random() < 0.2:
                    waiters[pid] = float(sampled - rng.random() * 0.05)
            for pid, since in list(waiters.items()):
                rows.append({"sampled_at": float(sampled), "pid": pid, "state": "active", "wait_event_type": "Lock",
                             "wait_event": "relation", "mode": "AccessShareLock", "locktype": "relation",
                             "relation": "orders", "waiting_s": round(float(sampled) - since, 6),
                             "blocked_by": [MIGRATION_PID], "application_name": "shop-1.0",
                             "query": "SELECT * FROM orders WHERE id = $1", "root_blocker": MIGRATION_PID,
                             "chain_depth": 1, "root_application": "rehearse-migrate", "root_query": alter["sql"],
                             "root_state": "active"})
                if rng.random() < 0.01:  # the wait ends (its statement timed out): a new one may begin later
                    del waiters[pid]
    return rows


def _health(rng: np.random.Generator, swaps: list[dict], begin: float, end: float) -> list[dict]:
    rows = []
    for at in np.arange(begin, end, 0.5):
        down = any(s["stopped_at"] <= at <= s["healthy_at"] for s in swaps)
        rows.append({"at": float(at), "ok": not down, "status": 0 if down else 200,
                     "latency_ms": float(rng.lognormal(1.2, 0.4)), "error": REFUSED if down else None})
    return rows


def _requests(rng: np.random.Generator, count: int, first: int, rows: int, t0: float, seconds: float,
              phases: list[dict], steps: list[dict], swaps: list[dict]) -> tuple[list[list], list[str]]:
    """`count` request rows (the `first`..`first + count` of `rows` spread over the run), and the server log
    lines of the SQLSTATEs the service answered without naming one."""
    start = t0 + (np.arange(first, first + count) + rng.random(count)) * (seconds / rows)
    kind = rng.choice(len(ENDPOINTS), size=count, p=[e[3] for e in ENDPOINTS])
    median = np.array([e[4] for e in ENDPOINTS])[kind]
    latency = np.round(median * rng.lognormal(0.0, 0.6, count), 3)
    status = np.array([e[2] for e in ENDPOINTS])[kind]
    error = np.full(count, "", dtype=object)
    sqlstate = np.full(count, "", dtype=object)
    names = np.array([e[0] for e in ENDPOINTS], dtype=object)[kind]
    lock_steps = [s for s in steps if s["phase"] != "setup" and s["locks"]]
    for step in lock_steps:  # queued behind the migration's locks: slow, some cancelled by statement_timeout
        during = (start >= step["started"]) & (start <= step["ended"])
        latency[during] += np.round(rng.exponential(400.0, during.sum()), 3)
        cancelled = during & (rng.random(count) < 0.03)
        status[cancelled], error[cancelled] = 500, [SERVER_ERROR.format(name=n) for n in names[cancelled]]
        sqlstate[cancelled & (rng.random(count) < 0.5)] = "57014"
    for swap in swaps:  # a restart: refused, then a few 503s
        refused = (start >= swap["stopped_at"]) & (start <= swap["healthy_at"])
        status[refused], error[refused], latency[refused] = 0, REFUSED, np.round(rng.random(refused.sum()), 3)
        after = (start > swap["healthy_at"]) & (start <= swap["healthy_at"] + 0.5) & (rng.random(count) < 0.3)
        status[after], error[after] = 503, UNAVAILABLE
    rare = (status < 300) & (status > 0) & (rng.random(count) < 0.0005)  # the service failing on its own
    status[rare], error[rare] = 500, [SERVER_ERROR.format(name=n) for n in names[rare]]
    sqlstate[rare & (rng.random(count) < 0.3)] = "40P01"
    log = []
    unnamed = np.flatnonzero((status == 500) & (sqlstate == ""))
    for row in unnamed[rng.random(len(unnamed)) < 0.5]:  # the server logged the error while it was in flight
        at = start[row] + latency[row] / 2000
        state = "57014" if any(s["started"] <= start[row] <= s["ended"] for s in lock_steps) else "23505"
        log.append(f"{at:.3f} [{50001 + row % 12}] {state} shop-1.0: ERROR:  synthetic {state}\n")
    version = np.full(count, "1.0", dtype=object)
    version[start > swaps[0]["healthy_at"]] = "2.0"
    version[start > swaps[1]["healthy_at"]] = "1.0"
    version[rng.random(count) < 0.1] = ""  # answered by nobody the proxy knows (refused, or no proxy)
    # the recorder writes a request when it ends: the file is in order of end, not of start
    order = np.argsort(start + latency / 1000, kind="stable")
    columns = [[f"{s:.6f}" for s in start[order]], names[order].tolist(),
               np.array([e[1] for e in ENDPOINTS], dtype=object)[kind][order].tolist(), status[order].tolist(),
               [f"{v:.3f}" for v in latency[order]], rng.integers(80, 4000, count)[order].tolist(),
               error[order].tolist(), sqlstate[order].tolist(),
               np.array(WORKERS)[rng.integers(0, len(WORKERS), count)].tolist(), version[order].tolist()]
    columns.append(columns[0])  # intended: the closed model's intended start is the start itself
    assert len(columns) == len(REQUEST_COLUMNS)
    return columns, sorted(log)

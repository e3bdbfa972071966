"""Turn the raw streams of a run into pandas frames, tag every row with its phase, write them as Parquet."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.postgres import MIGRATION_APPLICATION
from harness.core.streams import read_json_lines, whole_csv_records
from harness.core.tools import is_chatter
from harness.load.contract import DROPPED_COLUMNS, dropped_streams, request_streams
from harness.observe.migration_backends import REWRITES_STREAM, statements_from_samples
from harness.observe.server_log import server_errors
from harness.observe.statement_log import logged_statements
from harness.result import attribution, rewrites
from harness.result.server_errors import correlate
from harness.rundir import RUN_LOG, RunDir

REQUEST_COLUMNS = ["start", "phase", "name", "method", "status", "latency_ms", "bytes", "error", "sqlstate", "worker",
                   "served_by", "in_check", "sqlstate_source", "cause", "cause_step", "intended"]
CHECKS_STREAM = "checks.jsonl"  # the rollback check's windows (verify.rollback writes it)
LOCK_COLUMNS = ["sampled_at", "phase", "pid", "state", "wait_event_type", "wait_event", "mode", "locktype",
                "relation", "waiting_s", "blocked_by", "root_blocker", "chain_depth", "application_name", "query",
                "root_application", "root_query", "root_state"]
STATEMENT_COLUMNS = ["phase", "seq", "version", "direction", "source", "sql", "started", "ended", "duration_ms",
                     "sqlstate", "error", "pid", "statement_index", "txn", "attempt", "locks", "locks_held", "rewrites",
                     "origin"]
PHASE_COLUMNS = ["name", "started", "ended", "from_version", "to_version"]
HEALTH_COLUMNS = ["at", "phase", "ok", "status", "latency_ms", "error"]
BEFORE_FIRST_PHASE, AFTER_LAST_PHASE = "warmup", "teardown"
TRACED_TXN_BASE = 1_000_000  # transaction ids of traced command statements, apart from the SQL runner's


@dataclass
class Frames:
    requests: pd.DataFrame
    locks: pd.DataFrame
    statements: pd.DataFrame
    phases: pd.DataFrame
    health: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HEALTH_COLUMNS))
    dropped: pd.DataFrame = field(default_factory=lambda: dropped_frame([]))  # open-model arrivals not sent

    def write_parquet(self, directory: Path) -> dict[str, str]:
        """Write each frame as <name>.parquet (whole or not at all); returns the artifact names."""
        artifacts = {}
        for name in ("requests", "locks", "statements", "phases", "health"):
            file = f"{name}.parquet"
            temp = directory / f".{file}.tmp"
            getattr(self, name).to_parquet(temp, index=False)
            temp.replace(directory / file)
            artifacts[name] = file
        return artifacts


def load_frames(run: RunDir) -> Frames:
    """Read every stream of `run` (whatever was recorded, even if the run was cut short)."""
    phases = phase_frame(run.stream("phases.jsonl"))
    requests = request_frames(request_streams(run.stream("requests.csv").parent) or [run.stream("requests.csv")])
    requests.insert(1, "phase", tag_phases(requests["start"], phases))
    requests["in_check"] = in_windows(requests["start"], read_json_lines(run.stream(CHECKS_STREAM)))
    requests = correlate(requests, server_errors(run.log("postgres.log")))
    locks = pd.DataFrame(read_json_lines(run.stream("locks.jsonl")), columns=[c for c in LOCK_COLUMNS if c != "phase"])
    locks.insert(1, "phase", tag_phases(locks["sampled_at"], phases))
    steps = read_json_lines(run.stream("statements.jsonl"))
    traced = traced_command_statements(steps, read_json_lines(run.stream("migration_backends.jsonl")),
                                       logged_statements(run.log("postgres.log"), MIGRATION_APPLICATION),
                                       read_json_lines(run.stream(REWRITES_STREAM)))
    statements = _typed_statements(pd.DataFrame(steps + traced, columns=STATEMENT_COLUMNS))
    facts = read_json_lines(run.stream(RUN_LOG))
    run_end = max([float(r["at"]) for r in facts if "at" in r] + [float(requests["start"].max() or 0)
                                                                   if len(requests) else 0.0])
    requests = attribution.attribute(requests, statements,
                                attribution.swap_windows([r for r in facts if r.get("event") == "swap"]),
                                attribution.mismatch_windows([r for r in facts if r.get("event") == "action"], run_end))
    health = pd.DataFrame(read_json_lines(run.stream("health.jsonl")), columns=[c for c in HEALTH_COLUMNS
                                                                                 if c != "phase"])
    health["at"] = health["at"].astype("float64")
    health["ok"] = health["ok"].astype("bool")
    health.insert(1, "phase", tag_phases(health["at"], phases))
    dropped = dropped_frame(dropped_streams(run.stream("requests.csv").parent))
    dropped.insert(1, "phase", tag_phases(dropped["intended"], phases))
    return Frames(requests[REQUEST_COLUMNS], _typed_locks(locks), statements, phases, health, dropped)


def traced_command_statements(steps: list[dict], samples: list[dict], logged: list[dict],
                              command_rewrites: list[dict] | None = None) -> list[dict]:
    """Statement rows for each command migration step: exact ones from the server log when it has them (the
    statement that failed included, with its SQLSTATE), else those the tracer sampled; either way with the
    locks the tracer saw them take and the relations each rewrote (result.rewrites). A command step is given
    every relation it rewrote, and the failing statement's error when its own is only an exit code."""
    rows: list[dict] = []
    txn_ids: dict[str, int] = {}
    for step in steps:
        if step.get("origin") != "command" or step.get("ended") is None:
            continue
        window = [s for s in samples if step["started"] <= s["sampled_at"] <= step["ended"]]
        seen = statements_from_samples(window)
        exact = [s for s in logged if step["started"] <= s["ended"] <= step["ended"] + 1]
        statements = with_sampled_locks(exact, seen) if exact else seen
        rewritten = next((r["rewrites"] for r in command_rewrites or [] if r.get("source") == step["source"]
                          and step["started"] - 1 <= r.get("started", 0) <= step["ended"]), None)
        if rewritten is not None:
            rewrites.attribute(statements, rewritten)
            step["rewrites"] = sorted(f"{r['relation']} (index)" if r.get("is_index") else r["relation"]
                                      for r in rewritten)
        failing = next((s for s in statements if s.get("sqlstate")), None)
        if step.get("error") and failing is not None and not step.get("sqlstate"):
            step["sqlstate"] = failing["sqlstate"]
            step["error"] = f"{failing['error']} ({step['error']})"
        for statement in statements:
            txn = txn_ids.setdefault(statement["txn"], TRACED_TXN_BASE + len(txn_ids))
            started, ended = statement["started"], statement["ended"]
            rows.append({"phase": step["phase"], "seq": step["seq"], "version": step["version"],
                         "direction": step["direction"], "source": f"{step['source']} (traced)",
                         "sql": statement["sql"], "started": started, "ended": ended,
                         "duration_ms": (ended - started) * 1000, "sqlstate": statement.get("sqlstate"),
                         "error": statement.get("error"), "pid": statement["pid"], "statement_index": None,
                         "txn": txn, "attempt": 1, "locks": statement["locks"], "locks_held": None,
                         "rewrites": statement.get("rewrites"), "origin": "traced"})
    return rows


def with_sampled_locks(exact: list[dict], seen: list[dict]) -> list[dict]:
    """Logged statements, each given the locks and transaction of the sampled statement it is (same backend,
    same text, nearest start: pg_stat_activity's query_start and the log agree to the millisecond).

    A statement quicker than the sampling interval is never seen running: its locks first show in a sample of
    a later statement of its transaction. A lock first seen so goes to the earliest statement of that
    transaction (since its start) that names the lock's relation, when there is one; else, when the statement
    sampled is a tool's own (UPDATE alembic_version, a SAVEPOINT: they take no lock on other tables), to the
    last statement of the transaction before it that is not (DROP INDEX locks a table it does not name)."""
    result = [dict(s, locks=[], txn=None) for s in exact]  # in the log's order: a backend's execution order
    for sampled in seen:
        same_backend = [s for s in result if s["pid"] == sampled["pid"]]
        if not same_backend:
            continue
        same_sql = [s for s in same_backend if s["sql"] == " ".join(str(sampled["sql"]).split())]
        target = min(same_sql or same_backend, key=lambda s: abs(s["started"] - sampled["started"]))
        since = _xact_start(sampled["txn"])
        if since is not None:  # seen idle after its COMMIT, the backend has no transaction to give it
            target["txn"] = sampled["txn"]
        if target.get("sqlstate") and sampled["started"] < target["started"]:  # the log has no start for it
            target["started"] = sampled["started"]
        earlier = [s for s in same_backend if since is not None and since - 0.002 <= s["started"] <= target["started"]]
        for lock in sampled["locks"]:
            named = [s for s in earlier if _names(s["sql"], str(lock["relation"]))]
            working = [s for s in earlier if s is not target and not is_chatter(s["sql"])]
            owner = min(named, key=lambda s: s["started"]) if named else \
                max(working, key=lambda s: s["started"]) if working and is_chatter(target["sql"]) else target
            if lock not in owner["locks"]:
                owner["locks"].append(lock)
            if since is not None:
                owner["txn"] = owner["txn"] or sampled["txn"]
    previous: dict[int, str] = {}
    for statement in result:  # statements too quick to be sampled belong to the backend's last transaction
        statement["txn"] = statement["txn"] or previous.get(statement["pid"]) or f"{statement['pid']}:unsampled"
        previous[statement["pid"]] = statement["txn"]
    return result


def _xact_start(txn: str) -> float | None:
    """The transaction start of a tracer's transaction key ("pid:xact_start")."""
    try:
        return float(str(txn).split(":", 1)[1])
    except (IndexError, ValueError):
        return None


def _names(sql: str, relation: str) -> bool:
    """Whether `sql` names `relation` (unqualified, as a word)."""
    bare = relation.split(".")[-1].strip('"').lower()
    return re.search(rf"(?<![\w$]){re.escape(bare)}(?![\w$])", sql.lower()) is not None


def phase_frame(path: Path) -> pd.DataFrame:
    """One row per phase; a phase that never ended (interrupted run) ends at its last recorded stamp."""
    rows: dict[str, dict] = {}
    for event in read_json_lines(path):
        rows[event["name"]] = {k: event.get(k) for k in PHASE_COLUMNS}
    frame = pd.DataFrame(list(rows.values()), columns=PHASE_COLUMNS)
    frame["started"] = frame["started"].astype("float64")
    frame["ended"] = frame["ended"].astype("float64")
    return frame


def request_frames(paths: list[Path]) -> pd.DataFrame:
    """Requests of every stream (one per Locust process that ran users), in start order."""
    frames = [request_frame(path) for path in paths]
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True).sort_values("start", kind="stable").reset_index(drop=True)


def dropped_frame(paths: list[Path]) -> pd.DataFrame:
    """Open-model arrivals that found every slot busy and were not sent (harness.load.open_model)."""
    parts = [pd.read_csv(path, on_bad_lines="skip", keep_default_na=False, dtype={"task": str, "reason": str})
             for path in paths if path.stat().st_size > 0]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=DROPPED_COLUMNS)
    frame["intended"] = pd.to_numeric(frame["intended"], errors="coerce").astype("float64")
    frame["worker"] = pd.to_numeric(frame["worker"], errors="coerce").fillna(0).astype("int64")
    return frame.dropna(subset=["intended"]).sort_values("intended", kind="stable").reset_index(drop=True)[
        DROPPED_COLUMNS]


def request_frame(path: Path) -> pd.DataFrame:
    """Requests as recorded by the Locust plugin; a torn last line is dropped."""
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("start", "float64"), ("name", "str"), ("method", "str"), ("status", "int64"), ("latency_ms", "float64"),
            ("bytes", "int64"), ("error", "object"), ("sqlstate", "object"), ("worker", "int64"),
            ("served_by", "str"), ("intended", "float64"))})
    frame = _read_requests(path)
    if "served_by" not in frame.columns:  # recorded before requests said who served them
        frame["served_by"] = ""
    frame["start"] = pd.to_numeric(frame["start"], errors="coerce")
    frame = frame.dropna(subset=["start"])
    # recorded before requests had an intended start (the closed model's intended start is the start itself)
    intended = pd.to_numeric(frame["intended"], errors="coerce") if "intended" in frame.columns else frame["start"]
    frame["intended"] = intended.fillna(frame["start"]).astype("float64")
    for column in ("status", "bytes", "worker"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")
    frame["latency_ms"] = pd.to_numeric(frame["latency_ms"], errors="coerce").astype("float64")
    for column in ("error", "sqlstate"):
        frame[column] = frame[column].where(frame[column] != "", None)
    return frame.sort_values("start", kind="stable").reset_index(drop=True)


def _read_requests(path: Path) -> pd.DataFrame:
    options: dict = {"on_bad_lines": "skip", "keep_default_na": False,
                     "dtype": {"name": str, "method": str, "error": str, "sqlstate": str, "served_by": str}}
    try:
        return pd.read_csv(path, **options)
    except pd.errors.ParserError:  # a recorder killed mid-write tore its last record inside a quoted error
        data = path.read_bytes()
        return pd.read_csv(io.BytesIO(data[:whole_csv_records(data)]), **options)


def in_windows(stamps: pd.Series, windows: list[dict]) -> pd.Series:
    """Whether each stamp falls inside one of the harness's check windows ({started, ended})."""
    inside = np.zeros(len(stamps), dtype=bool)
    values = stamps.to_numpy(dtype="float64")
    for window in windows:
        inside |= (values >= float(window["started"])) & (values <= float(window["ended"]))
    return pd.Series(inside, index=stamps.index, dtype=bool)


def tag_phases(stamps: pd.Series, phases: pd.DataFrame) -> pd.Series:
    """The phase each epoch stamp falls in: warmup before the first, teardown after the last."""
    if phases.empty or stamps.empty:
        return pd.Series([BEFORE_FIRST_PHASE] * len(stamps), index=stamps.index, dtype="object")
    starts = phases["started"].to_numpy()
    names = np.array([*phases["name"], AFTER_LAST_PHASE], dtype=object)
    index = np.searchsorted(starts, stamps.to_numpy(dtype="float64"), side="right") - 1
    last_end = phases["ended"].iloc[-1]
    index = np.where(~np.isnan(last_end) & (stamps.to_numpy() > last_end), len(phases), index)
    tags = np.where(index < 0, BEFORE_FIRST_PHASE, names[np.clip(index, 0, len(phases))])
    return pd.Series(tags, index=stamps.index, dtype="object")


def _typed_locks(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("sampled_at", "waiting_s"):
        frame[column] = frame[column].astype("float64")
    for column in ("pid", "root_blocker", "chain_depth"):
        frame[column] = frame[column].astype("Int64")
    frame["blocked_by"] = frame["blocked_by"].map(lambda v: list(v) if isinstance(v, list) else [])
    return frame


def _typed_statements(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("started", "ended", "duration_ms"):
        frame[column] = frame[column].astype("float64")
    for column in ("seq", "pid", "statement_index", "txn", "attempt"):
        frame[column] = frame[column].astype("Int64")
    for column in ("locks", "locks_held", "rewrites"):
        frame[column] = frame[column].map(lambda v: list(v) if isinstance(v, list) else None)
    return frame

"""Turn the raw streams of a run into pandas frames, tag every row with its phase, write them as Parquet."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from harness.core.memory import give_back
from harness.core.postgres import MIGRATION_APPLICATION
from harness.core.streams import read_json_lines, whole_csv_records
from harness.core.tools import is_chatter
from harness.load import request_csv, request_parts
from harness.load.contract import DROPPED_COLUMNS, dropped_streams, request_streams
from harness.load.request_csv import REQUEST_FLOATS, REQUEST_INTEGERS, REQUEST_TEXT
from harness.observe.migration_backends import REWRITES_STREAM, statements_from_samples
from harness.observe.server_log import server_errors
from harness.observe.statement_log import logged_statements
from harness.result import attribution, rewrites
from harness.result.server_errors import correlate
from harness.rundir import RUN_LOG, RunDir

# Arrow's readers would catch SIGINT themselves and raise ArrowCancelled mid-read; the harness decides what an
# interrupt means (a report being written holds signals until it is whole: cli.held_signals).
pa.enable_signal_handlers(False)

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

    @staticmethod
    def parquet_artifacts() -> dict[str, str]:
        """The artifact names of write_parquet's files."""
        return {name: f"{name}.parquet" for name in ("requests", "locks", "statements", "phases", "health")}

    def write_parquet(self, directory: Path) -> dict[str, str]:
        """Write each frame as <name>.parquet (whole or not at all); returns the artifact names."""
        artifacts = self.parquet_artifacts()
        for name, file in artifacts.items():
            temp = directory / f".{file}.tmp"
            write_parquet(getattr(self, name), temp)
            temp.replace(directory / file)
        return artifacts


PARQUET_ROWS = 1_000_000  # rows per row group: a frame is converted to Arrow a slice at a time


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """`frame` as Parquet (pyarrow), a row group of PARQUET_ROWS at a time: never a second copy of a frame of
    millions of rows in memory."""
    first = pa.Table.from_pandas(frame.iloc[:PARQUET_ROWS], preserve_index=False)
    try:
        with pq.ParquetWriter(path, first.schema) as writer:
            writer.write_table(first)
            for begin in range(PARQUET_ROWS, len(frame), PARQUET_ROWS):
                writer.write_table(pa.Table.from_pandas(frame.iloc[begin:begin + PARQUET_ROWS],
                                                        schema=first.schema, preserve_index=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column typed by its first rows that later ones do not fit
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def load_frames(run: RunDir) -> Frames:
    """Read every stream of `run` (whatever was recorded, even if the run was cut short)."""
    phases = phase_frame(run.stream("phases.jsonl"))
    requests = request_frame(request_files(run))
    requests.insert(1, "phase", phase_categories(requests["start"], phases))
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
    return request_frame(paths)


def dropped_frame(paths: list[Path]) -> pd.DataFrame:
    """Open-model arrivals that found every slot busy and were not sent (harness.load.open_model)."""
    parts = [pd.read_csv(path, on_bad_lines="skip", keep_default_na=False, dtype={"task": str, "reason": str})
             for path in paths if path.stat().st_size > 0]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=DROPPED_COLUMNS)
    frame["intended"] = pd.to_numeric(frame["intended"], errors="coerce").astype("float64")
    frame["worker"] = pd.to_numeric(frame["worker"], errors="coerce").fillna(0).astype("int64")
    return frame.dropna(subset=["intended"]).sort_values("intended", kind="stable").reset_index(drop=True)[
        DROPPED_COLUMNS]


# HTTP statuses, response sizes and process ids take fewer bytes than int64 (2, 4 and 4 of 8 a row, with millions
# of rows) when every value of the file fits
NARROW_INTEGERS = {"status": "int16", "bytes": "int32", "worker": "int32"}


def request_files(run: RunDir) -> list[Path]:
    """streams/requests.csv and any per-worker streams/requests-<pid>.csv, those that exist."""
    return request_streams(run.stream("requests.csv").parent)


def request_frame(path: Path | list[Path]) -> pd.DataFrame:
    """Requests as recorded by the Locust plugin (one file or several: per worker), sorted by start. A line
    with fewer fields than the header (a torn last line) has the missing ones empty, one with more is dropped,
    one without a start too. Columns are read by their header's names: ones the harness does not know are kept
    as the CSV reader types them, a missing optional one is empty. Text columns are categoricals (a long
    rehearsal has millions of rows and a few dozen distinct endpoints, statuses, errors)."""
    paths = [p for p in ([path] if isinstance(path, Path) else path) if p.exists() and p.stat().st_size]
    if not paths:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("start", "float64"), ("name", "str"), ("method", "str"), ("status", "int64"), ("latency_ms", "float64"),
            ("bytes", "int64"), ("error", "object"), ("sqlstate", "object"), ("worker", "int64"),
            ("served_by", "str"), ("intended", "float64"))})
    parts = []
    for file in paths:
        try:
            parts.append(_arrow_columns(file))
        except (pa.ArrowInvalid, UnicodeDecodeError):  # a value the typed reader cannot parse: read it as text
            parts.append(_text_columns(file))
    frame = _request_frame(parts[0] if len(parts) == 1 else _concat(parts))
    give_back()  # what the parser held is free: give it back for the figures
    return frame


Columns = dict[str, Any]  # a column's values: numpy array (numbers), pandas Categorical (text), Series (others)


def _arrow_columns(path: Path) -> Columns:
    """pyarrow's CSV reader (threaded, typed as it parses: load.request_csv) on ranges of the file in turn, or
    the parts parsed while the run recorded (load.request_parts), each table's text straight to integer
    codes: no column of millions of strings, nor the whole file parsed, is ever held. Lines with the wrong
    number of fields are skipped (a torn last line); ArrowInvalid for a value that is not of its column's type."""
    header = request_csv.header(path)
    # Every column is written straight into an array of as many rows as the file could hold (a row has a comma
    # per column): only the pages of rows written are ever resident, and nothing is concatenated at the end.
    bound = path.stat().st_size // max(len(header), 1) + 1
    # Integers and text codes start as narrow as they usually fit (HTTP statuses, sizes, pids; a few dozen
    # endpoints) and are widened, what was read so far copied, only when a value does not fit.
    numbers = {name: np.empty(bound, dtype="float64" if name in REQUEST_FLOATS else NARROW_INTEGERS.get(name, "int64"))
               for name in header if name in REQUEST_FLOATS or name in REQUEST_INTEGERS}
    codes = {name: np.empty(bound, dtype="int8") for name in header if name in REQUEST_TEXT}
    values: dict[str, dict[str, int]] = {name: {} for name in codes}
    others: dict[str, list[Any]] = {name: [] for name in header if name not in numbers and name not in codes}
    schema: dict[str, pa.DataType] = {}
    count = 0
    for table in request_parts.tables(path):
        for name in header:
            column = table.column(name)
            schema.setdefault(name, column.type)
            at = count
            for array in column.chunks:
                if name in codes:
                    known = values[name]
                    recode = np.array([known.setdefault(v, len(known)) for v in array.dictionary.to_pylist()]
                                      + [-1], dtype="int32")  # the last: a missing value
                    indices = pc.fill_null(array.indices, len(array.dictionary))
                    codes[name] = _fitting(codes[name], at, np.dtype(_code_type(len(known))))
                    codes[name][at:at + len(array)] = recode[indices.to_numpy(zero_copy_only=False)]
                elif name in numbers:  # a null: NaN (floats), 0 (integers)
                    filled = pc.fill_null(array, 0) if name in REQUEST_INTEGERS else array
                    chunk_values = filled.to_numpy(zero_copy_only=False)
                    if name in REQUEST_INTEGERS and len(chunk_values):
                        numbers[name] = _fitting(numbers[name], at, _integer_type(chunk_values, numbers[name].dtype))
                    numbers[name][at:at + len(array)] = chunk_values
                else:
                    others[name].append(array)
                at += len(array)
        count += table.num_rows
    columns: Columns = {}
    for name in header:
        if name in codes:
            columns[name] = pd.Categorical.from_codes(codes.pop(name)[:count], categories=list(values[name]))
        elif name in numbers:
            columns[name] = numbers.pop(name)[:count]
        else:
            columns[name] = pa.chunked_array(others.pop(name), type=schema.get(name, pa.string())).to_pandas()
    return columns


def _fitting(array: np.ndarray, filled: int, dtype: np.dtype) -> np.ndarray:
    """`array`, or (when `dtype` is wider than its own) a wider one holding its first `filled` values."""
    if np.promote_types(array.dtype, dtype) == array.dtype:
        return array
    wider = np.empty(len(array), dtype=np.promote_types(array.dtype, dtype))
    wider[:filled] = array[:filled]
    return wider


def _integer_type(values: np.ndarray, dtype: np.dtype) -> np.dtype:
    """`dtype` if every one of `values` fits it, else int64."""
    limits = np.iinfo(dtype)
    return dtype if limits.min <= values.min() and values.max() <= limits.max else np.dtype("int64")


def _code_type(count: int) -> str:
    return "int8" if count < 2**7 else "int16" if count < 2**15 else "int32"


def _text_columns(path: Path) -> Columns:
    """Every field as text, numbers coerced (what does not parse is NaN: a row without a start is dropped)."""
    data = path.read_bytes()
    frame = pd.read_csv(io.BytesIO(data[:whole_csv_records(data)]), on_bad_lines="skip", keep_default_na=False,
                        dtype=str)
    columns: Columns = {}
    for name in frame.columns:
        if name in REQUEST_FLOATS or name in REQUEST_INTEGERS:
            number = pd.to_numeric(frame[name], errors="coerce").astype("float64")
            columns[name] = number.to_numpy() if name in REQUEST_FLOATS else number.fillna(0).to_numpy("int64")
        elif name in REQUEST_TEXT:
            columns[name] = pd.Categorical(frame[name])
        else:
            columns[name] = frame[name].reset_index(drop=True)
    return columns


def _concat(parts: list[Columns]) -> Columns:
    """The columns of several request files as one (their text columns' categories united)."""
    sizes = [_rows(part) for part in parts]
    names = list(dict.fromkeys(name for part in parts for name in part))
    columns: Columns = {}
    for name in names:
        if name in REQUEST_TEXT:
            columns[name] = union_categoricals([part.get(name, pd.Categorical.from_codes(np.zeros(n, "int8"), [""]))
                                                for part, n in zip(parts, sizes, strict=True)])
        elif name in REQUEST_FLOATS or name in REQUEST_INTEGERS:
            columns[name] = np.concatenate([part.get(name, np.full(n, np.nan if name in REQUEST_FLOATS else 0))
                                            for part, n in zip(parts, sizes, strict=True)])
        else:
            columns[name] = pd.concat([pd.Series(part.get(name, [None] * n)) for part, n in
                                       zip(parts, sizes, strict=True)], ignore_index=True)
    return columns


def _rows(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def _narrow(values: np.ndarray, dtype: str | None) -> np.ndarray:
    if dtype is None or not len(values):
        return values
    if values.dtype == np.dtype(dtype):
        return values
    limits = np.iinfo(dtype)
    return values.astype(dtype) if limits.min <= values.min() and values.max() <= limits.max else values


def _request_frame(columns: Columns) -> pd.DataFrame:
    """The frame of the columns, typed (missing ones empty: recorded before they were), rows without a start
    dropped, sorted by start (stable: the recorder writes requests as they end)."""
    count = _rows(columns)
    for name in REQUEST_FLOATS:
        columns[name] = np.asarray(columns[name], dtype="float64") if name in columns else np.full(count, np.nan)
    # recorded before requests had an intended start (the closed model's intended start is the start itself)
    missing = np.isnan(columns["intended"])
    if missing.any():  # in place: a second column of millions of floats would only be garbage a moment later
        if not columns["intended"].flags.writeable:
            columns["intended"] = columns["intended"].copy()
        np.copyto(columns["intended"], columns["start"], where=missing)
    for name in REQUEST_INTEGERS:
        values = columns.get(name)
        if values is None:
            values = np.zeros(count, "int64")
        elif not (isinstance(values, np.ndarray) and values.dtype.kind == "i"):
            values = np.asarray(values, dtype="int64")
        columns[name] = _narrow(values, NARROW_INTEGERS.get(name))
    for name in REQUEST_TEXT:
        if name not in columns:
            columns[name] = pd.Categorical.from_codes(np.zeros(count, dtype="int8"), categories=[""])
    for name in ("error", "sqlstate"):  # empty: none
        if "" in columns[name].categories:
            columns[name] = columns[name].remove_categories([""])
    start = columns["start"]
    keep = None if not np.isnan(start).any() else np.flatnonzero(~np.isnan(start))
    order = keep if keep is None or not len(keep) else keep[np.argsort(start[keep], kind="stable")]
    if keep is None and len(start) > 1 and not (start[1:] >= start[:-1]).all():
        order = np.argsort(start, kind="stable")
    if order is not None and len(order) < 2**31:  # half the bytes, for the moment each column is taken in order
        order = order.astype("int32")
    del start  # the unordered column goes as soon as its ordered copy is made
    known = ["start", "name", "method", "status", "latency_ms", "bytes", "error", "sqlstate", "worker", "served_by",
             "intended"]
    # the closed model records a request's intended start as its start: then one array holds both columns
    shared = bool(np.array_equal(columns["intended"], columns["start"]))
    ordered: Columns = {}
    for name in known + [c for c in columns if c not in known]:
        values = columns.pop(name)  # a column at a time: never two copies of the frame
        if name == "intended" and shared:
            values = ordered["start"]
        elif order is not None:
            values = values.iloc[order].reset_index(drop=True) if isinstance(values, pd.Series) else values[order]
        ordered[name] = values
    return pd.DataFrame(ordered, copy=False)  # the arrays as they are: no copy, no consolidation


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


def phase_categories(stamps: pd.Series, phases: pd.DataFrame) -> pd.Series:
    """tag_phases as a categorical (warmup, the phases in timeline order, teardown): for millions of rows, a
    chunk of them at a time (its temporaries stay a few MB)."""
    names = list(dict.fromkeys([BEFORE_FIRST_PHASE, *map(str, phases["name"]), AFTER_LAST_PHASE]))
    codes = np.zeros(len(stamps), dtype=_code_type(len(names)))
    if not phases.empty and not stamps.empty:
        values = stamps.to_numpy(dtype="float64")
        started = phases["started"].to_numpy()
        last_end = phases["ended"].iloc[-1]
        position = np.array([names.index(n) for n in [*map(str, phases["name"]), AFTER_LAST_PHASE]])
        before = names.index(BEFORE_FIRST_PHASE)
        for at in range(0, len(values), CHUNK_ROWS):
            chunk = values[at:at + CHUNK_ROWS]
            index = np.searchsorted(started, chunk, side="right") - 1
            if not np.isnan(last_end):
                index[chunk > last_end] = len(phases)
            codes[at:at + CHUNK_ROWS] = np.where(index < 0, before, position[np.clip(index, 0, len(phases))])
    return pd.Series(pd.Categorical.from_codes(codes, categories=names), index=stamps.index)


CHUNK_ROWS = 1 << 20


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

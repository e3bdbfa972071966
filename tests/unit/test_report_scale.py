"""The figures of a report built from many request rows (a synthetic run directory, tests/unit/synthetic_run.py)
against the same figures computed here the plain way, with whole pandas frames; and the request reader on
the CSV files a recorder can leave (extra and missing columns, a torn last line, a line break in a quoted
value, per-worker files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.plan import load_plan
from harness.records.summary import HELD_UP_FACTOR, HELD_UP_MARGIN_MS
from harness.result.build import build_summary
from harness.result.frames import request_files, request_frame
from harness.rundir import RunDir

from .synthetic_run import PLAN, write_run

ROWS = 50_000


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, pd.DataFrame]:
    run_dir = write_run(tmp_path_factory.mktemp("run") / "synthetic", ROWS, rps=500.0)
    summary, _ = build_summary(load_plan(PLAN, {"environment.kind": "local"}), RunDir(run_dir, run_dir.name))
    return summary, reference_requests(run_dir)


def reference_requests(run_dir: Path) -> pd.DataFrame:
    """requests.csv read the plain way, each row given its phase and whether it was in a check window."""
    frame = pd.read_csv(run_dir / "streams" / "requests.csv", keep_default_na=False,
                        dtype={"error": str, "sqlstate": str, "served_by": str})
    frame["failed"] = frame["error"] != ""
    phases = [json.loads(line) for line in (run_dir / "streams" / "phases.jsonl").read_text().splitlines()]
    ended = [p for p in phases if p["event"] == "end"]
    frame["phase"] = "warmup"
    for index, phase in enumerate(ended):
        until = ended[index + 1]["started"] if index + 1 < len(ended) else phase["ended"]
        inside = (frame["start"] >= phase["started"]) & ((frame["start"] < until) | (
            (index + 1 == len(ended)) & (frame["start"] <= until)))
        frame.loc[inside, "phase"] = phase["name"]
    frame.loc[frame["start"] > ended[-1]["ended"], "phase"] = "teardown"
    frame["in_check"] = False
    for line in (run_dir / "streams" / "checks.jsonl").read_text().splitlines():
        window = json.loads(line)
        frame.loc[(frame["start"] >= window["started"]) & (frame["start"] <= window["ended"]), "in_check"] = True
    return frame


def figures(rows: pd.DataFrame) -> dict[str, object]:
    latency = rows["latency_ms"].to_numpy()
    return {"requests": len(rows), "errors": int(rows["failed"].sum()),
            "p50_ms": float(np.percentile(latency, 50)), "p95_ms": float(np.percentile(latency, 95)),
            "p99_ms": float(np.percentile(latency, 99)), "max_ms": float(latency.max())}


def test_the_phase_figures_are_those_of_the_rows_of_each_phase(built) -> None:
    summary, requests = built
    measured = requests[~requests["in_check"]]
    assert [p.name for p in summary.phases] == ["baseline", "upgrade", "post_upgrade", "rollback", "post_rollback"]
    for phase in summary.phases:
        rows = measured[measured["phase"] == phase.name]
        assert {k: getattr(phase, k) for k in figures(rows)} == figures(rows), phase.name
        assert phase.excluded_requests == int((requests["in_check"] & (requests["phase"] == phase.name)).sum())
    assert sum(p.requests + p.excluded_requests for p in summary.phases) == int(
        requests["phase"].isin([p.name for p in summary.phases]).sum())


def test_each_endpoint_and_version_has_the_figures_of_its_rows(built) -> None:
    summary, requests = built
    measured = requests[~requests["in_check"]]
    expected = {(phase, name): figures(rows) for (phase, name), rows in measured.groupby(["phase", "name"])
                if phase not in ("warmup", "teardown")}
    assert {(e.phase, e.name): {k: getattr(e, k) for k in figures(measured.iloc[:1])}
            for e in summary.endpoints} == expected
    tagged = measured[measured["served_by"] != ""]
    versions = {(phase, version, name): figures(rows)
                for (phase, version, name), rows in tagged.groupby(["phase", "served_by", "name"])
                if phase not in ("warmup", "teardown")}
    assert {(v.phase, v.version, v.name): {k: getattr(v, k) for k in figures(measured.iloc[:1])}
            for v in summary.versions} == versions
    assert len(versions) > len(expected), "both versions served some endpoints"


def test_every_request_of_a_phase_has_one_cause_and_the_endpoints_sum_up(built) -> None:
    summary, requests = built
    for phase in summary.phases:
        rows = requests[requests["phase"] == phase.name]  # cause rows count check windows' requests too
        everything = next(c for c in summary.causes if c.phase == phase.name and c.cause == "all" and not c.endpoint)
        assert {k: getattr(everything, k) for k in figures(rows)} == figures(rows), phase.name
        by_cause = [c for c in summary.causes if c.phase == phase.name and c.cause != "all" and not c.endpoint]
        assert sum(c.requests for c in by_cause) == len(rows)
        assert sum(c.errors for c in by_cause) == int(rows["failed"].sum())
        for endpoint, group in rows.groupby("name"):
            row = next(c for c in summary.causes if c.phase == phase.name and c.cause == "all"
                       and c.endpoint == endpoint)
            assert (row.requests, row.p99_ms) == (len(group), float(np.percentile(group["latency_ms"], 99)))
    upgrade = [c for c in summary.causes if c.phase == "upgrade" and not c.endpoint]
    assert {c.cause for c in upgrade if c.requests} == {"all", "statements", "swap", "service"}


def test_slow_requests_are_those_above_their_endpoints_baseline_bar(built) -> None:
    summary, requests = built
    baseline = requests[requests["phase"] == "baseline"]
    p99 = baseline.groupby("name")["latency_ms"].quantile(0.99)
    bars = requests["name"].map(np.maximum(p99 * HELD_UP_FACTOR, p99 + HELD_UP_MARGIN_MS))
    slow = (requests["latency_ms"] >= bars) & ~requests["failed"]
    for phase in summary.phases:
        row = next(c for c in summary.causes if c.phase == phase.name and c.cause == "all" and not c.endpoint)
        assert row.held_up_slow == int((slow & (requests["phase"] == phase.name)).sum()), phase.name
    assert sum(c.held_up_slow for c in summary.causes if c.cause == "all" and not c.endpoint) > 0


def test_the_requests_a_step_overlapped_and_started_are_counted(built) -> None:
    summary, requests = built
    ends = requests["start"] + requests["latency_ms"] / 1000
    for step in (s for s in summary.statements if s.ended is not None):
        overlap = (requests["start"] <= step.ended) & (ends >= step.started)
        assert step.failed_requests == int((overlap & requests["failed"]).sum()), step.sql
        during = requests.loc[(requests["start"] >= step.started) & (requests["start"] <= step.ended), "latency_ms"]
        assert step.p99_during_ms == (float(np.percentile(during, 99)) if len(during) else None)
        failed = requests[overlap & requests["failed"]]
        assert step.errors_by_endpoint == failed["name"].value_counts().to_dict()
    assert any(s.failed_requests for s in summary.statements)


def test_errors_are_grouped_by_phase_endpoint_and_sqlstate(built) -> None:
    summary, requests = built
    failed = requests[requests["failed"] & ~requests["phase"].isin(["warmup", "teardown"])]
    by_endpoint = failed.groupby(["phase", "name"]).size().to_dict()
    found: dict[tuple[str, str], int] = {}
    for group in summary.errors:
        found[(group.phase, group.name)] = found.get((group.phase, group.name), 0) + group.errors
    assert found == by_endpoint
    # a SQLSTATE the response named stays; the server log names some of the others (never fewer: one to one)
    named = failed[failed["sqlstate"] != ""].groupby(["phase", "name", "sqlstate"]).size().to_dict()
    found = {}
    for group in summary.errors:
        found[(group.phase, group.name, group.sqlstate)] = found.get((group.phase, group.name, group.sqlstate), 0) \
            + group.errors
    assert all(found.get(key, 0) >= count for key, count in named.items())
    unnamed = int((failed["sqlstate"] == "").sum())
    from_log = sum(count for key, count in found.items() if key[2] != "http") - sum(named.values())
    assert from_log > 0 and sum(count for key, count in found.items() if key[2] == "http") == unnamed - from_log


COLUMNS = "start,name,method,status,latency_ms,bytes,error,sqlstate,worker,served_by"


def test_the_reader_takes_columns_by_name_extra_ones_and_missing_ones(tmp_path: Path) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text(f"{COLUMNS},intended\r\n10.5,/a,GET,200,3.5,10,,,7,1.0,10.25\r\n"
                     "9.5,/b,POST,500,4.0,20,HTTPError: 500,55P03,8,,9.0\r\n")
    frame = request_frame(extra)
    assert list(frame["start"]) == [9.5, 10.5], "sorted by start"
    assert list(frame["intended"]) == [9.0, 10.25]
    assert list(frame["name"]) == ["/b", "/a"] and list(frame["status"]) == [500, 200]
    assert [None if pd.isna(v) else v for v in frame["error"]] == ["HTTPError: 500", None]
    assert [None if pd.isna(v) else v for v in frame["sqlstate"]] == ["55P03", None]
    older = tmp_path / "older.csv"  # before requests said who served them; columns in another order
    older.write_text("name,start,method,status,latency_ms,bytes,error,sqlstate,worker\n/a,1.0,GET,200,2.0,5,,,3\n")
    frame = request_frame(older)
    assert list(frame["served_by"]) == [""] and list(frame["worker"]) == [3] and list(frame["latency_ms"]) == [2.0]


def test_a_short_line_keeps_its_fields_a_long_one_is_dropped_and_a_quoted_line_break_kept(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(f"{COLUMNS}\r\n1.0,/a,GET,500,2.0,5,\"Error: two\r\nlines, \"\"quoted\"\"\",,3,\r\n"
                    "2.0,/a,GET,200,2.0,5,,,3,,,too many\r\n2.5,/b,GET,200,1.0,5,,,3\r\n3.0,/a,GE")
    frame = request_frame(path)
    assert list(frame["start"]) == [1.0, 2.5, 3.0], "as pandas reads them: the long line dropped"
    assert frame["error"].iloc[0] == 'Error: two\r\nlines, "quoted"'
    assert list(frame["status"]) == [500, 200, 0] and list(frame["method"]) == ["GET", "GET", "GE"]
    assert list(frame["served_by"]) == ["", "", ""] and np.isnan(frame["latency_ms"].iloc[2])
    assert frame["error"].isna().tolist() == [False, True, True]
    reference = pd.read_csv(path, on_bad_lines="skip", keep_default_na=False, dtype={"error": str})
    assert list(reference["start"]) == list(frame["start"])


def test_an_unparsable_number_is_read_as_text_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(f"{COLUMNS}\n1.0,/a,GET,200,fast,5,,,3,\nsoon,/a,GET,200,2.0,5,,,3,\n2.0,/b,GET,,1.0,5,,,3,\n")
    frame = request_frame(path)
    assert list(frame["start"]) == [1.0, 2.0], "a row without a start is dropped"
    assert np.isnan(frame["latency_ms"].iloc[0]) and list(frame["status"]) == [200, 0]


def test_per_worker_files_are_read_together(tmp_path: Path) -> None:
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "requests.csv").write_text(f"{COLUMNS}\n2.0,/a,GET,200,2.0,5,,,3,1.0\n")
    (tmp_path / "streams" / "requests-2.csv").write_text(f"{COLUMNS}\n1.0,/b,GET,503,1.0,5,boom,,4,2.0\n")
    frame = request_frame(request_files(RunDir(tmp_path, "run")))
    assert list(frame["name"]) == ["/b", "/a"] and list(frame["served_by"]) == ["2.0", "1.0"]
    assert list(frame["error"].astype(object).where(frame["error"].notna(), None)) == ["boom", None]

"""The live view's figures (harness/observe/live_figures.py) and its incremental stream readers (tail.py), on
synthetic rows and files written the way the recorder and the lock sampler write them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from harness.core.streams import whole_csv_records
from harness.observe.live_figures import (
    LAG_S,
    REQUEST_FIELDS,
    LockWait,
    LockWindow,
    PlannedPhase,
    Request,
    RequestWindow,
    TimelineClock,
    request_of,
)
from harness.observe.tail import CsvTail, JsonLinesTail

NOW = 1_700_000_100.0


def test_requests_of_the_window_give_rps_p99_and_errors() -> None:
    window = RequestWindow(5.0)
    end = NOW - LAG_S
    inside = [Request(end - 5.0 + 0.01 * i, float(i), i % 50 == 0) for i in range(400)]  # 4 s of them
    too_old = [Request(end - 5.5, 9999.0, True)]
    too_new = [Request(end + 0.2, 9999.0, True)]  # the last second is not all on disk yet
    window.add(inside + too_old + too_new)
    figures = window.figures(NOW)
    assert figures.requests == 400 and figures.rps == pytest.approx(80.0)
    assert figures.p99_ms == pytest.approx(float(np.percentile(range(400), 99)))
    assert figures.errors == 8 and figures.error_rate == pytest.approx(0.02)
    assert (figures.total, figures.total_errors) == (402, 10), "totals count everything read"


def test_an_empty_window_has_no_p99() -> None:
    window = RequestWindow(5.0)
    window.add([Request(NOW - 60, 10.0, False)])
    figures = window.figures(NOW)
    assert (figures.requests, figures.rps, figures.p99_ms, figures.errors) == (0, 0.0, None, 0)
    assert figures.total == 1


def test_a_record_is_read_by_its_fields_and_a_bad_one_is_none() -> None:
    assert request_of(("100.5", "250", "")) == Request(100.75, 250.0, False)
    assert request_of(("100", "0", "ConnectionError: refused")) == Request(100.0, 0.0, True)
    assert request_of(("", "3", "")) is None and request_of(("x",)) is None


def _wait(at: float, waiting_s: float, relation: str | None = "orders", pid: int = 1) -> LockWait:
    row = {"sampled_at": at, "pid": pid, "waiting_s": waiting_s, "relation": relation, "mode": "RowExclusiveLock",
           "locktype": "relation", "query": "INSERT INTO orders", "root_query": "ALTER TABLE orders"}
    wait = LockWait.from_row(row)
    assert wait is not None
    return wait


def test_lock_waits_are_those_of_the_latest_sample_while_it_is_recent() -> None:
    window = LockWindow(10.0, stale_s=0.5)
    window.add([_wait(NOW - 3, 9.0, pid=9)])
    window.add([_wait(NOW - 0.2, 1.0, pid=1), _wait(NOW - 0.2, 2.5, None, pid=2)])
    figures = window.figures(NOW)
    assert figures.waiting == 2 and figures.longest is not None and figures.longest.pid == 2
    assert figures.longest.what == "relation", "no relation: the kind of lock"
    assert (figures.peak, figures.peak_wait_s) == (2, 9.0)
    later = window.figures(NOW + 1)  # the sampler writes nothing while nobody waits
    assert later.waiting == 0 and later.longest is None and later.peak == 2
    assert window.figures(NOW + 20).peak == 0, "the window forgets old samples"


def test_a_lock_row_without_its_time_is_skipped() -> None:
    assert LockWait.from_row({"pid": 1}) is None
    assert LockWait.from_row({"sampled_at": "soon"}) is None


PLAN = [PlannedPhase("baseline", 30, 0), PlannedPhase("upgrade", 10, 2), PlannedPhase("post", 20, 0)]


def test_the_clock_before_during_and_after_the_timeline() -> None:
    clock = TimelineClock(PLAN)
    before = clock.at(NOW)
    assert (before.phase, before.index, before.remaining_s, before.at_least) == (None, 0, 60, True)
    clock.phase_started("baseline", NOW)
    baseline = clock.at(NOW + 12)
    assert (baseline.phase, baseline.index, baseline.phases) == ("baseline", 1, 3)
    assert baseline.phase_remaining_s == 18 and not baseline.phase_at_least
    assert baseline.remaining_s == 18 + 10 + 20 and baseline.at_least, "the upgrade's actions are to come"
    assert baseline.elapsed_s == 12
    clock.phase_ended("baseline", NOW + 30)
    clock.phase_started("upgrade", NOW + 30)
    clock.action_started("migrate", NOW + 31)
    migrating = clock.at(NOW + 40)
    assert (migrating.action, migrating.action_s) == ("migrate", 9)
    assert migrating.phase_remaining_s == 10 and migrating.phase_at_least
    clock.action_ended(NOW + 41)
    between = clock.at(NOW + 42)
    assert between.action is None and between.phase_at_least, "one action of two ended: the soak is not on yet"
    clock.action_started("swap", NOW + 42)
    clock.action_ended(NOW + 45)
    soaking = clock.at(NOW + 49)
    assert soaking.phase_remaining_s == 6 and not soaking.phase_at_least
    assert soaking.remaining_s == 26 and not soaking.at_least and soaking.done == ("baseline",)
    clock.phase_ended("upgrade", NOW + 55)
    clock.phase_started("post", NOW + 55)
    clock.phase_ended("post", NOW + 75)
    over = clock.at(NOW + 76)
    assert (over.phase, over.remaining_s, over.done) == (None, 0, ("baseline", "upgrade", "post"))
    assert over.elapsed_s == 76


def test_a_phase_the_plan_does_not_name_has_no_soak() -> None:
    clock = TimelineClock(PLAN)
    clock.phase_started("extra", NOW)
    position = clock.at(NOW + 5)
    assert (position.phase, position.index, position.phase_remaining_s) == ("extra", 1, 0)


def test_whole_csv_records_stop_before_a_torn_row_and_keep_quoted_newlines() -> None:
    assert whole_csv_records(b"a,b\r\n1,2\r\n3,") == len(b"a,b\r\n1,2\r\n")
    data = b'1,"Error: two\nlines",x\r\n2,"open\n'
    assert whole_csv_records(data) == len(b'1,"Error: two\nlines",x\r\n')
    assert whole_csv_records(b"no newline yet") == 0


def _write(path: Path, rows: list[list[object]], mode: str = "a") -> None:
    with path.open(mode, newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


def test_csv_tail_reads_only_new_whole_rows_by_column_name_of_every_worker_file(tmp_path: Path) -> None:
    first = tmp_path / "requests.csv"
    _write(first, [["start", "name", "latency_ms", "error"], [1.0, "a", 5, ""]])
    with first.open("a") as out:
        out.write('2.0,b,7,"Timeout:\nsplit"\r\n3.0,c,')  # the recorder is mid-row
    tail = CsvTail(tmp_path, "requests*.csv")
    assert tail.records(REQUEST_FIELDS) == [("1.0", "5", ""), ("2.0", "7", "Timeout:\nsplit")]
    assert tail.records(REQUEST_FIELDS) == [], "nothing new"
    with first.open("a") as out:
        out.write("9,\r\n")
    # another worker's file, its columns in another order and one more at the end
    _write(tmp_path / "requests-2.csv", [["error", "latency_ms", "start", "new_column"], ["", 11, 4.0, "z"]])
    assert sorted(tail.records(REQUEST_FIELDS)) == [("3.0", "9", ""), ("4.0", "11", "")]
    (tmp_path / "locks.jsonl").write_text("")
    _write(tmp_path / "requests-3.csv", [["start", "latency_ms"], [5.0, 1]])
    assert tail.records(REQUEST_FIELDS) == [("5.0", "1", "")], "a missing column reads empty"


def test_csv_tail_starts_anew_when_a_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    _write(path, [["start", "latency_ms", "error"], [1.0, 5, ""], [2.0, 5, ""]])
    tail = CsvTail(tmp_path, "requests*.csv")
    assert len(tail.records(REQUEST_FIELDS)) == 2
    path.unlink()
    _write(path, [["latency_ms", "start", "error"], [6, 3.0, ""]], mode="w")
    assert tail.records(REQUEST_FIELDS) == [("3.0", "6", "")]


def test_json_lines_tail_reads_whole_lines_and_skips_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "locks.jsonl"
    tail = JsonLinesTail(tmp_path, "locks.jsonl")
    assert tail.rows() == [], "not there yet"
    path.write_text(json.dumps({"pid": 1}) + "\nnot json\n[1]\n" + '{"pid": 2')
    assert tail.rows() == [{"pid": 1}]
    with path.open("a") as out:
        out.write("}\n")
    assert tail.rows() == [{"pid": 2}]

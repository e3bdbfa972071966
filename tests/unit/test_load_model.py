"""The open model's pure parts: the arrival schedule, the request and dropped streams as frames (also recorded
before `intended` existed), the per-phase accounting, and the plan keys of [load] (no Locust, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.load.contract import DROPPED_COLUMNS, REQUEST_COLUMNS, dropped_streams, request_streams
from harness.load.schedule import Stream, arrival_offset, arrivals
from harness.plan import PlanError, load_plan
from harness.result.arrivals import arrival_table
from harness.result.frames import Frames, dropped_frame, phase_frame, request_frames, tag_phases

SHOP = Path(__file__).resolve().parents[2] / "scenarios" / "shop"


def test_arrivals_are_evenly_spaced_at_the_rate() -> None:
    assert [arrival_offset(k, 200.0) for k in range(4)] == pytest.approx([0.0, 0.005, 0.010, 0.015])


def test_a_ramp_grows_the_rate_linearly_then_holds_it() -> None:
    rate, ramp = 100.0, 10.0
    during = [k for k in range(2000) if arrival_offset(k, rate, ramp) < ramp]
    assert len(during) == pytest.approx(rate * ramp / 2, abs=1)  # half the arrivals of a full-rate ramp
    first_half = [k for k in during if arrival_offset(k, rate, ramp) < ramp / 2]
    assert len(first_half) == pytest.approx(len(during) / 4, abs=1)  # rate * t^2 / (2 ramp)
    after = [arrival_offset(k, rate, ramp) for k in range(len(during), len(during) + 3)]
    assert after[1] - after[0] == pytest.approx(1 / rate)


def test_workers_split_the_rate_and_interleave() -> None:
    def first(worker: int, n: int = 50) -> list[float]:
        stream = arrivals([Stream(None, 100.0)], worker=worker, workers=2)
        return [next(stream)[0] for _ in range(n)]

    zero, one = first(0), first(1)
    assert zero[1] - zero[0] == pytest.approx(0.02) and one[0] == pytest.approx(0.01)
    assert sorted(zero + one) == pytest.approx([k / 100 for k in range(100)])


def test_task_streams_merge_in_time_order() -> None:
    merged = arrivals([Stream("search", 10.0), Stream(None, 40.0)])
    got = [next(merged) for _ in range(25)]
    assert [offset for offset, _ in got] == sorted(offset for offset, _ in got)
    assert sum(1 for _, task in got if task == "search") == 5  # 0.0 .. 0.4 s: 5 of 10/s, 20 of 40/s


def _csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text("\n".join(",".join(str(v) for v in row) for row in [header, *rows]) + "\n")
    return path


def _phases(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "phases.jsonl"
    path.write_text("".join(json.dumps({"name": n, "started": s, "ended": e, "from_version": "1.0",
                                        "to_version": "1.0"}) + "\n" for n, s, e in
                            (("baseline", 100.0, 110.0), ("upgrade", 110.0, 120.0))))
    return phase_frame(path)


def test_requests_recorded_before_intended_existed_count_as_sent_on_time(tmp_path: Path) -> None:
    old = _csv(tmp_path / "requests.csv", REQUEST_COLUMNS[:9], [[101.0, "/a", "GET", 200, 5.0, 10, "", "", 7]])
    frame = request_frames([old])
    assert list(frame["intended"]) == [101.0] and list(frame["served_by"]) == [""]


def test_every_worker_stream_is_read_in_start_order(tmp_path: Path) -> None:
    _csv(tmp_path / "requests-11.csv", REQUEST_COLUMNS, [[105.0, "/a", "GET", 200, 5.0, 1, "", "", 11, "", 104.9],
                                                         [101.0, "/a", "GET", 200, 5.0, 1, "", "", 11, "", 101.0]])
    _csv(tmp_path / "requests-12.csv", REQUEST_COLUMNS, [[103.0, "/b", "GET", 0, 9.0, 0, "E", "", 12, "", 103.0]])
    (tmp_path / "other.csv").write_text("x\n")
    frame = request_frames(request_streams(tmp_path))
    assert list(frame["start"]) == [101.0, 103.0, 105.0] and list(frame["worker"]) == [11, 12, 11]
    assert list(frame["intended"]) == [101.0, 103.0, 104.9]


def test_arrivals_per_phase_by_intended_start(tmp_path: Path) -> None:
    phases = _phases(tmp_path)
    # a request meant for the baseline but sent in the upgrade (1.5 s late) is the baseline's, and late
    requests = request_frames([_csv(tmp_path / "requests.csv", REQUEST_COLUMNS, [
        [101.0, "/a", "GET", 200, 5.0, 1, "", "", 1, "", 101.0],
        [110.5, "/a", "GET", 200, 1505.0, 1, "", "", 1, "", 109.0],
        [111.0, "/a", "GET", 0, 3.0, 0, "refused", "", 1, "", 111.0]])])
    requests.insert(1, "phase", tag_phases(requests["start"], phases))
    dropped = dropped_frame(dropped_streams(_csv(tmp_path / "dropped-1.csv", DROPPED_COLUMNS, [
        [112.0, "item", 1, "max_concurrency"], [113.0, "item", 1, "max_concurrency"]]).parent))
    dropped.insert(1, "phase", tag_phases(dropped["intended"], phases))
    frames = Frames(requests, pd.DataFrame(), pd.DataFrame(), phases, dropped=dropped)
    baseline, upgrade = arrival_table(frames, "open")
    assert (baseline.intended, baseline.sent, baseline.completed, baseline.dropped, baseline.late) == (2, 2, 2, 0, 1)
    assert baseline.max_delay_ms == pytest.approx(1500.0)
    assert (upgrade.intended, upgrade.sent, upgrade.completed, upgrade.dropped, upgrade.late) == (3, 1, 0, 2, 0)


def test_no_dropped_stream_is_an_empty_frame(tmp_path: Path) -> None:
    frame = dropped_frame(dropped_streams(tmp_path))
    assert frame.empty and list(frame.columns) == DROPPED_COLUMNS


def test_the_open_model_keys_load() -> None:
    plan = load_plan(SHOP, {"load.model": "open", "load.rate": 200, "load.rates": {"search": 20},
                            "load.ramp_s": 5, "load.workers": 2})
    options = plan.load_options
    assert (options.open, options.rate, options.rates, options.workers, options.processes) == (
        True, 200, {"search": 20.0}, 2, 2)
    assert options.total_rate == 220 and options.master_bind_host == "127.0.0.1"
    assert load_plan(SHOP).load_options.model == "closed"


@pytest.mark.parametrize(("overrides", "key", "problem"), [
    ({"load.model": "open"}, "load.model", "needs an arrival rate"),
    ({"load.model": "shut"}, "load.model", "must be one of closed, open"),
    ({"load.rate": 100}, "load.rate", "open model only"),
    ({"load.model": "open", "load.rate": -1}, "load.rate", "must be > 0"),
    ({"load.model": "open", "load.rates": {"serach": 5}}, "load.rates.serach", "did you mean 'search'"),
    ({"load.model": "open", "load.rates": {"search": "fast"}}, "load.rates.search", "requests per second"),
    ({"load.workers": 2, "load.remote_workers": 1}, "load.remote_workers", "loopback"),
    ({"load.master_port": 6000}, "load.master_port", "distributed mode only"),
])
def test_bad_load_keys_name_the_key(overrides: dict, key: str, problem: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(SHOP, overrides)
    assert key in str(caught.value) and problem in str(caught.value), str(caught.value)


def test_summary_md_says_which_model_ran_and_its_arrivals() -> None:
    from harness.records.summary import LoadSettings, PhaseArrivals
    from harness.report.markdown import render_markdown

    from .builders import summary

    closed = render_markdown(summary())
    assert "open model" not in closed and "Load:" not in closed
    workers = LoadSettings(users=40, spawn_rate=20.0, lock_sample_interval_ms=50.0, seed_rows=1000, workers=2)
    assert "Load: closed model, 40 users on 2 Locust workers." in render_markdown(summary(load=workers))
    open_load = LoadSettings(users=40, spawn_rate=20.0, lock_sample_interval_ms=50.0, seed_rows=1000, model="open",
                             rate=200.0, max_concurrency=1000)
    arrivals = [PhaseArrivals("upgrade", "open", 8580, 8115, 7785, 465, 495, 20.0, 698.75)]
    markdown = render_markdown(summary(load=open_load, arrivals=arrivals))
    assert "Load: open model, 200/s, at most 1000 in flight" in markdown
    assert "| upgrade | 8580 | 8115 | 7785 | 465 | 495 | 698.8 |" in markdown

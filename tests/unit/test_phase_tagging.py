"""frames.tag_phases and frames.phase_frame on hand-built stamps and phase streams (no run, no database)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.result.frames import AFTER_LAST_PHASE, BEFORE_FIRST_PHASE, PHASE_COLUMNS, phase_frame, tag_phases


def phases(*rows: tuple[str, float, float | None]) -> pd.DataFrame:
    """A phase frame as phase_frame returns it: name, started, ended (None: never ended), versions."""
    frame = pd.DataFrame([{"name": name, "started": started, "ended": ended, "from_version": "1.0",
                           "to_version": "1.0"} for name, started, ended in rows], columns=PHASE_COLUMNS)
    frame["started"] = frame["started"].astype("float64")
    frame["ended"] = frame["ended"].astype("float64")
    return frame


TIMELINE = phases(("calm", 100.0, 110.0), ("cutover", 110.0, 115.0), ("settle", 115.0, 130.0))


def tags(stamps: list[float], timeline: pd.DataFrame = TIMELINE) -> list[str]:
    return list(tag_phases(pd.Series(stamps, dtype="float64"), timeline))


def test_stamps_before_the_first_phase_are_warmup() -> None:
    assert BEFORE_FIRST_PHASE == "warmup"
    assert tags([0.0, 50.0, 99.999]) == ["warmup", "warmup", "warmup"]


def test_each_stamp_falls_in_its_phase() -> None:
    assert tags([100.0, 105.5, 109.999, 110.0, 112.0, 115.0, 129.0]) == [
        "calm", "calm", "calm", "cutover", "cutover", "settle", "settle"]


def test_a_phase_start_belongs_to_that_phase_and_its_end_still_to_the_last_one() -> None:
    assert tags([110.0]) == ["cutover"]
    assert tags([130.0]) == ["settle"], "the last phase's end stamp is inside it"


def test_stamps_after_the_last_ended_phase_are_teardown() -> None:
    assert AFTER_LAST_PHASE == "teardown"
    assert tags([130.001, 200.0, 1e9]) == ["teardown", "teardown", "teardown"]


def test_a_last_phase_that_never_ended_keeps_every_later_stamp() -> None:
    interrupted = phases(("calm", 100.0, 110.0), ("cutover", 110.0, None))
    assert tags([99.0, 105.0, 111.0, 500.0, 1e9], interrupted) == ["warmup", "calm", "cutover", "cutover", "cutover"]


def test_stamps_keep_their_order_and_index() -> None:
    stamps = pd.Series([200.0, 50.0, 112.0, 101.0], index=[7, 3, 9, 1], dtype="float64")
    tagged = tag_phases(stamps, TIMELINE)
    assert list(tagged.index) == [7, 3, 9, 1]
    assert list(tagged) == ["teardown", "warmup", "cutover", "calm"]


def test_no_phases_tags_everything_warmup() -> None:
    tagged = tag_phases(pd.Series([1.0, 2.0], index=[4, 5], dtype="float64"), phases())
    assert list(tagged) == ["warmup", "warmup"] and list(tagged.index) == [4, 5]


def test_no_stamps_gives_an_empty_series() -> None:
    for timeline in (TIMELINE, phases()):
        tagged = tag_phases(pd.Series([], dtype="float64"), timeline)
        assert len(tagged) == 0 and tagged.dtype == object


def test_a_single_phase_timeline() -> None:
    only = phases(("soak", 10.0, 20.0))
    assert tags([9.0, 10.0, 15.0, 20.0, 21.0], only) == ["warmup", "soak", "soak", "soak", "teardown"]


def write_stream(path: Path, *events: dict) -> Path:
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return path


def event(kind: str, name: str, started: float, ended: float | None = None,
          versions: tuple[str, str] = ("1.0", "1.0")) -> dict:
    """A phases.jsonl row as timeline.clock.PhaseClock writes it (asdict(Phase) | event)."""
    return {"name": name, "from_version": versions[0], "to_version": versions[1], "started": started,
            "ended": ended, "event": kind}


def test_phase_frame_one_row_per_phase_from_its_start_and_end_events(tmp_path: Path) -> None:
    stream = write_stream(
        tmp_path / "phases.jsonl",
        event("start", "calm", 100.0), event("end", "calm", 100.0, 110.0),
        event("start", "cutover", 110.0), event("end", "cutover", 110.0, 115.5, ("1.0", "2.0")),
    )
    frame = phase_frame(stream)
    assert list(frame.columns) == PHASE_COLUMNS
    assert frame.to_dict("records") == [
        {"name": "calm", "started": 100.0, "ended": 110.0, "from_version": "1.0", "to_version": "1.0"},
        {"name": "cutover", "started": 110.0, "ended": 115.5, "from_version": "1.0", "to_version": "2.0"},
    ]
    assert frame["started"].dtype == "float64" and frame["ended"].dtype == "float64"


def test_phase_frame_an_interrupted_phase_ends_at_its_stopped_event(tmp_path: Path) -> None:
    stream = write_stream(
        tmp_path / "phases.jsonl",
        event("start", "calm", 100.0), event("end", "calm", 100.0, 110.0),
        event("start", "cutover", 110.0), event("stopped", "cutover", 110.0, 112.25, ("1.0", "2.0")),
    )
    frame = phase_frame(stream)
    assert list(frame["name"]) == ["calm", "cutover"]
    assert frame["ended"].tolist() == [110.0, 112.25]
    assert frame["to_version"].tolist() == ["1.0", "2.0"]
    # a stamp after the stop is teardown, one before it the stopped phase
    assert list(tag_phases(pd.Series([112.0, 112.5]), frame)) == ["cutover", "teardown"]


def test_phase_frame_a_phase_killed_before_any_end_event_has_no_end(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "phases.jsonl", event("start", "calm", 100.0),
                          event("end", "calm", 100.0, 110.0), event("start", "cutover", 110.0))
    frame = phase_frame(stream)
    assert frame["ended"].iloc[0] == 110.0 and np.isnan(frame["ended"].iloc[1])
    assert list(tag_phases(pd.Series([111.0, 9e9]), frame)) == ["cutover", "cutover"]


def test_phase_frame_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = write_stream(tmp_path / "phases.jsonl", event("start", "calm", 100.0), event("end", "calm", 100.0, 110.0))
    with path.open("a", encoding="utf-8") as out:
        out.write('{"name": "cutover", "started": 11')
    assert phase_frame(path)["name"].tolist() == ["calm"]


def test_phase_frame_of_a_missing_stream_is_empty_with_its_columns(tmp_path: Path) -> None:
    frame = phase_frame(tmp_path / "phases.jsonl")
    assert frame.empty and list(frame.columns) == PHASE_COLUMNS
    assert list(tag_phases(pd.Series([1.0]), frame)) == ["warmup"]

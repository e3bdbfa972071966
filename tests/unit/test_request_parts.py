"""Requests parsed into Parquet parts while a run records them (load.request_parts): the report reads the same
frame from parts and the CSV after them as from the CSV alone, and a part the CSV no longer holds is not used."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.load.request_parts import PART_DIR, compact, parts
from harness.observe.request_parts import RequestPartsObserver
from harness.result.frames import request_frame

from .synthetic_run import write_run

PART = 256 << 10


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_run(tmp_path_factory.mktemp("parts") / "run", 40_000)
    return run / "streams" / "requests.csv"


@pytest.fixture()
def stream(recorded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "streams" / "requests.csv"
    copy.parent.mkdir()
    shutil.copy(recorded, copy)
    return copy


def _compact_all(stream: Path) -> int:
    made = 0
    while compact(stream, PART):
        made += 1
    return made


def test_parts_and_the_csv_after_them_read_as_the_csv_alone(stream: Path) -> None:
    alone = request_frame(stream)
    made = _compact_all(stream)
    assert made == stream.stat().st_size // PART and len(parts(stream)) == made
    chain = parts(stream)
    assert all(a.end == b.start for a, b in zip(chain, chain[1:], strict=False)), "no gap, no overlap"
    assert chain[-1].end < stream.stat().st_size, "the last bytes are less than a part: left to the report"
    pd.testing.assert_frame_equal(request_frame(stream), alone)


def test_rows_recorded_after_the_parts_and_a_torn_last_record_read_as_without_parts(stream: Path) -> None:
    _compact_all(stream)
    with stream.open("ab") as file:  # more rows, the last one torn inside a quoted error
        file.write(b'2000000000.5,/late,GET,200,1.0,10,,,1,1.0,2000000000.5\r\n'
                   b'2000000001.0,/late,GET,500,2.0,10,"HTTPError: half')
    with_parts = request_frame(stream)
    shutil.rmtree(stream.parent / PART_DIR)
    pd.testing.assert_frame_equal(with_parts, request_frame(stream))
    assert with_parts["name"].astype(str).eq("/late").sum() == 1


def test_a_part_the_csv_no_longer_holds_is_not_used(stream: Path) -> None:
    _compact_all(stream)
    data = bytearray(stream.read_bytes())
    at = parts(stream)[1].end - 10  # inside the second part's last bytes: the CSV was rewritten there
    data[at:at + 3] = b"9.9"
    stream.write_bytes(bytes(data))
    assert len(parts(stream)) == 1, "the chain ends before the part whose bytes changed"
    shutil.copy(stream, stream.with_name("plain.csv"))
    pd.testing.assert_frame_equal(request_frame(stream), request_frame(stream.with_name("plain.csv")))
    stream.write_bytes(bytes(data[:parts(stream)[0].end // 2]))  # truncated below the first part's end
    assert parts(stream) == []


def test_the_observer_writes_parts_of_every_requests_stream_as_they_grow(stream: Path) -> None:
    worker = stream.with_name("requests-4242.csv")
    shutil.copy(stream, worker)
    context = SimpleNamespace(reporter=lambda source: lambda message: pytest.fail(f"{source}: {message}"),
                              run=SimpleNamespace(stream=lambda name: stream.parent / name))
    observer = RequestPartsObserver(context, part_bytes=PART)  # type: ignore[arg-type]
    observer.poll()
    assert len(parts(stream)) == len(parts(worker)) == stream.stat().st_size // PART
    made = sorted(p.name for p in (stream.parent / PART_DIR).iterdir())
    observer.poll()
    assert sorted(p.name for p in (stream.parent / PART_DIR).iterdir()) == made, "nothing new: no new part"

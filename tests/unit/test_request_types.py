"""The requests frame holds millions of rows: its integers and text codes are read as narrow as they fit, widened
when a value does not, and a closed-model run's intended start (the start itself) is one array with the start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.load import request_csv
from harness.result.frames import request_frame

HEADER = "start,name,method,status,latency_ms,bytes,error,sqlstate,worker,served_by,intended\n"


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def test_narrow_integers_and_codes_and_one_array_for_a_closed_models_intended_start(tmp_path: Path) -> None:
    rows = [f"{100 + i * 0.5:.6f},/items/{i % 3},GET,200,1.5,{i},,,4100,1.0,{100 + i * 0.5:.6f}" for i in range(50)]
    frame = request_frame(_write(tmp_path / "requests.csv", rows[25:] + rows[:25]))  # written as they ended
    assert frame["start"].is_monotonic_increasing and frame["bytes"].tolist() == list(range(50))
    assert (frame["status"].dtype, frame["bytes"].dtype, frame["worker"].dtype) == ("int16", "int32", "int32")
    assert frame["name"].cat.codes.dtype == "int8"
    assert np.shares_memory(frame["start"].to_numpy(), frame["intended"].to_numpy())
    assert frame["intended"].tolist() == frame["start"].tolist()


def test_a_value_wider_than_its_narrow_type_widens_the_column_and_keeps_the_rows_read_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_csv, "READ_BLOCK_BYTES", 4 << 10)  # ranges of a few lines: the wide value comes late
    monkeypatch.setattr(request_csv, "PARSE_BLOCK_BYTES", 1 << 10)
    rows = [f"{100 + i:.6f},/e{i},POST,201,2.0,{i},,,{4100 + i},,{99.5 + i:.6f}" for i in range(300)]
    rows[-1] = rows[-1].replace(",299,,,4399,", f",{5 * 10**9},,,4399,")  # a 5 GB body: no int32 holds it
    frame = request_frame(_write(tmp_path / "requests.csv", rows))
    assert frame["bytes"].dtype == "int64" and frame["bytes"].tolist() == [*range(299), 5 * 10**9]
    assert frame["name"].nunique() == 300 and frame["name"].cat.codes.dtype == "int16"  # more than int8 codes
    assert frame["name"].tolist() == [f"/e{i}" for i in range(300)]
    # an open model's intended starts differ from the starts: a column of their own
    assert not np.shares_memory(frame["start"].to_numpy(), frame["intended"].to_numpy())
    assert frame["intended"].tolist() == [99.5 + i for i in range(300)]

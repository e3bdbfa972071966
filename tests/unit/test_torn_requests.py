"""A recorder killed mid-write (a Locust SIGKILLed, a disk that filled up) can leave requests.csv ending inside
a quoted error message; the report still reads every whole record before it (`rehearse report` of such a run)."""

from __future__ import annotations

import csv
from pathlib import Path

from harness.load.contract import REQUEST_COLUMNS
from harness.result.frames import request_frame


def test_a_record_torn_inside_a_quoted_error_is_dropped_and_the_rest_read(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(REQUEST_COLUMNS)
        writer.writerow([1.5, "/a", "GET", 200, 3.0, 10, "", "", 1, "1.0"])
        writer.writerow([1.6, "/b", "GET", 0, 4.0, 0, "ConnectionError: refused,\nreset", "", 1, ""])
        out.write('1.7,/b,GET,0,5.0,0,"ConnectionError: HTTPConnectionPool(host=\'127.0.0.1\', port=1): Max')
    frame = request_frame(path)
    assert frame["start"].tolist() == [1.5, 1.6]
    assert frame["error"].notna().tolist() == [False, True]
    assert frame["error"].iloc[1] == "ConnectionError: refused,\nreset"
    assert frame["served_by"].tolist() == ["1.0", ""]


def test_a_record_torn_outside_quotes_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(",".join(REQUEST_COLUMNS) + "\r\n1.5,/a,GET,200,3.0,10,,,1,\r\n1.6,/b,GE")
    assert request_frame(path)["start"].tolist() == [1.5, 1.6]

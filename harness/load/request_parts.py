"""Requests parsed while they are recorded: Parquet parts of a requests stream's whole records, so the report of
a long rehearsal reads most of its millions of rows as Parquet and parses only the CSV written since the last
part (parsing the CSV is most of what a report of hours of soak costs).

A part is streams/parsed/<stream>.<start>-<end>.parquet: the records in bytes [start, end) of the CSV, as
load.request_csv parses them. It is a cache, never the record: the CSV stays the stream of record, and a part
counts only while the CSV still holds the bytes it was parsed from (the file reaches `end`, its header is the
part's, and the bytes before `end` are those the part kept). Otherwise the report parses the CSV.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harness.core.streams import whole_csv_records
from harness.load import request_csv

PART_DIR = "parsed"
PART_BYTES = 32 << 20  # new whole records make a part once there are this many bytes of them
CHECK_BYTES = 4096  # the bytes before a part's end it keeps, to know the CSV still holds them
FORMAT = 1  # of a part's metadata and columns; a part of another format is not used
META_KEY = b"rehearse.part"


@dataclass(frozen=True)
class Part:
    """One part: the records of bytes [start, end) of `stream`, parsed into the Parquet file `path`."""

    path: Path
    stream: Path
    start: int
    end: int


def part_directory(stream: Path) -> Path:
    return stream.parent / PART_DIR


def parts(stream: Path) -> list[Part]:
    """The parts of `stream` that still hold, in order, from its first record on without a gap; the first one
    that does not hold ends the chain."""
    try:
        header, first = request_csv.header(stream), request_csv.header_end(stream)
        files = sorted(part_directory(stream).glob(f"{stream.name}.*-*.parquet"))
    except OSError:
        return []
    found: dict[int, tuple[Part, dict]] = {}
    for path in files:
        try:
            meta = json.loads(pq.read_schema(path).metadata[META_KEY])
        except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
            continue
        if meta.get("format") == FORMAT and meta.get("header") == header:
            found[int(meta["start"])] = (Part(path, stream, int(meta["start"]), int(meta["end"])), meta)
    chain, at = [], first
    with open(stream, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        while at in found:
            part, meta = found[at]
            if part.end > size:
                break
            file.seek(max(part.start, part.end - CHECK_BYTES))
            if file.read(part.end - file.tell()).hex() != meta.get("tail"):
                break
            chain.append(part)
            at = part.end
    return chain


def tables(stream: Path) -> Iterator[pa.Table]:
    """Every record of `stream` as typed tables in file order: the parts that hold, then the CSV after them,
    parsed a range at a time. A part that cannot be read: the CSV from where it starts."""
    header = request_csv.header(stream)
    convert = request_csv.convert_options(header)
    offset = None
    for part in parts(stream):
        try:
            table = pq.read_table(part.path)
        except (OSError, pa.ArrowException):
            break
        if table.schema.names != header:
            break
        yield table
        offset = part.end
    for data in request_csv.line_ranges(stream, offset):
        yield request_csv.parse(data, header, convert)


def compact(stream: Path, part_bytes: int = PART_BYTES) -> Part | None:
    """Parse the next `part_bytes` or so of whole records of `stream` after its last part into a new part; None
    while fewer are written (a part is never made of less: a short run reads its CSV as it is)."""
    chain = parts(stream)
    start = chain[-1].end if chain else request_csv.header_end(stream)
    with open(stream, "rb") as file:
        file.seek(start)
        data = file.read(part_bytes)
    end = start + _whole_records(data)
    if len(data) < part_bytes or end == start:
        return None
    data = data[:end - start]
    header = request_csv.header(stream)
    table = request_csv.parse(data, header, request_csv.convert_options(header))
    meta = {"format": FORMAT, "header": header, "start": start, "end": end, "tail": data[-CHECK_BYTES:].hex()}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    directory = part_directory(stream)
    directory.mkdir(exist_ok=True)
    path = directory / f"{stream.name}.{start:012d}-{end:012d}.parquet"
    temp = directory / f".{path.name}.tmp"
    pq.write_table(table, temp, compression="lz4")
    temp.replace(path)
    return Part(path, stream, start, end)


def _whole_records(data: bytes) -> int:
    """The length of the prefix of `data` made of whole records: to its last newline when the quotes before it
    pair up (nothing is torn inside a quoted value), else as core.streams counts them."""
    last = data.rfind(b"\n") + 1
    return last if data.count(b'"', 0, last) % 2 == 0 else whole_csv_records(data)

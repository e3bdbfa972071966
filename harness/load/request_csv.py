"""The requests stream's CSV as typed Arrow tables: the columns the harness knows, typed as they are parsed (text
as dictionaries), a range of whole records at a time. The one parser of requests.csv: the report's reader
(result.frames) and the parts parsed while a run records (load.request_parts) both use it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from harness.core.streams import whole_csv_records

REQUEST_TEXT = ("name", "method", "error", "sqlstate", "served_by")  # few distinct values: categoricals
REQUEST_INTEGERS = ("status", "bytes", "worker")
REQUEST_FLOATS = ("start", "latency_ms", "intended")
READ_BLOCK_BYTES = 16 << 20  # a range of lines parsed at a time
PARSE_BLOCK_BYTES = 4 << 20  # the blocks pyarrow parses in parallel within a range


def header(path: Path) -> list[str]:
    """The column names of a CSV file's header line."""
    with open(path, newline="", encoding="utf-8", errors="replace") as file:
        return next(csv.reader(file), [])


def convert_options(header: list[str]) -> pacsv.ConvertOptions:
    """The known columns of `header` typed: floats, integers, text as dictionaries; empty text is "", not null."""
    types: dict[str, pa.DataType] = {c: pa.float64() for c in REQUEST_FLOATS}
    types |= {c: pa.int64() for c in REQUEST_INTEGERS} | {c: pa.dictionary(pa.int32(), pa.string())
                                                           for c in REQUEST_TEXT}
    return pacsv.ConvertOptions(column_types={c: t for c, t in types.items() if c in header},
                                strings_can_be_null=False, quoted_strings_can_be_null=False)


def parse(data: bytes, header: list[str], convert: pacsv.ConvertOptions) -> pa.Table:
    """One range of lines. Parsed first as if no quoted value held a line break (the quicker way); when lines
    had to be skipped, again allowing them (a value broken over two lines is two short lines the first time).
    A line that still has fewer fields than the header (a torn last line, a recorder that wrote fewer columns)
    is kept, its missing fields empty, as pandas reads it: the range is read by pandas then."""
    skipped: list[pacsv.InvalidRow] = []

    def skip(row: pacsv.InvalidRow) -> str:
        skipped.append(row)
        return "skip"

    for newlines in (False, True):
        skipped.clear()
        table = pacsv.read_csv(pa.py_buffer(data),
                               read_options=pacsv.ReadOptions(column_names=header, block_size=PARSE_BLOCK_BYTES),
                               parse_options=pacsv.ParseOptions(invalid_row_handler=skip, newlines_in_values=newlines),
                               convert_options=convert)
        if not skipped or b'"' not in data:
            break
    if any(row.actual_columns < row.expected_columns for row in skipped):
        return _padded(data, header, table.schema)
    return table


def _padded(data: bytes, header: list[str], schema: pa.Schema) -> pa.Table:
    """A range read by pandas (a short line's missing fields are missing values; a long line is dropped), as
    the table pyarrow would have given."""
    frame = pd.read_csv(io.BytesIO(data), names=header, header=None, on_bad_lines="skip", keep_default_na=False,
                        dtype=str)
    arrays = []
    for field_ in schema:
        values = frame[field_.name]
        if field_.name in REQUEST_FLOATS or field_.name in REQUEST_INTEGERS:
            arrays.append(pa.array(pd.to_numeric(values, errors="coerce").astype("float64"), from_pandas=True)
                          .cast(field_.type, safe=False))
        elif field_.name in REQUEST_TEXT:
            arrays.append(pa.array(values.astype(object), type=pa.string(), from_pandas=True).dictionary_encode())
        else:
            arrays.append(pa.array(values.astype(object), type=pa.string(), from_pandas=True).cast(field_.type))
    return pa.Table.from_arrays(arrays, names=header)


def line_ranges(path: Path, offset: int | None = None) -> Iterator[bytes]:
    """The rows of a CSV file after its header (or from byte `offset`, where a record starts),
    READ_BLOCK_BYTES or so at a time, each ending at the end of a line that is outside a quoted value (RFC 4180:
    a quote inside one is doubled, so an odd count of quotes so far means one is open)."""
    with open(path, "rb") as file:
        if offset is None:
            file.readline()
        else:
            file.seek(offset)
        while data := file.read(READ_BLOCK_BYTES):
            parts = [data, file.readline()]
            quotes = data.count(b'"') + parts[1].count(b'"')
            while quotes % 2 and (line := file.readline()):
                parts.append(line)
                quotes += line.count(b'"')
            data = b"".join(parts)
            # a recorder killed mid-write tore its last record inside a quoted error: that record is dropped
            yield data if quotes % 2 == 0 else data[:whole_csv_records(data)]


def header_end(path: Path) -> int:
    """The byte offset of a CSV file's first record (after its header line)."""
    with open(path, "rb") as file:
        file.readline()
        return file.tell()

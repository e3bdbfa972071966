"""Requests grouped by columns in one pass, for frames of millions of rows: integer codes per column (a
categorical's own, or pandas.factorize's), one stable sort of the combined code, and the rows of each group
as positions. The figures of a group are computed on its rows alone, never on a filtered copy of the frame."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd


def codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of a column (-1: missing) and the value of each code."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), list(values.cat.categories)
    found, uniques = pd.factorize(values, use_na_sentinel=True)
    return found, list(uniques)


Rows = slice | np.ndarray  # a run of consecutive rows (a slice: no copy), or positions in ascending order


def positions(rows: Rows) -> np.ndarray:
    return np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows


def select(rows: Rows, mask: np.ndarray) -> Rows:
    """The rows of `rows` where `mask` (one flag per row of the frame) holds."""
    if isinstance(rows, slice):
        flags = mask[rows]
        if flags.all():
            return rows
        found = np.flatnonzero(flags)
        found += rows.start
        return found
    return rows[mask[rows]]


def split(codes: np.ndarray) -> list[tuple[int, Rows]]:
    """(code, its rows) of each code that has rows, in the order of the codes: slices when the codes never
    decrease in frame order (a frame sorted by time, its phase column), else positions. Missing (-1): left out."""
    if not len(codes):
        return []
    if bool((codes[1:] >= codes[:-1]).all()):
        bounds = [0, *(np.flatnonzero(codes[1:] != codes[:-1]) + 1).tolist(), len(codes)]
        return [(int(codes[a]), slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if codes[a] >= 0]
    return [(key[0], found) for key, found in group_rows([codes])]


def group_rows(keys: list[np.ndarray], rows: Rows | None = None) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """(the codes of each key, the positions of its rows in frame order) of every group of `rows` (default
    every row) that has a row, groups in the order of their codes. A row with a missing key (-1) is in no
    group."""
    parts = keys if rows is None else [k[rows] for k in keys]
    if not len(parts[0]):
        return
    sizes = [int(p.max()) + 1 for p in parts]
    small = int(np.prod(sizes, dtype="float64")) < 2**15  # numpy's stable sort of 16-bit integers is a radix sort
    combined = np.zeros(len(parts[0]), dtype="int16" if small else "int64")
    missing = None
    for part, size in zip(parts, sizes, strict=True):
        combined *= size
        combined += part
        if part.min() < 0:
            missing = part < 0 if missing is None else missing | (part < 0)
    if missing is not None:
        combined[missing] = -1
    order = np.argsort(combined, kind="stable")
    ordered = combined[order]
    bounds = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    for chunk in np.split(order, bounds):
        if missing is not None and missing[chunk[0]]:
            continue
        found = chunk if rows is None else chunk + rows.start if isinstance(rows, slice) else rows[chunk]
        yield tuple(int(p[chunk[0]]) for p in parts), found

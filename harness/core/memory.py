"""Giving freed memory back to the system between the report's stages.

A report of millions of rows frees hundreds of MB of temporaries; glibc keeps freed heap memory (below its
mmap threshold) for the process and Arrow's pool keeps its own, so the resident size only grows. Handing both
back after each stage keeps a stage's peak from stacking on the previous stage's garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any

import pyarrow as pa


def give_back() -> None:
    """Return the memory freed so far to the system (Arrow's pool; glibc's heap where the C library is glibc)."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], Any] | None:
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None

"""The hook a locustfile uses to report writes the service acknowledged (runs inside Locust, under gevent).

    from harness.load.acknowledge import acknowledge

    with self.client.post("/orders", json=order, catch_response=True) as response:
        if response.status_code == 201:
            acknowledge("orders", response.json()["id"])

Each call appends one JSON line {at, table, key} to streams/acknowledged.jsonl. After the rollback the harness
looks for every acknowledged key in the table (plan: [rollback] acknowledged = { table, key, url }), through
the database and through the service's API. Outside a rehearsal (no REHEARSE_ACKNOWLEDGED_FILE) it does nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from harness.load.contract import ACKNOWLEDGED_FILE_ENV  # noqa: E402

_file: TextIO | None = None


def acknowledge(table: str, key: Any) -> None:
    """Record that the service acknowledged the write of `key` (an id, a natural key) into `table`."""
    global _file
    if _file is None:
        path = os.environ.get(ACKNOWLEDGED_FILE_ENV)
        if not path:
            return
        _file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - one file for the process's life
    _file.write(json.dumps({"at": time.time(), "table": table, "key": str(key)}) + "\n")
    _file.flush()

"""Contention injectors rehearse the lock-queue trap: a DDL waits behind an old transaction, traffic queues
behind the DDL, and the report blames the DDL for the requests and names the old transaction as the root."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.plan import PlanError, load_plan

from .conftest import REPO
from .leftovers import processes_of
from .test_rehearsal_e2e import SMALL

CONTENTION = """
[[contention]]
kind = "idle_in_transaction"
table = "orders"
phase = "upgrade"
seconds = 3
"""


@pytest.fixture()
def shop_with_contention(tmp_path: Path) -> Path:
    scenario = tmp_path / "shop"
    shutil.copytree(REPO / "scenarios" / "shop", scenario, ignore=shutil.ignore_patterns("__pycache__"))
    plan = scenario / "rehearsal.toml"
    plan.write_text(plan.read_text() + CONTENTION)
    return scenario


def test_contention_entries_are_validated(shop_with_contention: Path) -> None:
    plan = load_plan(shop_with_contention)
    assert [(c.kind, c.table, c.phase, c.seconds) for c in plan.contention] == [
        ("idle_in_transaction", "orders", "upgrade", 3.0)]
    with pytest.raises(PlanError, match=r"contention\[0\].kind: must be one of"):
        load_plan(shop_with_contention, {"contention": [{"kind": "nap", "table": "orders"}]})


@pytest.mark.slow
def test_idle_transaction_makes_the_ddl_and_all_traffic_queue(shop_with_contention: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    small = list(SMALL)
    small[small.index("seed.rows=200000")] = "seed.rows=50000"
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(shop_with_contention), "--out", str(out),
                             *small], capture_output=True, text=True, timeout=240)
    assert result.returncode == 1, result.stderr
    (run_dir,) = out.iterdir()
    assert processes_of(run_dir.name) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    (injected,) = summary["contention"]
    assert injected["kind"] == "idle_in_transaction" and injected["error"] is None
    assert injected["ended"] - injected["started"] >= 2.9
    add_column = next(s for s in summary["statements"] if s["sql"] == "ALTER TABLE orders ADD COLUMN currency text")
    assert add_column["waited_ms"] > 2000, "the DDL itself waited behind the idle transaction"
    assert add_column["blocked_backends"] >= 1 and add_column["blocked_requests"] >= 1
    assert summary["top_offenders"][0]["sql"] == add_column["sql"]
    locks = pd.read_parquet(run_dir / "locks.parquet")
    # the upgrade's DDL: in the rollback a down-migration may also queue briefly behind the service's queries
    ddl_waits = locks[(locks["application_name"] == "rehearse-migrate") & (locks["phase"] == "upgrade")]
    assert set(ddl_waits["root_application"]) == {"rehearse-contention"}
    assert set(ddl_waits["root_state"]) == {"idle in transaction"}
    queued = locks[(locks["root_application"] == "rehearse-contention") & (locks["chain_depth"] >= 2)]
    assert queued["application_name"].str.startswith("shop-").any(), "requests queued behind the waiting DDL"

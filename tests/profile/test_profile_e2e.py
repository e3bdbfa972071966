"""End to end: the shop rehearsed for real with load.profile set to the profile of the committed access log; the
load's mix matches the profile's.

"Within 5%" is read both ways and both must hold: every endpoint's achieved share is within 5 percentage points
of its profile share (|achieved - profile| <= 0.05), and every endpoint with at least 5% of the profile is
within 5% of its share, relative (|achieved - profile| / profile <= 0.05)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.records.summary import contract_problems

from ..conftest import REPO
from ..leftovers import processes_of

LOG = Path(__file__).with_name("shop_access.log")
VALUES = ('{ "GET /products" = { query = ["limit=20&offset={offset}"], offset = { min = 0, max = 80 } }, '
          'id = { min = 1, max = 100 }, "GET /orders/{id}" = { id = { min = 1, max = 20000 } }, '
          '"POST /orders" = { customer = { min = 1, max = 100 }, product = { min = 1, max = 100 } } }')
SHORT = ["--env", "local", "--set", "seed.rows=20000", "--set", "phases.baseline_s=3",
         "--set", "phases.post_upgrade_s=3", "--set", "phases.post_rollback_s=3",
         "--set", "load.users=20", "--set", "load.spawn_rate=20"]


@pytest.mark.slow
def test_a_rehearsal_with_a_profile_reproduces_its_mix(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    assert main(["profile", str(LOG), "-o", str(profile)]) == 0
    out = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios/shop", "--out", str(out), *SHORT,
                             "--set", f"load.profile={profile}", "--set", "load.locustfile=profile_locustfile.py",
                             "--set", f"load.profile_values={VALUES}"],
                            cwd=REPO, capture_output=True, text=True, timeout=240)
    (run_dir,) = out.iterdir()
    assert result.returncode in (0, 1), result.stderr  # the verdict is the upgrade's business, not the mix's
    assert processes_of(run_dir.name) == []
    summary = json.loads((run_dir / "summary.json").read_text())
    assert contract_problems(summary) == []
    mix = summary["profile_mix"]
    assert mix["profile"] == str(profile) and mix["requests"] > 500
    for row in mix["endpoints"]:
        assert row["profile_share"] > 0, f"{row['endpoint']}: sent, but not in the profile"
        assert abs(row["achieved_share"] - row["profile_share"]) <= 0.05, row
        if row["profile_share"] >= 0.05:
            assert abs(row["relative_difference"]) <= 0.05, row
    assert mix["max_relative_difference"] <= 0.05
    assert "## Traffic mix against the profile" in (run_dir / "summary.md").read_text()
    requests = pd.read_csv(run_dir / "streams" / "requests.csv")
    assert set(requests["name"]) == {"/products", "/products/{id}", "/orders/{id}", "/search",
                                     "/customers/{id}/orders", "/orders", "/health"}, "named by the template"
    assert summary["rollback"]["acknowledged"][0]["acknowledged"] > 0, "the locustfile's own order handler ran"
    baseline = next(p for p in summary["phases"] if p["name"] == "baseline")
    assert baseline["errors"] == 0, "every template filled with values the shop serves"

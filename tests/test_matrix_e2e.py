"""End to end: `rehearse matrix` on the shop demo, 2.0 (one ACCESS EXCLUSIVE transaction, a rollback that drops
what 2.0 wrote) against 2.1 (the same feature with lock_timeout, batches, expand/contract), short phases and
small data; then `rehearse compare` and the --baseline judgement on the two run directories it left."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import _against_baseline, main
from harness.compare.judge import Thresholds
from harness.compare.runs import load_run

from .conftest import REPO
from .leftovers import processes_of

SHORT = ["--env", "local", "--set", "seed.rows=100000", "--set", "phases.baseline_s=2",
         "--set", "phases.post_upgrade_s=2", "--set", "phases.post_rollback_s=2",
         "--set", "observe.lock_sample_interval_ms=20", "--set", "load.users=10", "--set", "load.spawn_rate=20"]
VERSION_KEYS = {"version", "p99_ms_upgrade", "errors_upgrade", "max_lock_wait_ms", "downtime_s", "rollback_safe",
                "run_dir"}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("matrix")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "matrix", "scenarios/shop", "--to", "2.0",
                             "--to", "2.1", "--out", str(out), *SHORT], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    return result, out


@pytest.mark.slow
def test_the_matrix_finds_2_1_better_in_the_upgrade_and_best(matrix) -> None:
    result, out = matrix
    assert result.returncode == 0, result.stderr
    comparison = json.loads((out / "comparison.json").read_text())
    assert {"versions", "best", "tests"} <= set(comparison)
    v20, v21 = comparison["versions"]
    assert set(v20) >= VERSION_KEYS and (v20["version"], v21["version"]) == ("2.0", "2.1")
    assert v21["p99_ms_upgrade"] < v20["p99_ms_upgrade"], "2.0 holds ACCESS EXCLUSIVE on orders through its backfill"
    assert v21["max_lock_wait_ms"] < v20["max_lock_wait_ms"]
    assert v20["rollback_safe"] is False and "destroyed" in v20["rollback_why"] and v21["rollback_safe"] is True
    assert comparison["best"] == "2.1"
    tests = {t["test"].split(" (")[0]: t for t in comparison["tests"]}
    assert {"p99 latency per second", "error rate", "lock wait total"} <= set(tests)
    assert all(t["a"] == "2.0" and t["b"] == "2.1" and t["phase"] == "upgrade" for t in comparison["tests"])
    assert tests["lock wait total"]["b_value"] < tests["lock wait total"]["a_value"]
    page = (out / "comparison.html").read_text()
    assert "<table>" in page and not re.search(r"(src|href)=", page), "self-contained: nothing fetched"
    assert "best: 2.1" in (out / "comparison.md").read_text()
    assert f"comparison: {out / 'comparison.md'}" in result.stdout
    for run_dir in (v20["run_dir"], v21["run_dir"]):
        assert Path(run_dir).parent == out and (Path(run_dir) / "summary.json").exists()
        assert processes_of(Path(run_dir).name) == []


@pytest.mark.slow
def test_compare_and_baseline_call_2_0_worse_than_2_1(matrix, tmp_path: Path) -> None:
    _, out = matrix
    v20, v21 = (Path(v["run_dir"]) for v in json.loads((out / "comparison.json").read_text())["versions"])
    report = tmp_path / "compare.json"
    assert main(["compare", str(v21), str(v20), "--json", str(report)]) == 1
    (comparison,) = json.loads(report.read_text())["comparisons"]
    assert comparison["verdict"] == "worse"
    assert any(r.startswith("rollback: safe -> unsafe") for r in comparison["reasons"])
    assert main(["compare", str(v20), str(v21)]) == 0
    # rehearse run --baseline: the judgement made after the run, on these two runs
    assert _against_baseline(load_run(v21), v20, 0, Thresholds()) == 1
    assert _against_baseline(load_run(v20), v21, 0, Thresholds()) == 0
    assert "against A 2.0" in (v21 / "baseline.md").read_text()
    assert _against_baseline(load_run(v21), v20, 3, Thresholds()) == 3, "a run cut short keeps its code"

"""compare.judge and compare.matrix on run directories built from synthetic streams (nothing rehearsed): a
summary.json from the records' builders, requests.parquet and locks.parquet drawn from known distributions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.compare.judge import Thresholds, compare_runs
from harness.compare.matrix import compare_versions
from harness.compare.runs import ALL_ENDPOINTS, load_run
from harness.records.run import RollbackReason, RollbackResult
from harness.records.summary import LockWaits, WaitFigures, to_json
from tests.unit.builders import phase_figures, statement_figures, summary

T0 = 1_700_000_000.0
PHASES = (("baseline", 30), ("upgrade", 30), ("post_upgrade", 30))
ENDPOINTS = ("/orders", "/products")


def run_dir(path: Path, version: str = "2.0", seed: int = 1, *, upgrade_ms: float = 20.0, error_rate: float = 0.0,
            rollback_safe: bool = True, lock_max_ms: float = 0.0, downtime_s: float = 0.5,
            noise: dict[str, Any] | None = None) -> Path:
    """A run directory: three phases of 30 s, 20 requests a second on two endpoints, latencies lognormal around
    20 ms (`upgrade_ms` in the upgrade phase), `error_rate` of the upgrade's requests failed; `noise` adds
    requests that must be left out (warmup, a check window) with huge latencies."""
    rng = np.random.default_rng(seed)
    rows, phases, started = [], [], T0
    for name, seconds in PHASES:
        median = upgrade_ms if name == "upgrade" else 20.0
        start = started + rng.uniform(0, seconds, 20 * seconds)
        failed = rng.uniform(size=len(start)) < (error_rate if name == "upgrade" else 0.0)
        rows.append(pd.DataFrame({"start": start, "phase": name, "name": rng.choice(ENDPOINTS, len(start)),
                                  "latency_ms": rng.lognormal(np.log(median), 0.3, len(start)),
                                  "error": np.where(failed, "HTTP 500", None), "in_check": False}))
        phases.append(phase_figures(name, p99_ms=median * 2, started=started, duration_s=seconds,
                                    to_version=version, requests=20 * seconds, errors=int(failed.sum())))
        started += seconds
    for phase, in_check in (noise or {}).items():  # outside the figures: latencies that would make anything worse
        rows.append(pd.DataFrame({"start": T0 - 5 if phase == "warmup" else T0 + 31, "phase": phase,
                                  "name": "/orders", "latency_ms": np.full(400, 90_000.0), "error": "HTTP 503",
                                  "in_check": in_check}))
    requests = pd.concat(rows, ignore_index=True).sort_values("start")
    path.mkdir(parents=True)
    requests.to_parquet(path / "requests.parquet", index=False)
    waiting = np.linspace(0.0, lock_max_ms / 1000, 20)
    pd.DataFrame({"sampled_at": T0 + 30 + np.arange(20) * 0.1, "phase": "upgrade",
                  "waiting_s": waiting}).to_parquet(path / "locks.parquet", index=False)
    rollback = RollbackResult(safe=rollback_safe, checked=True, phase="rollback", reasons=[] if rollback_safe else [
        RollbackReason("data_destroyed", "the rollback destroyed data the upgrade wrote: column orders.currency")])
    statements = [statement_figures(1, "ALTER TABLE orders ADD COLUMN currency text", max_wait_ms=lock_max_ms)]
    total = float(waiting.sum() * 1000)
    record = summary(to_version=version, phases=phases, statements=statements, downtime_s=downtime_s,
                     rollback=rollback, lock_waits=LockWaits(count=20 if lock_max_ms else 0, max_ms=lock_max_ms,
                                                             total_ms=total, longest_chain=[]),
                     waits=[WaitFigures("upgrade", "all", "all", 20 if lock_max_ms else 0, lock_max_ms, total)])
    (path / "summary.json").write_text(json.dumps(to_json(record)))
    return path


def test_two_runs_of_the_same_distributions_are_the_same(tmp_path: Path) -> None:
    comparison = compare_runs(load_run(run_dir(tmp_path / "a", seed=1)), load_run(run_dir(tmp_path / "b", seed=2)))
    assert comparison.verdict == "same", comparison.reasons
    assert {(r.phase, r.endpoint) for r in comparison.rows} == {
        (p, e) for p, _ in PHASES for e in (ALL_ENDPOINTS, *ENDPOINTS)}
    upgrade = next(r for r in comparison.rows if r.phase == "upgrade" and r.endpoint == ALL_ENDPOINTS)
    assert upgrade.p99.seconds_a == 30 and upgrade.p99.p_value is not None and upgrade.p99.p_value > 0.01
    assert [c.call for c in comparison.checks] == ["same"] * 4


def test_a_slower_upgrade_is_worse_with_its_p_value_and_effect(tmp_path: Path) -> None:
    a = load_run(run_dir(tmp_path / "a", "2.1", seed=1))
    b = load_run(run_dir(tmp_path / "b", "2.0", seed=2, upgrade_ms=60.0))
    comparison = compare_runs(a, b)
    assert comparison.verdict == "worse"
    upgrade = next(r for r in comparison.rows if r.phase == "upgrade" and r.endpoint == ALL_ENDPOINTS)
    assert upgrade.call == "worse" and upgrade.p99.call == "worse" and upgrade.p50.call == "worse"
    assert upgrade.p99.p_value is not None and upgrade.p99.p_value < 1e-6 and upgrade.p99.effect == pytest.approx(1.0)
    assert upgrade.p99.ratio == pytest.approx(3.0, rel=0.2)
    assert any(reason.startswith("upgrade (all): p99") for reason in comparison.reasons)
    baseline = next(r for r in comparison.rows if r.phase == "baseline" and r.endpoint == ALL_ENDPOINTS)
    assert baseline.call == "same", "the phases that did not change are not called"
    assert compare_runs(b, a).verdict == "better", "the other way round"


def test_a_higher_error_rate_is_worse_by_fishers_exact_test(tmp_path: Path) -> None:
    a = load_run(run_dir(tmp_path / "a", seed=1, error_rate=0.01))
    b = load_run(run_dir(tmp_path / "b", seed=2, error_rate=0.10))
    comparison = compare_runs(a, b)
    upgrade = next(r for r in comparison.rows if r.phase == "upgrade" and r.endpoint == ALL_ENDPOINTS)
    assert upgrade.errors.call == "worse" and upgrade.errors.p_value is not None and upgrade.errors.p_value < 1e-6
    assert upgrade.p99.call == "same" and comparison.verdict == "worse"


def test_a_rollback_no_longer_safe_is_worse_and_says_why(tmp_path: Path) -> None:
    comparison = compare_runs(load_run(run_dir(tmp_path / "a", seed=1)),
                              load_run(run_dir(tmp_path / "b", seed=2, rollback_safe=False)))
    rollback = next(c for c in comparison.checks if c.name == "rollback")
    assert (rollback.a, rollback.b, rollback.call) == ("safe", "unsafe", "worse")
    assert "destroyed data" in rollback.detail and comparison.verdict == "worse"


def test_lock_waits_are_judged_by_their_thresholds(tmp_path: Path) -> None:
    a = load_run(run_dir(tmp_path / "a", seed=1, lock_max_ms=100.0))
    b = load_run(run_dir(tmp_path / "b", seed=2, lock_max_ms=1500.0))
    checks = {c.name: c.call for c in compare_runs(a, b).checks}
    assert checks["longest lock wait"] == "worse" and checks["lock wait total"] == "worse"
    relaxed = compare_runs(a, b, Thresholds(lock_wait_ms=2000.0, lock_wait_total_ms=20_000.0))
    assert relaxed.verdict == "same", relaxed.reasons
    test = next(t for t in relaxed.lock_tests if t.phase == "upgrade")
    assert test.max_ms_b == 1500.0 and test.shift.seconds_a == 31, "every second of the phase, waits or none"


def test_requests_of_warmup_and_check_windows_are_left_out(tmp_path: Path) -> None:
    a = load_run(run_dir(tmp_path / "a", seed=1))
    b = load_run(run_dir(tmp_path / "b", seed=2, noise={"warmup": False, "baseline": True}))
    assert len(b.requests) == len(a.requests)
    assert compare_runs(a, b).verdict == "same"


def test_the_cli_exits_1_when_a_later_run_is_worse_and_writes_json_and_markdown(tmp_path: Path, capsys) -> None:
    first = run_dir(tmp_path / "a", "2.1", seed=1)
    same = run_dir(tmp_path / "b", "2.1", seed=2)
    slow = run_dir(tmp_path / "c", "2.0", seed=3, upgrade_ms=60.0)
    assert main(["compare", str(first), str(same)]) == 0
    out, report = tmp_path / "out.json", tmp_path / "out.md"
    assert main(["compare", str(first), str(same), str(slow), "--json", str(out), "--md", str(report)]) == 1
    data = json.loads(out.read_text())
    assert data["verdict"] == "worse"
    assert [c["verdict"] for c in data["comparisons"]] == ["same", "worse"], "each later run against the first"
    assert data["comparisons"][1]["b_dir"] == str(slow.resolve())
    assert "| upgrade | (all) |" in report.read_text()
    printed = capsys.readouterr().out
    assert "verdict: WORSE (upgrade (all): p99" in printed and "thresholds: alpha 0.01" in printed
    assert main(["compare", str(first), str(slow), "--min-ratio", "4"]) == 0, "a threefold shift under a ratio of 4"


def test_the_cli_names_a_directory_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    first = run_dir(tmp_path / "a", seed=1)
    assert main(["compare", str(first), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rehearse: {tmp_path}: not a run directory (no summary.json: give reports/<run id> of a finished "
                   "rehearsal, or rebuild it with rehearse report)"]
    assert main(["compare", str(first), str(first), "--alpha", "2"]) == 2
    assert capsys.readouterr().err.strip() == "rehearse: --alpha: must be between 0 and 1, got 2"
    assert main(["run", "scenarios/shop", "--baseline", str(tmp_path)]) == 2, "checked before the run starts"


def test_the_best_version_rolls_back_safely_then_has_the_lowest_upgrade_p99(tmp_path: Path) -> None:
    unsafe_fast = load_run(run_dir(tmp_path / "a", "2.0", seed=1, upgrade_ms=15.0, rollback_safe=False))
    safe_slow = load_run(run_dir(tmp_path / "b", "2.1", seed=2, upgrade_ms=40.0))
    safe_slower = load_run(run_dir(tmp_path / "c", "2.2", seed=3, upgrade_ms=80.0))
    matrix = compare_versions([unsafe_fast, safe_slow, safe_slower])
    assert matrix.best == "2.1" and "not safe: 2.0" in matrix.best_reason
    assert [v.version for v in matrix.versions] == ["2.0", "2.1", "2.2"]
    assert [v.p99_ms_upgrade for v in matrix.versions] == [30.0, 80.0, 160.0]
    pairs = {(t.a, t.b) for t in matrix.tests}
    assert pairs == {("2.0", "2.1"), ("2.0", "2.2"), ("2.1", "2.2")}
    p99 = next(t for t in matrix.tests if (t.a, t.b) == ("2.1", "2.2") and t.test.startswith("p99"))
    assert p99.call == "worse" and p99.p_value is not None and p99.p_value < 1e-6
    assert compare_versions([unsafe_fast]).best is None

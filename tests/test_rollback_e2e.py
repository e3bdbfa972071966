"""End to end: the login service rehearsed for real, where everything the rollback check looks for goes wrong
once (tests/scenarios/login_service), and the verdict names each with its figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.records.summary import contract_problems

from .conftest import REPO
from .leftovers import postgres_temp_dirs, processes_of

SCENARIO = REPO / "tests" / "scenarios" / "login_service"


@pytest.fixture(scope="module")
def login_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    scenario = tmp_path_factory.mktemp("scenario") / "login_service"
    shutil.copytree(SCENARIO, scenario)  # the run writes the scenario's settings and flags files
    out = tmp_path_factory.mktemp("reports")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=240)
    (run_dir,) = out.iterdir()
    assert processes_of(run_dir.name) == [] and postgres_temp_dirs(run_dir.name) == []
    return result, run_dir, scenario


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_every_failed_check_is_a_reason_with_figures(login_run) -> None:
    result, run_dir, _ = login_run
    summary = _summary(run_dir)
    assert contract_problems(summary) == [], result.stderr
    rollback = summary["rollback"]
    assert rollback["checked"] and not rollback["safe"]
    reasons = {r["check"]: r for r in rollback["reasons"]}
    assert set(reasons) == {"data_destroyed", "rows_lost", "acknowledged_writes_lost", "config_not_back",
                            "flags_not_back", "old_version_fails"}, reasons
    (destroyed,) = rollback["destroyed"]
    assert destroyed["name"] == "public.users.signup_source" and destroyed["lost"] > 10
    assert set(destroyed["values"]) == {"web", "mobile"} and sum(destroyed["values"].values()) == destroyed["lost"]
    (ack,) = rollback["acknowledged"]
    assert ack["lost_in_database"] == ack["lost_through_api"] > 0
    assert ack["checked_through_api"] == ack["checked_in_database"] == ack["acknowledged"]
    assert ack["lost_by_phase"]["post_upgrade"] >= 0.9 * ack["by_phase"]["post_upgrade"], \
        "the users 2.0 signed up are the ones purged"
    assert "baseline" not in ack["lost_by_phase"]
    assert any('"hash_scheme": "v2"' in line for line in rollback["config_diff"])
    assert rollback["flags_diff"] == ["flag new_login: was false before the upgrade, true after the rollback"]
    (flag,) = summary["flags"]
    assert flag["name"] == "new_login" and flag["seen_after_s"] is not None, "the probe saw the flag"


@pytest.mark.slow
def test_the_old_version_fails_on_hashes_the_new_one_re_encoded(login_run) -> None:
    _, run_dir, _ = login_run
    (regression,) = _summary(run_dir)["rollback"]["regressions"]
    assert regression["name"] == "/login" and regression["phase"] == "post_rollback"
    assert regression["error_rate"] > 0.5 and regression["baseline_errors"] == 0
    assert regression["bodies"] and "unknown password scheme 'v2'" in regression["bodies"][0]
    assert '"password": "***"' in regression["bodies"][0], "secrets in error bodies are masked"
    assert "pw-" not in (run_dir / "streams" / "error_bodies.jsonl").read_text()


@pytest.mark.slow
def test_mixed_versions_errors_per_version_and_endpoint(login_run) -> None:
    _, run_dir, _ = login_run
    rows = {(v["phase"], v["version"], v["name"]): v for v in _summary(run_dir)["versions"]}
    beside = rows[("rollback", "2.0", "/users")]
    # 2.0 starts beside 1.0 just before the revert: the few sign-ups it serves before the schema goes back succeed
    assert beside["requests"] > 0 and beside["error_rate"] >= 0.8, "2.0 on the rolled-back schema cannot sign up"
    assert rows[("rollback", "1.0", "/users")]["errors"] == 0, "1.0 on the same schema can"
    assert rows[("post_upgrade", "2.0", "/users")]["errors"] == 0
    md = (run_dir / "summary.md").read_text()
    assert "Mixed versions" in md and "Why not:" in md


@pytest.mark.slow
def test_re_upgrade_is_clean_and_check_windows_leave_the_figures(login_run) -> None:
    _, run_dir, scenario = login_run
    summary = _summary(run_dir)
    reupgrade = summary["rollback"]["reupgrade"]
    assert reupgrade == {"phase": "reupgrade", "clean": True, "errors": [], "schema_differences": []}
    windows = {w["name"] for w in summary["check_windows"]}
    assert windows == {"before_upgrade", "after_upgrade", "before_rollback", "after_rollback", "after_reupgrade"}
    assert summary["rollback"]["check_seconds"] > 0
    assert sum(p["excluded_requests"] for p in summary["phases"]) > 0
    assert json.loads((scenario / "flags.json").read_text()) == {"new_login": False}, "flags file put back"
    assert json.loads((scenario / "settings.json").read_text()) == {"hash_scheme": "sha256"}

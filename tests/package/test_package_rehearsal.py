"""A rehearsal run from the demo's packages (1.0 -> 2.1): the quarantine is applied before anything of them
runs and reverted after, the stub gets the webhooks, the cleanup steps run and are checked, and summary.json
and summary.md show it all."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.package.source import open_package, unpack_to
from harness.records.summary import contract_problems

from ..conftest import REPO
from ..leftovers import postgres_temp_dirs, processes_of

SMALL = ["--env", "local", "--set", "seed.rows=50000", "--set", "phases.baseline_s=2", "--set",
         "phases.post_upgrade_s=3", "--set", "phases.post_rollback_s=2", "--set", "load.users=20",
         "--set", "load.spawn_rate=20", "--set", "observe.lock_sample_interval_ms=50"]


@pytest.fixture(scope="module")
def package_run(demo_packages: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("reports")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios/shop", "--from",
                             str(demo_packages["1.0"]), "--to", str(demo_packages["2.1"]), "--out", str(out), *SMALL],
                            cwd=REPO, capture_output=True, text=True, timeout=240)
    (run_dir,) = out.iterdir()
    assert processes_of(run_dir.name) == [], "a process of the run outlived it"
    assert postgres_temp_dirs(run_dir.name) == []
    return result, run_dir


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_the_quarantine_is_applied_first_and_reverted_after(package_run) -> None:
    result, run_dir = package_run
    assert result.returncode in (0, 1), result.stderr
    summary = _summary(run_dir)
    assert contract_problems(summary) == []
    assert [(p["version"], p["kind"], p["blocking"]) for p in summary["packages"]] == [("1.0", "zip", 0),
                                                                                       ("2.1", "zip", 0)]
    first = summary["actions"][0]
    assert (first["phase"], first["name"], first["status"]) == ("setup", "quarantine", "ok")
    assert "stub at http://127.0.0.1:" in first["message"]
    by_release = {(q["release"], q["kind"]) for q in summary["quarantine"]}
    for kind in ("disable_cron", "disable_timer", "redirect_endpoint", "replace_credential", "route_proxies"):
        assert ("2.1", kind) in by_release, kind
    assert ("1.0", "disable_timer") in by_release
    assert all(q["status"] == "applied" and q["reverted"] for q in summary["quarantine"])
    targets = {q["target"] for q in summary["quarantine"] if q["release"] == "2.1"}
    assert {"service.env ORDER_WEBHOOK_URL", "cron/shop-reports:4", "systemd/shop-maintenance.timer:5"} <= targets


@pytest.mark.slow
def test_the_copies_are_back_as_the_packages_hold_them(package_run, demo_packages: dict[str, Path],
                                                        tmp_path: Path) -> None:
    _, run_dir = package_run
    for version in ("1.0", "2.1"):
        fresh = unpack_to(open_package(demo_packages[version]), tmp_path / version)
        copy = run_dir / "packages" / version
        files = sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
        assert all((fresh / f).read_bytes() == (copy / f).read_bytes() for f in files), version


@pytest.mark.slow
def test_the_webhooks_reached_the_stub_and_nothing_else(package_run) -> None:
    _, run_dir = package_run
    summary = _summary(run_dir)
    (traffic,) = summary["stub_traffic"]
    assert traffic["host"] == "hooks.partner-payments.com" and traffic["requests"] > 0
    assert traffic["methods"] == {"POST": traffic["requests"]} and traffic["paths"] == ["/v1/shop/orders"]
    log = (run_dir / "logs").glob("service-2.1-*.log")
    assert not any("order webhook failed" in p.read_text() for p in log), "every webhook got an answer"


@pytest.mark.slow
def test_the_cleanup_steps_ran_after_the_swap_and_were_checked(package_run) -> None:
    _, run_dir = package_run
    summary = _summary(run_dir)
    cleanup = [(c["name"], c["kind"], c["phase"], c["status"], c["check_passed"]) for c in summary["cleanup"]]
    assert cleanup == [("order_currency flag on", "feature_flag", "upgrade", "ok", True),
                       ("migration-progress webhook removed", "webhook", "upgrade", "ok", True),
                       ("backfill login revoked", "credential", "upgrade", "ok", True)]
    names = [(a["phase"], a["name"]) for a in summary["actions"]]
    assert names.index(("upgrade", "cleanup")) == names.index(("upgrade", "swap")) + 1
    assert next(g for g in summary["gates"] if g["metric"] == "cleanup_failures")["passed"]
    registered = [s for s in summary["statements"] if "INSERT INTO webhooks" in s["sql"]]
    assert registered and "hooks.partner-payments.com" in registered[0]["sql"]
    assert "http://127.0.0.1:" in registered[0]["sql"], "the migration registered the stub, not the partner"


@pytest.mark.slow
def test_the_report_lists_the_quarantine_and_the_cleanup(package_run) -> None:
    _, run_dir = package_run
    md = (run_dir / "summary.md").read_text()
    assert "## Packages" in md and "Quarantine applied for the rehearsal" in md
    assert "| 2.1 | disable_timer | `systemd/shop-maintenance.timer:5` |" in md
    assert "`hooks.partner-payments.com`:" in md and "Post-upgrade cleanup:" in md
    assert "| 2.1 | upgrade | backfill login revoked | credential |" in md


@pytest.mark.slow
def test_no_password_of_the_package_or_the_rehearsal_is_recorded(package_run) -> None:
    _, run_dir = package_run
    for path in run_dir.rglob("*"):
        if path.is_file() and "packages" not in path.relative_to(run_dir).parts:
            data = path.read_bytes()
            assert b"shop-backfill-2024-q3" not in data and b"PASSWORD 'rehearsal-" not in data, path
    created = [s["sql"] for s in _summary(run_dir)["statements"] if s["sql"].startswith("CREATE ROLE")]
    assert created == ["CREATE ROLE shop_backfill LOGIN PASSWORD '***'"]


@pytest.mark.slow
def test_report_rebuilds_the_package_figures(package_run, tmp_path: Path) -> None:
    _, run_dir = package_run
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    before = _summary(copy)
    (copy / "summary.json").unlink()
    rebuilt = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(copy)], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == before["exit_code"], rebuilt.stderr
    after = _summary(copy)
    for key in ("packages", "quarantine", "stub_traffic", "cleanup", "gates"):
        assert after[key] == before[key], key


@pytest.mark.slow
def test_a_package_the_quarantine_cannot_neutralize_never_starts(tmp_path: Path) -> None:
    """An endpoint inside a binary cannot be redirected: the run stops in its setup stage (exit 2), before the
    set-up migrations and any service start, and leaves nothing behind."""
    source = REPO / "scenarios" / "shop" / "releases" / "2.0"
    package = shutil.copytree(source, tmp_path / "2.0", ignore=shutil.ignore_patterns("__pycache__"))
    (package / "bin").mkdir()
    (package / "bin" / "agent").write_bytes(b"\x7fELF\x00" + b"https://telemetry.vendor-cloud.io/v1/ping\x00")
    out = tmp_path / "reports"
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios/shop", "--to", str(package),
                             "--out", str(out), *SMALL], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "could not neutralize" in result.stderr and "telemetry.vendor-cloud.io" in result.stderr
    assert "Traceback" not in result.stderr
    (run_dir,) = out.iterdir()
    assert processes_of(run_dir.name) == [] and postgres_temp_dirs(run_dir.name) == []
    assert not list((run_dir / "logs").glob("service-*.log")), "no service was started"

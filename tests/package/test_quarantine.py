"""The quarantine applied to a copy of a crafted package, and reverted; the local stub; what cannot be
neutralized stops the rehearsal."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from harness.core.errors import PackageError
from harness.package.quarantine import DISABLED, Quarantine, plan
from harness.package.scanners import scan
from harness.package.source import open_package
from harness.package.stub import Stub, StubRequest

from . import crafted
from .conftest import package_dir

PORT = 4242


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    return crafted.current(tmp_path / "pkg")


def _quarantine(root: Path) -> Quarantine:
    manifest = open_package(root).manifest
    return Quarantine(root, manifest, scan(root, manifest))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_plan_lists_one_action_per_finding_it_handles(copy: Path) -> None:
    manifest = open_package(copy).manifest
    kinds = sorted(c.kind for c in plan(scan(copy, manifest)))
    assert kinds == ["disable_cron", "disable_timer", "redirect_endpoint", "redirect_endpoint", "redirect_endpoint",
                     "replace_credential", "replace_credential", "replace_credential", "replace_credential"]


def test_apply_neutralizes_the_copy_and_revert_restores_it_byte_for_byte(copy: Path) -> None:
    before = _snapshot(copy)
    guard = _quarantine(copy)
    changes = guard.apply(PORT)
    assert {c.status for c in changes} == {"applied"}
    cron = (copy / "cron.d/vendor-report").read_text().splitlines()
    assert cron[2].startswith(DISABLED) and cron[1] == "MAILTO=ops"
    timer = (copy / "systemd/vendor-purge.timer").read_text()
    assert f"{DISABLED}OnCalendar=hourly" in timer and f"{DISABLED}WantedBy=timers.target" in timer
    report = (copy / "bin/report.sh").read_text()
    assert f"http://127.0.0.1:{PORT}/api.partner-payments.com/v1/notify?token=abc" in report
    assert "198.51.100.7" in report, "documentation addresses stay"
    config = (copy / "config/vendor.ini").read_text()
    for secret in (crafted.AWS_KEY_ID, crafted.AWS_SECRET, crafted.DSN_PASSWORD):
        assert secret not in config
    assert "access_key_id = AKIA" in config and "@127.0.0.1:4242/vendor" in config and "10.20.30.40" not in config
    fresh = (copy / "keys/deploy.pem").read_text()
    assert fresh != before["keys/deploy.pem"].decode()
    serialization.load_pem_private_key(fresh.encode(), None)  # a usable key of the same kind
    assert guard.residue() == []
    assert all(secret not in str(changes) for secret in (crafted.AWS_SECRET, crafted.DSN_PASSWORD))
    assert guard.revert() == []
    assert _snapshot(copy) == before
    assert (copy / "bin/report.sh").stat().st_mode & 0o111, "modes are restored too"


def test_the_service_environment_is_quarantined_and_routed_through_the_stub(copy: Path) -> None:
    guard = _quarantine(copy)
    guard.apply(PORT)
    env, command, changes = guard.service(
        {"NOTIFY_URL": crafted.EXTERNAL, "DB": f"postgresql://vendor:{crafted.DSN_PASSWORD}@db.prod.internal/x",
         "LOCAL": "http://127.0.0.1:9/ok"}, ["app", "--upstream=https://cdn.vendor-cloud.io/x"], PORT)
    assert env["NOTIFY_URL"] == f"http://127.0.0.1:{PORT}/api.partner-payments.com/v1/notify"
    assert crafted.DSN_PASSWORD not in env["DB"] and "@127.0.0.1:4242/x" in env["DB"]
    assert env["LOCAL"] == "http://127.0.0.1:9/ok"
    assert env["HTTPS_PROXY"] == f"http://127.0.0.1:{PORT}" and "127.0.0.1" in env["NO_PROXY"]
    assert command == ["app", f"--upstream=http://127.0.0.1:{PORT}/cdn.vendor-cloud.io/x"]
    assert {c.kind for c in changes} == {"redirect_endpoint", "replace_credential", "route_proxies"}
    assert crafted.DSN_PASSWORD not in str(changes)
    guard.revert()


def test_an_endpoint_in_a_binary_cannot_be_neutralized(tmp_path: Path) -> None:
    root = package_dir(tmp_path / "pkg", {"app.py": "print(1)\n"})
    (root / "bin").mkdir()
    (root / "bin" / "agent").write_bytes(b"\x7fELF\x00\x00" + b"https://telemetry.vendor-cloud.io/v1\x00" * 2)
    hits = scan(root, open_package(root).manifest)
    (finding,) = [h.finding for h in hits if h.finding.kind == "external endpoint"]
    assert finding.blocking and "binary" in finding.message
    guard = Quarantine(root, open_package(root).manifest, hits)
    with pytest.raises(PackageError, match="could not neutralize.*telemetry.vendor-cloud.io"):
        guard.apply(PORT)


def test_the_stub_answers_on_loopback_and_reports_the_host_meant(tmp_path: Path) -> None:
    seen: list[StubRequest] = []
    stub = Stub(seen.append)
    url = stub.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(f"{url}/hooks.partner-payments.com/v1/orders?secret=1", data=b"{}",
                                         method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
    finally:
        stub.close()
    assert [(r.method, r.host, r.path) for r in seen] == [("POST", "hooks.partner-payments.com", "/v1/orders")]


def test_a_copy_is_never_the_source(tmp_path: Path, copy: Path) -> None:
    """The quarantine acts on the run's copy: the source directory is untouched (the run unpacks first)."""
    source = shutil.copytree(copy, tmp_path / "source")
    before = _snapshot(source)
    guard = _quarantine(copy)
    guard.apply(PORT)
    assert _snapshot(source) == before
    guard.revert()

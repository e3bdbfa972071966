"""`rehearse package build/sign` and `rehearse preflight`: exit 0 clean, 1 blocking findings, 2 unusable input;
the demo's packages pass; --json never holds a secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO
from . import crafted
from .conftest import manifest, regular, write_zip
from .pki import Vendor, write_key, write_pem


def _rehearse(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def vendor_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A vendor after its CA rotation (signing with G2), and an operator who still trusts only G1."""
    vendor = Vendor.make()
    out = tmp_path_factory.mktemp("pki")
    signer = vendor.signer(2)
    return {"key": write_key(out / "signer.key", signer.key), "cert": write_pem(out / "signer.pem", signer.cert),
            "chain": write_pem(out / "intermediates.pem", vendor.issuing_g2.cert),
            "old_roots": write_pem(out / "roots-g1.pem", vendor.root_g1.cert),
            "new_roots": write_pem(out / "roots.pem", vendor.root_g1.cert, vendor.root_g2.cert),
            "cross": write_pem(out / "g2-cross-signed.pem", vendor.cross_g2.cert)}


def test_the_demo_packages_build_sign_and_pass_preflight(tmp_path: Path, vendor_files: dict[str, Path]) -> None:
    zips = {}
    for version in ("1.0", "2.1"):
        zips[version] = tmp_path / f"shop-{version}.zip"
        built = _rehearse("package", "build", f"scenarios/shop/releases/{version}", "-o", zips[version])
        assert built.returncode == 0 and f"shop {version}" in built.stdout, built.stderr
    signed = _rehearse("package", "sign", zips["2.1"], "--key", vendor_files["key"], "--cert", vendor_files["cert"],
                       "--chain", vendor_files["chain"])
    assert signed.returncode == 0 and "shop-2.1.zip.sig" in signed.stdout, signed.stderr
    result = _rehearse("preflight", zips["2.1"], "--trust-store", vendor_files["new_roots"], "--previous", zips["1.0"])
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "signature: VALID: signed by 'Vendor Code Signing G2'" in out and "'Vendor Root CA G2' (trust store)" in out
    assert "shop-reindex.timer of the previous package is now shop-maintenance.timer" in out
    for kind in ("disable_cron", "disable_timer", "redirect_endpoint", "replace_credential"):
        assert kind in out.split("quarantine plan")[1], kind
    assert "shop-backfill-2024-q3" not in out, "the demo's hard-coded password is masked"
    assert "preflight: PASS" in out


def test_after_a_rotation_the_chain_option_or_its_absence(tmp_path: Path, vendor_files: dict[str, Path]) -> None:
    package = tmp_path / "shop-2.0.zip"
    assert _rehearse("package", "build", "scenarios/shop/releases/2.0", "-o", package).returncode == 0
    assert _rehearse("package", "sign", package, "--key", vendor_files["key"], "--cert", vendor_files["cert"],
                     "--chain", vendor_files["chain"]).returncode == 0
    failing = _rehearse("preflight", package, "--trust-store", vendor_files["old_roots"], "--json")
    assert failing.returncode == 1
    report = json.loads(failing.stdout)
    assert report["signature"]["problem"] == "unknown_root" and report["blocking"] == 1
    assert "issued by 'Vendor Root CA G2'" in report["signature"]["message"]
    assert "CA rotation" in report["signature"]["message"]
    crossed = _rehearse("preflight", package, "--trust-store", vendor_files["old_roots"], "--chain",
                        vendor_files["cross"], "--json")
    assert crossed.returncode == 0, crossed.stdout
    path = json.loads(crossed.stdout)["signature"]["path"]
    assert [(c["subject"], c["source"]) for c in path] == [
        ("Vendor Code Signing G2", "signature"), ("Vendor Issuing CA G2", "signature"),
        ("Vendor Root CA G2", "--chain"), ("Vendor Root CA G1", "trust store")]


def test_tampering_after_signing_blocks(tmp_path: Path, vendor_files: dict[str, Path]) -> None:
    package = tmp_path / "shop-1.0.zip"
    _rehearse("package", "build", "scenarios/shop/releases/1.0", "-o", package)
    _rehearse("package", "sign", package, "--key", vendor_files["key"], "--cert", vendor_files["cert"],
              "--chain", vendor_files["chain"])
    with open(package, "ab") as appended:
        appended.write(b"\0")
    result = _rehearse("preflight", package, "--trust-store", vendor_files["new_roots"])
    assert result.returncode == 1 and "tampered content" in result.stdout and "BLOCKED" in result.stdout


def test_a_crafted_package_blocks_and_its_json_holds_no_secret(tmp_path: Path) -> None:
    now, before = crafted.current(tmp_path / "2.0"), crafted.previous(tmp_path / "1.0")
    result = _rehearse("preflight", now, "--previous", before, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    kinds = {f["kind"] for f in report["findings"]}
    assert {"cron entry", "systemd timer", "renamed unit", "stale unit name", "external endpoint",
            "credential"} <= kinds
    assert [f["kind"] for f in report["findings"] if f["blocking"]] == ["stale unit name"]
    for secret in (crafted.AWS_KEY_ID, crafted.AWS_SECRET, crafted.DSN_PASSWORD):
        assert secret not in result.stdout


def test_unsafe_archives_block_and_unusable_input_is_exit_2(tmp_path: Path) -> None:
    slip = write_zip(tmp_path / "slip.zip", [regular("manifest.toml", manifest()),
                                              regular("../../etc/cron.d/evil", "* * * * * root sh\n")])
    result = _rehearse("preflight", slip)
    assert result.returncode == 1 and "unsafe archive: path traversal" in result.stdout
    junk = tmp_path / "junk.zip"
    junk.write_text("not a zip")
    bad = _rehearse("preflight", junk)
    assert bad.returncode == 2 and "not a zip archive" in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1
    no_manifest = write_zip(tmp_path / "bare.zip", [regular("app.py", "print(1)\n")])
    missing = _rehearse("preflight", no_manifest)
    assert missing.returncode == 2 and "no manifest.toml" in missing.stderr
    bad_key = _rehearse("package", "sign", slip, "--key", junk, "--cert", junk)
    assert bad_key.returncode == 2 and "--key" in bad_key.stderr

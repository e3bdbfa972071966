"""Detached signatures: signed by a test CA, signed after a CA rotation (new root trusted, cross-signed
certificate by --chain, and neither), tampered, expired, not yet valid, wrong key usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.core.errors import PackageError
from harness.package import signing
from harness.package.build import build

from .conftest import package_dir
from .pki import DAY, NOW, Vendor, issue


@pytest.fixture(scope="module")
def vendor() -> Vendor:
    return Vendor.make()


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    return build(package_dir(tmp_path / "src", {"app.py": "print('hello')\n"}), tmp_path / "crafted-1.0.zip").path


def test_a_package_signed_by_the_test_ca_verifies_and_names_its_path(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.ok and result.problem is None, result.message
    assert [c.subject for c in result.path] == ["Vendor Code Signing G1", "Vendor Issuing CA G1", "Vendor Root CA G1"]
    assert [c.source for c in result.path[1:]] == ["signature", "trust store"]
    assert result.message.startswith("signed by 'Vendor Code Signing G1' at ")


def test_after_a_rotation_the_new_root_in_the_trust_store_validates(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(2)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g2.cert])
    result = signing.verify(package, [vendor.root_g1.cert, vendor.root_g2.cert])
    assert result.ok, result.message
    assert result.path_text() == ("'Vendor Code Signing G2' <- 'Vendor Issuing CA G2' issued by 'Vendor Root CA G2' "
                                  "(from signature) <- 'Vendor Root CA G2' (trust store)")


def test_after_a_rotation_a_cross_signed_certificate_by_chain_validates(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(2)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g2.cert])
    result = signing.verify(package, [vendor.root_g1.cert], extra=[vendor.cross_g2.cert])
    assert result.ok, result.message
    assert [(c.subject, c.issuer, c.source) for c in result.path[2:]] == [
        ("Vendor Root CA G2", "Vendor Root CA G1", "--chain"), ("Vendor Root CA G1", "Vendor Root CA G1",
                                                                 "trust store")]
    assert "'Vendor Root CA G2' issued by 'Vendor Root CA G1' (from --chain)" in result.message


def test_after_a_rotation_without_the_new_chain_it_fails_naming_the_issuer(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(2)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g2.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert not result.ok and result.problem == "unknown_root"
    assert "issued by 'Vendor Root CA G2'" in result.message
    assert "'Vendor Issuing CA G2' (from signature)" in result.message
    assert "it holds 'Vendor Root CA G1'" in result.message
    assert "CA rotation" in result.message and "--chain" in result.message and "--trust-store" in result.message


def test_tampered_content_is_named(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert])
    data = bytearray(package.read_bytes())
    data[-30] ^= 0x01
    package.write_bytes(bytes(data))
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "tampered" and "tampered content" in result.message and "sha256" in result.message


def test_a_tampered_signature_file_is_named(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1)
    sig = signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert])
    envelope = json.loads(sig.read_text())
    other = vendor.signer(1)
    envelope["certificate"] = other.cert.public_bytes(signing.serialization.Encoding.PEM).decode()
    sig.write_text(json.dumps(envelope))
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "tampered" and "does not verify with the key of its certificate" in result.message


def test_an_expired_signer_is_named_with_its_dates(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1, not_before=NOW - 60 * DAY, not_after=NOW - 10 * DAY)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "expired"
    assert "the signer certificate 'Vendor Code Signing G1' expired on" in result.message
    assert "before the package was signed" in result.message


def test_a_signature_made_while_valid_outlives_the_certificate(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1, not_before=NOW - 60 * DAY, not_after=NOW - 10 * DAY)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert], at=NOW - 20 * DAY)
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.ok, result.message
    assert "has expired since" in result.message


def test_a_not_yet_valid_signer_is_named(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1, not_before=NOW + 10 * DAY, not_after=NOW + 100 * DAY)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "not_yet_valid" and "is valid only from" in result.message


def test_a_signing_time_in_the_future_is_refused(vendor: Vendor, package: Path) -> None:
    signer = vendor.signer(1)
    signing.sign(package, signer.key, signer.cert, [vendor.issuing_g1.cert], at=NOW + 2 * DAY)
    assert signing.verify(package, [vendor.root_g1.cert]).problem == "invalid"


def test_wrong_key_usage_is_named(vendor: Vendor, package: Path) -> None:
    tls = vendor.signer(1, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    signing.sign(package, tls.key, tls.cert, [vendor.issuing_g1.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "wrong_key_usage"
    assert "is for TLS server authentication, not code signing" in result.message
    no_signature = vendor.signer(1, digital_signature=False)
    signing.sign(package, no_signature.key, no_signature.cert, [vendor.issuing_g1.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "wrong_key_usage" and "does not allow digital signatures" in result.message


def test_an_unsigned_package_and_a_key_that_is_not_the_certificates(vendor: Vendor, package: Path) -> None:
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.problem == "unsigned" and "crafted-1.0.zip.sig does not exist" in result.message
    with pytest.raises(PackageError, match="is not for this key"):
        signing.sign(package, vendor.signer(1).key, vendor.signer(1).cert)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_rsa_and_ed25519_signers_verify(vendor: Vendor, package: Path, kind: str) -> None:
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ed25519.Ed25519PrivateKey.generate()
    cert = issue("Vendor Code Signing G1", vendor.issuing_g1, ca=False, key=key).cert  # type: ignore[arg-type]
    signing.sign(package, key, cert, [vendor.issuing_g1.cert])
    result = signing.verify(package, [vendor.root_g1.cert])
    assert result.ok, result.message

"""Test certificate authorities, made with cryptography: roots, intermediates, cross-signed roots, signers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@dataclass
class Issued:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def name(self) -> str:
        return self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value  # type: ignore[return-value]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Vendor Test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def issue(common: str, issuer: Issued | None, ca: bool, key: ec.EllipticCurvePrivateKey | None = None,
          eku: list[x509.ObjectIdentifier] | None = None, not_before: dt.datetime | None = None,
          not_after: dt.datetime | None = None, digital_signature: bool = True) -> Issued:
    """A certificate for `common` (self-signed when `issuer` is None), with its key (new unless given)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer.key if issuer else key
    builder = (x509.CertificateBuilder().subject_name(_name(common))
               .issuer_name(issuer.cert.subject if issuer else _name(common)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - 30 * DAY).not_valid_after(not_after or NOW + 365 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=digital_signature and not ca, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()),
                              critical=False))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.CODE_SIGNING]),
                                        critical=False)
    return Issued(key, builder.sign(signer_key, hashes.SHA256()))


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@dataclass
class Vendor:
    """A vendor that rotated its CA: G1 (the root operators trust) and G2 (the new root, also cross-signed by
    G1), each with an issuing CA; signers under each."""

    root_g1: Issued
    issuing_g1: Issued
    root_g2: Issued
    cross_g2: Issued  # G2's name and key, issued by G1
    issuing_g2: Issued

    @classmethod
    def make(cls) -> Vendor:
        root_g1 = issue("Vendor Root CA G1", None, ca=True, not_before=NOW - 900 * DAY, not_after=NOW + 900 * DAY)
        root_g2 = issue("Vendor Root CA G2", None, ca=True, not_before=NOW - 90 * DAY, not_after=NOW + 3000 * DAY)
        cross = issue("Vendor Root CA G2", root_g1, ca=True, key=root_g2.key, not_before=NOW - 90 * DAY,
                      not_after=NOW + 800 * DAY)
        return cls(root_g1, issue("Vendor Issuing CA G1", root_g1, ca=True, not_before=NOW - 800 * DAY),
                   root_g2, cross, issue("Vendor Issuing CA G2", root_g2, ca=True, not_before=NOW - 90 * DAY))

    def signer(self, generation: int = 1, **kwargs: object) -> Issued:
        issuing = self.issuing_g1 if generation == 1 else self.issuing_g2
        return issue(f"Vendor Code Signing G{generation}", issuing, ca=False, **kwargs)  # type: ignore[arg-type]

"""Detached package signatures: sign the exact bytes of a zip, and verify them with the signer certificate's
path validated by cryptography's X.509 verification (code-signing use, validity at signing time).

The signature is FILE.zip.sig, a JSON envelope: a signed statement (format, package name, size, SHA-256 of
the zip's bytes, signing time) in base64, the signature over that statement, the signer certificate and the
intermediates the signer supplied. Verification checks the signature with the certificate's key, the digest
against the file, then the certificate's path from the trust store's roots, with any extra certificates
(`--chain`: a cross-signed certificate, a vendor's chain from an advisory) as intermediates. It says which
path validated, and why not when it does not, in words an operator can act on.

The signing time is the signer's claim (there is no timestamp authority): it is covered by the signature,
must not lie in the future, and is the time at which every certificate of the path must be valid.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError

from harness.core.errors import PackageError
from harness.package.build import sha256_of

FORMAT = "rehearse-package-signature/1"
SUFFIX = ".sig"
CLOCK_SKEW = dt.timedelta(minutes=5)
ROTATION_HINT = ("A CA rotation by the vendor is the usual cause: add the vendor's new root to the trust store "
                 "(--trust-store), or pass the cross-signed certificate or the chain from the vendor's advisory "
                 "with --chain.")
Problem = Literal["unsigned", "invalid", "tampered", "unknown_root", "expired", "not_yet_valid", "wrong_key_usage",
                  "untrusted"]
Source = Literal["signature", "--chain", "trust store"]
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
EKU_NAMES = {ExtendedKeyUsageOID.SERVER_AUTH: "TLS server authentication",
             ExtendedKeyUsageOID.CLIENT_AUTH: "TLS client authentication",
             ExtendedKeyUsageOID.EMAIL_PROTECTION: "e-mail protection",
             ExtendedKeyUsageOID.TIME_STAMPING: "time stamping", ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP signing",
             ExtendedKeyUsageOID.CODE_SIGNING: "code signing"}


@dataclass(frozen=True)
class PathCert:
    """One certificate of a validated path, and where it came from."""

    subject: str
    issuer: str
    source: Source
    not_after: str

    def describe(self) -> str:
        if self.source == "trust store":
            return f"'{self.subject}' (trust store)"
        issued = f" issued by '{self.issuer}'" if self.issuer != self.subject else ""
        return f"'{self.subject}'{issued} (from {self.source})"


@dataclass
class Verification:
    ok: bool
    problem: Problem | None
    message: str  # the verdict in an operator's words
    signer: str | None = None
    signed_at: str | None = None
    path: list[PathCert] = field(default_factory=list)  # leaf first, root last (when ok)

    def path_text(self) -> str:
        return " <- ".join(c.describe() if i else f"'{c.subject}'" for i, c in enumerate(self.path))


def signature_path(package: Path) -> Path:
    return package.with_name(package.name + SUFFIX)


def load_certificates(path: Path, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM (or DER) file; PackageError naming `what` (the option) when unusable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackageError(path, what, exc.strerror or str(exc)) from None
    try:
        pem = b"-----BEGIN" in data
        certs = x509.load_pem_x509_certificates(data) if pem else [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise PackageError(path, what, f"not a PEM or DER certificate file ({exc})") from None
    if not certs:
        raise PackageError(path, what, "holds no certificate")
    return certs


def load_key(path: Path, password: bytes | None = None) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password)
    except OSError as exc:
        raise PackageError(path, "--key", exc.strerror or str(exc)) from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PackageError(path, "--key", f"not a usable PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise PackageError(path, "--key", f"{type(key).__name__} keys are not supported (RSA, EC or Ed25519)")
    return key


def sign(package: Path, key: SigningKey, cert: x509.Certificate, chain: Sequence[x509.Certificate] = (),
         at: dt.datetime | None = None) -> Path:
    """Write PACKAGE.sig, a detached signature over the package's exact bytes; returns its path."""
    if cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise PackageError(package, "--cert", f"the certificate '{_name(cert.subject)}' is not for this key")
    signed_at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    statement = _canonical({"format": FORMAT, "package": package.name, "size": package.stat().st_size,
                            "sha256": sha256_of(package), "signed_at": signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    algorithm, signature = _sign(key, statement)
    pem = serialization.Encoding.PEM
    envelope = {"format": FORMAT, "statement": base64.b64encode(statement).decode(), "algorithm": algorithm,
                "signature": base64.b64encode(signature).decode(), "certificate": cert.public_bytes(pem).decode(),
                "chain": [c.public_bytes(pem).decode() for c in chain]}
    out = signature_path(package)
    out.write_text(json.dumps(envelope, indent=2) + "\n")
    return out


def verify(package: Path, roots: Sequence[x509.Certificate], extra: Sequence[x509.Certificate] = (),
           now: dt.datetime | None = None) -> Verification:
    """The verdict on PACKAGE.sig: signature, content, and the signer's path to one of `roots`."""
    now = now or dt.datetime.now(dt.UTC)
    sig = signature_path(package)
    if not sig.is_file():
        return Verification(False, "unsigned", f"the package is not signed: {sig.name} does not exist "
                            "(rehearse package sign)")
    try:
        envelope = json.loads(sig.read_text())
        if envelope.get("format") != FORMAT:
            raise ValueError(f"format {envelope.get('format')!r}, expected {FORMAT}")
        statement = base64.b64decode(envelope["statement"], validate=True)
        signature = base64.b64decode(envelope["signature"], validate=True)
        leaf = x509.load_pem_x509_certificate(envelope["certificate"].encode())
        supplied = [x509.load_pem_x509_certificate(pem.encode()) for pem in envelope.get("chain", [])]
        claims = json.loads(statement)
        signed_at = dt.datetime.strptime(claims["signed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return Verification(False, "invalid", f"{sig.name} is not a usable signature file ({exc})")
    signer = _name(leaf.subject)
    result = Verification(False, None, "", signer=signer, signed_at=claims["signed_at"])
    if not _signature_matches(leaf, envelope.get("algorithm"), statement, signature):
        return _fail(result, "tampered", f"{sig.name} does not verify with the key of its certificate '{signer}': "
                     "the signature file was altered, or made with another key")
    actual_size, actual_digest = package.stat().st_size, sha256_of(package)
    if (claims.get("sha256"), claims.get("size")) != (actual_digest, actual_size):
        return _fail(result, "tampered", f"tampered content: the package's bytes differ from what '{signer}' signed "
                     f"(sha256 {actual_digest[:16]}…, {actual_size} bytes; signed: {str(claims.get('sha256'))[:16]}…, "
                     f"{claims.get('size')} bytes): do not use it; get the package again from the vendor")
    if signed_at > now + CLOCK_SKEW:
        return _fail(result, "invalid", f"the signing time {claims['signed_at']} lies in the future")
    if not roots:
        return _fail(result, "unknown_root", "the trust store holds no certificate")
    sources: dict[bytes, Source] = {}
    for source, certs in (("trust store", roots), ("--chain", extra), ("signature", supplied)):
        for cert in certs:
            sources.setdefault(cert.fingerprint(hashes.SHA256()), source)  # type: ignore[arg-type]
    try:
        chain = _verifier(roots, signed_at).verify(leaf, [*supplied, *extra]).chain
    except VerificationError as exc:
        kind, why = _diagnose(leaf, [*supplied, *extra], list(roots), signed_at, sources, str(exc))
        return _fail(result, kind, why)
    result.ok, result.path = True, [
        PathCert(_name(c.subject), _name(c.issuer), sources.get(c.fingerprint(hashes.SHA256()), "signature"),
                 c.not_valid_after_utc.strftime("%Y-%m-%d")) for c in chain]
    since = f"; its certificate has expired since ({leaf.not_valid_after_utc:%Y-%m-%d}), the signature was made " \
            "while it was valid" if leaf.not_valid_after_utc < now else ""
    result.message = f"signed by '{signer}' at {claims['signed_at']}; path: {result.path_text()}{since}"
    return result


def _fail(result: Verification, problem: Problem, message: str) -> Verification:
    result.ok, result.problem, result.message = False, problem, message
    return result


def _canonical(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _sign(key: SigningKey, data: bytes) -> tuple[str, bytes]:
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-pss-sha256", key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                                          hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa-sha256", key.sign(data, ec.ECDSA(hashes.SHA256()))
    return "ed25519", key.sign(data)


def _signature_matches(cert: x509.Certificate, algorithm: Any, data: bytes, signature: bytes) -> bool:
    key = cert.public_key()
    try:
        if algorithm == "rsa-pss-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
                       hashes.SHA256())
        elif algorithm == "ecdsa-sha256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _code_signing_ee(_policy: Any, cert: x509.Certificate, eku: x509.ExtendedKeyUsage) -> None:
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ValueError(f"'{_name(cert.subject)}' is not for code signing")


def _code_signing_ca(_policy: Any, cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    allowed = {ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if eku is not None and not allowed & set(eku):
        raise ValueError(f"the CA '{_name(cert.subject)}' may not issue code-signing certificates")


def _digital_signature(_policy: Any, cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.digital_signature:
        raise ValueError(f"the key usage of '{_name(cert.subject)}' does not allow digital signatures")


def _verifier(roots: Sequence[x509.Certificate], at: dt.datetime) -> Any:
    """Web PKI rules, but for code signing: EKU codeSigning on the signer (and, when a CA restricts its
    EKUs, on the CA); no subjectAltName needed; the authority key identifier may be missing."""
    agnostic = Criticality.AGNOSTIC
    ee = (ExtensionPolicy.webpki_defaults_ee()
          .require_present(x509.ExtendedKeyUsage, agnostic, _code_signing_ee)
          .may_be_present(x509.KeyUsage, agnostic, _digital_signature)
          .may_be_present(x509.SubjectAlternativeName, agnostic, None)
          .may_be_present(x509.AuthorityKeyIdentifier, agnostic, None))
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.ExtendedKeyUsage, agnostic, _code_signing_ca)
    return (PolicyBuilder().store(Store(list(roots))).time(at).max_chain_depth(8)
            .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier())


def _diagnose(leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate],
              at: dt.datetime, sources: dict[bytes, Source], failure: str) -> tuple[Problem, str]:
    """Why the path did not validate, in the operator's words: the signer first, then up the chain."""
    signer = _name(leaf.subject)
    when = f"{at:%Y-%m-%d %H:%M} UTC"
    validity = _validity(leaf, at, f"the signer certificate '{signer}'", when)
    if validity is not None:
        return validity
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            uses = ", ".join(EKU_NAMES.get(oid, oid.dotted_string) for oid in eku)
            return "wrong_key_usage", (f"wrong key usage: the signer certificate '{signer}' is for {uses}, not code "
                                       "signing: the vendor signed with the wrong certificate")
    except x509.ExtensionNotFound:
        return "wrong_key_usage", (f"wrong key usage: the signer certificate '{signer}' has no extended key usage "
                                   "for code signing")
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            return "wrong_key_usage", (f"wrong key usage: the key usage of the signer certificate '{signer}' does not "
                                       "allow digital signatures")
    except x509.ExtensionNotFound:
        pass
    root_keys = {c.fingerprint(hashes.SHA256()) for c in roots}
    current, seen = leaf, {leaf.fingerprint(hashes.SHA256())}
    while True:
        issuers = [c for c in [*roots, *intermediates] if c.subject == current.issuer and _issued(current, c)]
        trusted = [c for c in issuers if c.fingerprint(hashes.SHA256()) in root_keys]
        if trusted:
            validity = _validity(trusted[0], at, f"the root '{_name(trusted[0].subject)}' of the trust store", when)
            return validity or ("untrusted", f"the signer's certificate path does not validate: {failure}")
        fresh = [c for c in issuers if c.fingerprint(hashes.SHA256()) not in seen]
        if not fresh:
            where = sources.get(current.fingerprint(hashes.SHA256()))
            what = f"'{_name(current.subject)}'" + (f" (from {where})" if where and current is not leaf else "")
            store = ", ".join(f"'{_name(c.subject)}'" for c in roots[:3]) + (" …" if len(roots) > 3 else "")
            if current.subject == current.issuer:
                return "unknown_root", (f"unknown root: the signer's chain ends at the self-signed root {what}, which "
                                        f"is not in the trust store (it holds {store}). {ROTATION_HINT}")
            return "unknown_root", (f"unknown root: the signer's chain goes up to {what}, issued by "
                                    f"'{_name(current.issuer)}', which is not in the trust store (it holds {store}) "
                                    f"and was not supplied. {ROTATION_HINT}")
        current = fresh[0]
        seen.add(current.fingerprint(hashes.SHA256()))
        where = sources.get(current.fingerprint(hashes.SHA256()), "signature")
        validity = _validity(current, at, f"the CA certificate '{_name(current.subject)}' (from {where})", when)
        if validity is not None:
            return validity


def _validity(cert: x509.Certificate, at: dt.datetime, what: str, when: str) -> tuple[Problem, str] | None:
    if at > cert.not_valid_after_utc:
        return "expired", (f"expired: {what} expired on {cert.not_valid_after_utc:%Y-%m-%d}, before the package "
                           f"was signed ({when}): ask the vendor for a package signed with a current certificate")
    if at < cert.not_valid_before_utc:
        return "not_yet_valid", (f"not yet valid: {what} is valid only from {cert.not_valid_before_utc:%Y-%m-%d}, "
                                 f"after the package was signed ({when}): the signer's clock or certificate is wrong")
    return None


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def subject_name(cert: x509.Certificate) -> str:
    return _name(cert.subject)


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string()

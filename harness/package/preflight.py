"""The preflight of a package: is it genuinely the vendor's, and what will it do besides the upgrade?

Archive safety, the signature and its certificate path, the manifest, the scanners (scheduled tasks, external
endpoints, credentials; renamed units against `previous`), and the quarantine plan the rehearsal will apply.
Exit code: 0 no blocking finding, 1 blocking findings; unusable input (not a zip, no manifest, a manifest
that does not parse) is a PackageError (exit 2) before any of this.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from harness.core.errors import PackageError
from harness.package import archive, signing
from harness.package.findings import SEVERITIES, Finding
from harness.package.manifest import MANIFEST, Manifest, manifest_problems, parse_manifest
from harness.package.quarantine import Change, plan
from harness.package.scanners import scan
from harness.package.source import PackageSource, open_package, unpack_to


@dataclass
class Preflight:
    source: str
    name: str | None
    version: str | None
    upgrades_from: str | None
    sha256: str | None
    files: int
    signature: signing.Verification | None
    findings: list[Finding] = field(default_factory=list)
    quarantine: list[Change] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0


def preflight(path: Path, roots: Sequence[x509.Certificate] | None = None, extra: Sequence[x509.Certificate] = (),
              previous: Path | None = None, limits: archive.Limits = archive.DEFAULT_LIMITS) -> Preflight:
    """Every check of the package at `path` (a zip or a directory)."""
    path = path.resolve()
    if not path.exists():
        raise PackageError(path, "", "no such file or directory")
    verification = _signature(path, roots, extra)
    if path.is_file():
        with archive.open_zip(path) as opened:
            _, problems = archive.inspect(opened, limits)
        if problems:
            return _unsafe(path, problems, verification)
    source = open_package(path, limits, strict=False)
    result = Preflight(str(path), source.manifest.name, source.manifest.version, source.manifest.upgrades_from,
                       source.sha256, len(source.names), verification)
    if verification is not None and not verification.ok:
        result.findings.append(Finding("", None, f"signature: {verification.problem}", "critical", "",
                                       verification.message, blocking=True))
    elif verification is None:
        signed = signing.signature_path(path).is_file()
        result.findings.append(Finding("", None, "signature", "info", "", "signature present, not verified (no "
                                       "--trust-store)" if signed else "unsigned; not verified (no --trust-store)"))
    result.findings += _manifest_findings(source)
    with tempfile.TemporaryDirectory(prefix="rehearse-preflight-") as temp:
        root = unpack_to(source, Path(temp) / "package", limits)
        before = None
        if previous is not None:
            old = open_package(previous, limits, strict=False)
            before = unpack_to(old, Path(temp) / "previous", limits)
            if source.manifest.upgrades_from not in (None, old.manifest.version):
                result.findings.append(Finding(MANIFEST, None, "version", "medium", "",
                                               f"upgrades from {source.manifest.upgrades_from}, but --previous is "
                                               f"{old.manifest.name} {old.manifest.version}"))
        hits = scan(root, source.manifest, before)
    result.findings += [hit.finding for hit in hits]
    result.quarantine = plan(hits)
    result.findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), not f.blocking, f.file, f.line or 0))
    return result


def _signature(path: Path, roots: Sequence[x509.Certificate] | None,
               extra: Sequence[x509.Certificate]) -> signing.Verification | None:
    if roots is None:
        return None
    if path.is_dir():
        return signing.Verification(False, "unsigned", "a package directory cannot be signed: build a zip "
                                    "(rehearse package build) and sign that")
    return signing.verify(path, roots, extra)


def _unsafe(path: Path, problems: list[archive.Problem], verification: signing.Verification | None) -> Preflight:
    """An archive that will not be unpacked: its problems are the findings, and nothing inside is scanned."""
    manifest: Manifest | None = None
    try:
        data = archive.read_member(path, MANIFEST)
        manifest = parse_manifest(data, f"{path}!{MANIFEST}") if data is not None else None
    except PackageError:
        manifest = None
    result = Preflight(str(path), manifest.name if manifest else None, manifest.version if manifest else None,
                       manifest.upgrades_from if manifest else None, None, 0, verification)
    result.findings = [Finding(p.member, None, f"unsafe archive: {p.kind}", "critical", "", p.reason + " (not "
                               "unpacked; nothing inside was scanned)", blocking=True) for p in problems]
    if verification is not None and not verification.ok:
        result.findings.append(Finding("", None, f"signature: {verification.problem}", "critical", "",
                                       verification.message, blocking=True))
    return result


def _manifest_findings(source: PackageSource) -> list[Finding]:
    manifest = source.manifest
    findings = [Finding(MANIFEST, None, "manifest", "high", "", f"{key}: {problem}", blocking=True)
                for key, problem in manifest_problems(manifest, set(source.names))]
    covered = {step.flag for step in manifest.cleanup if step.flag}
    for flag, final in manifest.feature_flags.items():
        if flag not in covered:
            findings.append(Finding(MANIFEST, None, "feature flag", "medium", "", f"feature flag {flag} has no cleanup "
                                    f"step: nothing sets it to its final state ({final!r}) after the upgrade"))
    for step in manifest.cleanup:
        findings.append(Finding(MANIFEST, None, "cleanup step", "info", "", f"{step.name} ({step.kind}): "
                                f"{step.run.describe()[:80]}; checked by {step.check.describe()[:80]}"))
    return findings


def to_json(result: Preflight) -> dict[str, Any]:
    signature = None if result.signature is None else {
        "ok": result.signature.ok, "problem": result.signature.problem, "message": result.signature.message,
        "signer": result.signature.signer, "signed_at": result.signature.signed_at,
        "path": [asdict(c) for c in result.signature.path]}
    return {"package": {"source": result.source, "name": result.name, "version": result.version,
                        "upgrades_from": result.upgrades_from, "sha256": result.sha256, "files": result.files},
            "signature": signature, "findings": [asdict(f) for f in result.findings],
            "quarantine": [asdict(c) for c in result.quarantine], "blocking": len(result.blocking),
            "exit_code": result.exit_code}


def format_text(result: Preflight) -> str:
    """The findings table and the verdict, for a terminal."""
    origin = f" (upgrades from {result.upgrades_from})" if result.upgrades_from else ""
    digest = f", sha256 {result.sha256[:16]}…" if result.sha256 else ""
    lines = [f"package: {result.name or '?'} {result.version or '?'}{origin}, {result.files} files{digest}",
             f"source: {result.source}"]
    if result.signature is not None:
        lines.append(f"signature: {'VALID' if result.signature.ok else 'INVALID'}: {result.signature.message}")
    lines += ["", f"findings: {len(result.findings)} ({len(result.blocking)} blocking)"]
    if result.findings:
        width = min(max(len(f.kind) for f in result.findings), 28)
        where = min(max(len(f.where) for f in result.findings), 44)
        lines.append(f"  {'severity':<8}  {'kind':<{width}}  {'where':<{where}}  what")
        for f in result.findings:
            mark = "BLOCKS " if f.blocking else ""
            lines.append(f"  {f.severity:<8}  {f.kind:<{width}}  {f.where:<{where}}  {mark}{f.message}")
            if f.excerpt:
                lines.append(f"  {'':<8}  {'':<{width}}  {'':<{where}}  > {f.excerpt}")
    if result.quarantine:
        lines += ["", f"quarantine plan for the rehearsal: {len(result.quarantine)} actions"]
        lines += [f"  {c.kind:<18}  {c.file}{f':{c.line}' if c.line else ''}  {c.detail}" for c in result.quarantine]
    verdict = "PASS: nothing blocks" if not result.blocking else f"BLOCKED: {len(result.blocking)} blocking findings"
    lines += ["", f"preflight: {verdict} (exit code {result.exit_code})"]
    return "\n".join(lines)

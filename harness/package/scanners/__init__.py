"""The offline scanners of a package: scheduled tasks, external endpoints, hard-coded credentials.

`scan(root, manifest, previous)` runs them all over an unpacked package (and the previous version's, to find
renamed units); each returns Hits (findings with their exact place). Nothing here opens a connection.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.package.findings import Hit, excerpt
from harness.package.manifest import Manifest
from harness.package.scanners import credentials, endpoints, scheduled
from harness.package.scanners.files import PackageFile, package_files


def scan(root: Path, manifest: Manifest, previous: Path | None = None) -> list[Hit]:
    """Every hit of every scanner over the package unpacked at `root`, in file and line order. Excerpts
    are redacted with every secret the credential scanner found."""
    files = package_files(root)
    before = package_files(previous) if previous is not None else None
    secrets = credentials.scan(files)
    known = sorted({hit.value for hit in secrets if hit.value}, key=len, reverse=True)
    hits = secrets + scheduled.scan(files, manifest, before) + endpoints.scan(files)
    hits = [_redacted(hit, files, known) for hit in hits]
    return sorted(hits, key=lambda h: (h.finding.file, h.finding.line or 0, h.finding.kind))


def _redacted(hit: Hit, files: list[PackageFile], secrets: list[str]) -> Hit:
    """The hit with its excerpt re-derived from its line, every known secret masked."""
    finding = hit.finding
    file = next((f for f in files if f.name == finding.file), None)
    if file is None or finding.line is None:
        return hit
    lines = file.lines if file.text is not None else file.strings()
    if not 0 < finding.line <= len(lines):
        return hit
    return replace(hit, finding=replace(finding, excerpt=excerpt(lines[finding.line - 1], secrets)))


__all__ = ["PackageFile", "package_files", "scan"]

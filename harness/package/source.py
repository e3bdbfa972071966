"""A package on disk, a zip or a directory: its manifest and file names read without unpacking anything,
and `unpack_to` that writes it (safely) where a rehearsal or a preflight works on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.core.errors import PackageError
from harness.package import archive, build
from harness.package.manifest import MANIFEST, Manifest, manifest_problems, parse_manifest


@dataclass(frozen=True)
class PackageSource:
    path: Path
    kind: Literal["zip", "dir"]
    manifest: Manifest
    sha256: str | None  # of the zip's bytes (what a signature covers); None for a directory
    names: frozenset[str]  # the files it holds


def is_package_path(path: Path) -> bool:
    """Whether `path` looks like a package: a .zip file, or a directory holding a manifest.toml."""
    return (path.is_file() and path.suffix == ".zip") or (path.is_dir() and (path / MANIFEST).is_file())


def open_package(path: Path, limits: archive.Limits = archive.DEFAULT_LIMITS, strict: bool = True) -> PackageSource:
    """Read a package's manifest and file list; raises PackageError (UnsafeArchive for an unsafe zip), also
    for a file the manifest names and the package lacks unless not `strict` (preflight reports those)."""
    path = path.resolve()
    if path.is_dir():
        manifest = build.read_dir_manifest(path)
        names = frozenset(f.name for f in build.collect(path, manifest, strict=strict))
        return PackageSource(path, "dir", manifest, None, names)
    members = archive.checked(path, limits)
    data = archive.read_member(path, MANIFEST)
    if data is None:
        raise PackageError(path, "", f"no {MANIFEST} at the root of the package")
    manifest = parse_manifest(data, f"{path}!{MANIFEST}")
    names = frozenset(m.name for m in members if not m.is_dir)
    problems = manifest_problems(manifest, set(names))
    if problems and strict:
        key, problem = problems[0]
        raise PackageError(f"{path}!{MANIFEST}", key, problem)
    return PackageSource(path, "zip", manifest, build.sha256_of(path), names)


def unpack_to(source: PackageSource, dest: Path, limits: archive.Limits = archive.DEFAULT_LIMITS) -> Path:
    """Write the package's files into the new directory `dest`; returns `dest`."""
    if source.kind == "zip":
        archive.unpack(source.path, dest, limits)
    else:
        build.copy_dir(source.path, dest, strict=False)  # open_package checked it as strictly as asked
    return dest

"""Build a package zip from a directory (its manifest.toml, its files, and the files of `[[build.include]]`
directories), and copy a directory package into a run directory the same way.

Symlinks, hard links and device files are refused (a package holds regular files only); caches and VCS
metadata (__pycache__, *.pyc, .git) are left out. The zip is reproducible: members sorted, a fixed time
stamp, Unix modes written explicitly into ZipInfo.external_attr (0o755 for executables, else 0o644).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import PackageError
from harness.package.manifest import MANIFEST, Manifest, manifest_problems, parse_manifest

LEFT_OUT = ("__pycache__", "*.pyc", ".git", ".gitignore", ".DS_Store", "*.zip.sig")
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: builds of the same files are identical


@dataclass(frozen=True)
class SourceFile:
    name: str  # its name in the package
    path: Path
    executable: bool


@dataclass(frozen=True)
class Built:
    path: Path
    manifest: Manifest
    files: int
    sha256: str


def read_dir_manifest(source: Path) -> Manifest:
    """The manifest.toml of a package directory."""
    path = source / MANIFEST
    if not path.is_file():
        raise PackageError(source, "", f"no {MANIFEST}: not a package directory")
    return parse_manifest(path.read_bytes(), str(path))


def collect(source: Path, manifest: Manifest, leave_out: Path | None = None, strict: bool = True) -> list[SourceFile]:
    """The files a package of `source` holds, sorted by name; raises PackageError for what it cannot hold."""
    found: dict[str, SourceFile] = {}
    folded: dict[str, str] = {}

    def add(root: Path, exclude: tuple[str, ...], included: bool) -> None:
        for path in sorted(_walk(root)):
            name = path.relative_to(root).as_posix()
            if path == leave_out or _left_out(name) or (included and (name == MANIFEST or any(
                    fnmatch.fnmatch(name, pattern) for pattern in exclude))):
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                raise PackageError(path, "", "is a symbolic link: a package holds regular files only")
            if not stat.S_ISREG(info.st_mode):
                raise PackageError(path, "", "is a device file, FIFO or socket: a package holds regular files only")
            if info.st_nlink > 1:
                raise PackageError(path, "", f"is a hard link ({info.st_nlink} names for one file): a package holds "
                                   "regular files only")
            key = unicodedata.normalize("NFC", name).casefold()
            if key in folded:
                raise PackageError(path, "", f"clashes with {folded[key]!r} (same name, or the same but for case)")
            folded[key] = f"{root}/{name}"
            found[name] = SourceFile(name, path, bool(info.st_mode & 0o111))

    add(source, (), included=False)
    for include in manifest.includes:
        root = (source / include.dir).resolve()
        if not root.is_dir():
            raise PackageError(source / MANIFEST, "build.include", f"directory {include.dir!r} does not exist")
        add(root, include.exclude, included=True)
    files = [found[name] for name in sorted(found)]
    problems = manifest_problems(manifest, {f.name for f in files})
    if problems and strict:
        key, problem = problems[0]
        raise PackageError(source / MANIFEST, key, problem)
    return files


def _walk(root: Path) -> list[Path]:
    paths = []
    for directory, subdirs, names in os.walk(root, followlinks=False):
        base = Path(directory)
        for sub in list(subdirs):
            if _left_out(sub):
                subdirs.remove(sub)
            elif (base / sub).is_symlink():
                raise PackageError(base / sub, "", "is a symbolic link: a package holds regular files only")
        paths += [base / name for name in names]
    return paths


def _left_out(name: str) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in name.split("/") for pattern in LEFT_OUT)


def build(source: Path, out: Path) -> Built:
    """Write the package of directory `source` to the zip `out`."""
    manifest = read_dir_manifest(source)
    files = collect(source, manifest, leave_out=out.resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.partial")
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(files, key=lambda f: (f.name != MANIFEST, f.name)):
                info = zipfile.ZipInfo(item.name, date_time=EPOCH)
                info.create_system = 3
                info.external_attr = (stat.S_IFREG | (0o755 if item.executable else 0o644)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, item.path.read_bytes())
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return Built(out, manifest, len(files), sha256_of(out))


def copy_dir(source: Path, dest: Path, strict: bool = True) -> list[SourceFile]:
    """Copy the package directory `source` (with its includes) into the new directory `dest`."""
    files = collect(source, read_dir_manifest(source), strict=strict)
    dest.mkdir(parents=True, exist_ok=False)
    for item in files:
        target = dest.joinpath(*item.name.split("/"))
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.copyfile(item.path, target, follow_symlinks=False)
        os.chmod(target, 0o755 if item.executable else 0o644)
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

"""Safe unpacking of a package zip: every member checked before anything is written, and limits enforced
again while writing.

Rejected, each with its reason: absolute paths and drive letters, path traversal ('..'), backslashes and NUL
bytes in names, symlinks and device files (from the Unix mode in ZipInfo.external_attr), duplicate names,
also after case folding (or a file that is also a directory), encrypted members, and decompression bombs
(total size, file count, per-member and overall compression ratio). Python's zipfile would silently rewrite
'../' and drop modes on extract: members are written one by one here, with O_EXCL | O_NOFOLLOW, and the
executable bit is kept explicitly (0o755 or 0o644: never setuid, setgid or world-writable).
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from harness.core.errors import PackageError

CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNIX = 3  # ZipInfo.create_system of archives made on Unix: external_attr's high 16 bits are st_mode


@dataclass(frozen=True)
class Limits:
    """Decompression bomb limits. The ratio limits apply above a floor: small text files compress well."""

    max_total_bytes: int = 1 << 30
    max_files: int = 20_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Problem:
    """Why a member (or the whole archive, member '') cannot be unpacked."""

    member: str
    kind: str  # absolute path, path traversal, bad name, symlink, device file, duplicate name, encrypted, bomb
    reason: str

    def __str__(self) -> str:
        return f"{self.member}: {self.kind}: {self.reason}" if self.member else f"{self.kind}: {self.reason}"


@dataclass(frozen=True)
class Member:
    name: str  # normalized: relative, '/'-separated
    info: zipfile.ZipInfo
    mode: int  # 0o755 or 0o644; directories 0o755
    is_dir: bool


class UnsafeArchive(PackageError):
    """An archive that will not be unpacked; `problems` lists every reason found."""

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3
                                                            else "")
        super().__init__(path, "", f"unsafe archive, not unpacked: {shown}")


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip at `path`; PackageError when it is missing or not a zip."""
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise PackageError(path, "", "no such file") from None
    except IsADirectoryError:
        raise PackageError(path, "", "is a directory, not a zip") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageError(path, "", f"not a zip archive ({exc})") from None


def inspect(archive: zipfile.ZipFile, limits: Limits = DEFAULT_LIMITS) -> tuple[list[Member], list[Problem]]:
    """Every member with its normalized name and mode, and every problem; reads no member's data."""
    members: list[Member] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}  # folded name -> name as first seen
    files: set[str] = set()
    dirs: set[str] = set()
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        problems.append(Problem("", "bomb", f"{len(infos)} members, more than the limit of {limits.max_files}"))
    total = compressed = 0
    for info in infos:
        name, problem = _normal_name(info)
        if problem is not None:
            problems.append(problem)
            continue
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == _UNIX else 0
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        if kind == stat.S_IFLNK:
            problems.append(Problem(name, "symlink", "is a symbolic link (links could point outside the package)"))
            continue
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            what = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFIFO: "FIFO",
                    stat.S_IFSOCK: "socket"}.get(kind, f"file of type {kind:o}")
            problems.append(Problem(name, "device file", f"is a {what}, not a regular file"))
            continue
        if info.flag_bits & 0x1:
            problems.append(Problem(name, "encrypted", "is encrypted"))
            continue
        folded = unicodedata.normalize("NFC", name).casefold()
        if folded in seen:
            same = seen[folded] == name
            problems.append(Problem(name, "duplicate name", "appears twice in the archive" if same else
                                    f"differs from {seen[folded]!r} only by case (one would overwrite the other "
                                    "on a case-insensitive file system)"))
            continue
        seen[folded] = name
        (dirs if is_dir else files).add(folded)
        parents = {PurePosixPath(folded).parents[i].as_posix() for i in range(len(PurePosixPath(folded).parts) - 1)}
        dirs |= parents
        if not is_dir:
            total += info.file_size
            compressed += info.compress_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
                problems.append(Problem(name, "bomb", f"expands {ratio:.0f} times ({info.file_size} bytes from "
                                        f"{info.compress_size}), more than the limit of {limits.max_ratio:g}"))
        executable = info.create_system == _UNIX and bool((info.external_attr >> 16) & 0o111)
        mode = 0o755 if is_dir or executable else 0o644
        members.append(Member(name, info, mode, is_dir))
    for clash in sorted(files & dirs):
        problems.append(Problem(clash, "duplicate name", "is both a file and a directory"))
    if total > limits.max_total_bytes:
        problems.append(Problem("", "bomb", f"expands to {total} bytes, more than the limit of "
                                f"{limits.max_total_bytes}"))
    if total > limits.ratio_floor_bytes and total / max(compressed, 1) > limits.max_ratio:
        problems.append(Problem("", "bomb", f"expands {total / max(compressed, 1):.0f} times overall, more than the "
                                f"limit of {limits.max_ratio:g}"))
    return members, problems


def _normal_name(info: zipfile.ZipInfo) -> tuple[str, Problem | None]:
    raw = info.orig_filename
    if "\x00" in raw or any(ord(c) < 32 for c in raw):
        return raw, Problem(repr(raw), "bad name", "has a NUL byte or a control character in its name")
    if "\\" in raw:
        return raw, Problem(raw, "bad name", "has a backslash in its name (a path separator on Windows)")
    if raw.startswith("/") or _DRIVE.match(raw):
        return raw, Problem(raw, "absolute path", "is an absolute path (it would be written outside the package)")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        return raw, Problem(raw, "path traversal", "climbs out of the package with '..'")
    if not parts:
        return raw, Problem(raw, "bad name", "has an empty name")
    return "/".join(parts), None


def checked(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[Member]:
    """The members of the zip at `path` once every check passes; raises UnsafeArchive listing every problem."""
    with open_zip(path) as archive:
        members, problems = inspect(archive, limits)
    if problems:
        raise UnsafeArchive(path, problems)
    return members


def read_member(path: Path, name: str, limit: int = 1 << 20) -> bytes | None:
    """One member's bytes (the manifest), at most `limit`; None when the archive has no such member."""
    with open_zip(path) as archive:
        members, _ = inspect(archive)
        member = next((m for m in members if m.name == name and not m.is_dir), None)
        if member is None:
            return None
        if member.info.file_size > limit:
            raise PackageError(path, name, f"is {member.info.file_size} bytes, more than {limit}")
        with archive.open(member.info) as source:
            return source.read(limit + 1)[:limit]


def unpack(path: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> list[Member]:
    """Unpack the zip at `path` into the new directory `dest` (which must not exist, or be empty)."""
    members = checked(path, limits)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise PackageError(dest, "", "unpacking needs an empty directory")
    written = 0
    with open_zip(path) as archive:
        for member in sorted(members, key=lambda m: m.name):
            target = dest.joinpath(*member.name.split("/"))
            if member.is_dir:
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(target, flags, 0o600)
            size = 0
            with os.fdopen(fd, "wb") as out, archive.open(member.info) as source:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    written += len(chunk)
                    if size > member.info.file_size or written > limits.max_total_bytes:
                        raise UnsafeArchive(path, [Problem(member.name, "bomb", "expands beyond its declared size "
                                                           "or the total limit")])
                    out.write(chunk)
            os.chmod(target, member.mode)
    return members

"""The files of an unpacked package as the scanners see them: name, role, and text (None when binary)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

Role = Literal["code", "script", "sql", "unit", "cron", "config", "doc", "binary"]
MAX_TEXT_BYTES = 8 << 20  # larger files are scanned as binary (their printable strings)
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target", ".mount")
CODE_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts", ".rb", ".go", ".java", ".php", ".pl", ".lua", ".cs", ".kt",
                 ".rs", ".scala", ".swift", ".c", ".h", ".cpp")
SCRIPT_SUFFIXES = (".sh", ".bash", ".zsh", ".ksh")
DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc")
DOC_NAMES = ("readme", "license", "licence", "changelog", "notice", "authors", "copying")
_SHEBANG = re.compile(r"^#!\s*(?:/usr/bin/env\s+)?\S*?(\w+)")
_STRINGS = re.compile(rb"[\x20-\x7e]{6,}")


@dataclass(frozen=True)
class PackageFile:
    name: str  # '/'-separated, relative to the package root
    path: Path
    role: Role
    text: str | None  # None for binary files

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines() if self.text is not None else []

    def strings(self) -> list[str]:
        """A binary file's printable runs (what `strings` shows), one per 'line'."""
        return [s.decode("ascii") for s in _STRINGS.findall(self.path.read_bytes()[:MAX_TEXT_BYTES * 4])]


def package_files(root: Path) -> list[PackageFile]:
    """Every regular file under `root`, sorted by name."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                found.append(read_file(root, path))
    return sorted(found, key=lambda f: f.name)


def read_file(root: Path, path: Path) -> PackageFile:
    name = path.relative_to(root).as_posix()
    data = path.read_bytes() if path.stat().st_size <= MAX_TEXT_BYTES else None
    text = None
    if data is not None and b"\x00" not in data[:8192]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return PackageFile(name, path, "binary" if text is None else role_of(name, text), text)


def role_of(name: str, text: str) -> Role:
    pure = PurePosixPath(name)
    lower, parts = pure.name.lower(), [p.lower() for p in pure.parts[:-1]]
    if pure.suffix in UNIT_SUFFIXES:
        return "unit"
    if lower.startswith("crontab") or pure.suffix == ".cron" or any(p in ("cron", "cron.d", "crontabs", "cron.daily",
                                                                          "cron.hourly") for p in parts):
        return "cron"
    if pure.suffix == ".sql":
        return "sql"
    shebang = _SHEBANG.match(text)
    interpreter = shebang.group(1) if shebang else ""
    if pure.suffix in SCRIPT_SUFFIXES or interpreter in ("sh", "bash", "zsh", "ksh", "dash"):
        return "script"
    if pure.suffix in CODE_SUFFIXES or interpreter.startswith(("python", "node", "ruby", "perl", "php")):
        return "code"
    if pure.suffix in DOC_SUFFIXES or lower.split(".")[0] in DOC_NAMES:
        return "doc"
    return "config"

"""Scheduled tasks: crontab and cron.d entries, systemd timers and services, units renamed (or removed)
since the previous package, and scripts that still name a unit by its old name.

Cron entries and timers are disabled for the rehearsal (the quarantine comments them out in the rehearsal's
copy); a task the manifest does not declare (package.scheduled) is reported higher. A script that names a
unit this version renamed or removed blocks: on D-day it would act on a unit that no longer exists.
"""

from __future__ import annotations

import difflib
import re
from pathlib import PurePosixPath

from harness.package.findings import Finding, Hit, excerpt
from harness.package.manifest import Manifest
from harness.package.scanners.files import PackageFile

_CRON_FIELD = r"[0-9A-Za-z*/,\-?LW#]+"
_CRON = re.compile(rf"^\s*(?P<when>@(?:reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)|"
                   rf"(?:{_CRON_FIELD}\s+){{4}}{_CRON_FIELD})\s+(?P<command>\S.*)$")
_ENV_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
TIMER_TRIGGERS = ("OnCalendar", "OnBootSec", "OnStartupSec", "OnActiveSec", "OnUnitActiveSec", "OnUnitInactiveSec")
_TRIGGER = re.compile(rf"^\s*({'|'.join(TIMER_TRIGGERS)})\s*=\s*(.+?)\s*$")
_EXEC = re.compile(r"^\s*ExecStart\s*=\s*(.+?)\s*$")
RENAME_SIMILARITY = 0.6


def scan(files: list[PackageFile], manifest: Manifest, previous: list[PackageFile] | None) -> list[Hit]:
    hits: list[Hit] = []
    declared = set(manifest.scheduled)
    for file in files:
        if file.text is None:
            continue
        if file.role == "cron":
            hits += _cron(file, file.name in declared)
        elif file.role == "unit" and file.name.endswith(".timer"):
            hits += _timer(file, file.name in declared)
        elif file.role == "unit" and file.name.endswith(".service"):
            hits += _service(file)
    if previous is not None:
        hits += _renamed(files, previous)
    return hits


def _undeclared(declared: bool) -> str:
    return "" if declared else " It is not declared in the manifest (package.scheduled)."


def _cron(file: PackageFile, declared: bool) -> list[Hit]:
    hits = []
    for number, line in enumerate(file.lines, 1):
        if not line.strip() or line.lstrip().startswith("#") or _ENV_LINE.match(line):
            continue
        entry = _CRON.match(line)
        if entry is None:
            continue
        finding = Finding(file.name, number, "cron entry", "medium" if declared else "high", excerpt(line),
                          f"runs `{entry['command'][:80]}` on schedule `{entry['when']}`; disabled for the "
                          f"rehearsal.{_undeclared(declared)}", quarantine="disable_cron")
        hits.append(Hit(finding, data={"schedule": entry["when"]}))
    return hits


def _timer(file: PackageFile, declared: bool) -> list[Hit]:
    triggers = [(n, m) for n, line in enumerate(file.lines, 1) if (m := _TRIGGER.match(line))]
    unit = PurePosixPath(file.name).name
    target = next((line.split("=", 1)[1].strip() for line in file.lines if line.strip().startswith("Unit=")),
                  unit.removesuffix(".timer") + ".service")
    if not triggers:
        return [Hit(Finding(file.name, None, "systemd timer", "low", "", f"timer {unit} has no trigger "
                            f"({', '.join(TIMER_TRIGGERS)}): it never fires"))]
    number, first = triggers[0]
    when = "; ".join(f"{m[1]}={m[2]}" for _, m in triggers)
    finding = Finding(file.name, number, "systemd timer", "medium" if declared else "high", excerpt(first.string),
                      f"timer {unit} starts {target} ({when}); disabled for the rehearsal.{_undeclared(declared)}",
                      quarantine="disable_timer")
    return [Hit(finding, data={"unit": unit, "target": target})]


def _service(file: PackageFile) -> list[Hit]:
    unit = PurePosixPath(file.name).name
    for number, line in enumerate(file.lines, 1):
        if match := _EXEC.match(line):
            return [Hit(Finding(file.name, number, "systemd service", "info", excerpt(line),
                                f"unit {unit} runs `{match[1][:80]}` (the rehearsal installs no unit)"),
                         data={"unit": unit})]
    return []


def _units(files: list[PackageFile]) -> dict[str, PackageFile]:
    return {PurePosixPath(f.name).name: f for f in files if f.role == "unit" and f.text is not None}


def _renamed(files: list[PackageFile], previous: list[PackageFile]) -> list[Hit]:
    """Units of the previous package missing from this one: renamed (a new unit with similar content), or
    removed; and every line of this package that still names them."""
    now, before = _units(files), _units(previous)
    added = {name: f for name, f in now.items() if name not in before}
    hits: list[Hit] = []
    renames: dict[str, str | None] = {}
    for old in sorted(set(before) - set(now)):
        suffix = PurePosixPath(old).suffix
        scored = sorted(((_similarity(before[old], old, f, name), name) for name, f in added.items()
                         if PurePosixPath(name).suffix == suffix), reverse=True)
        new = scored[0][1] if scored and scored[0][0] >= RENAME_SIMILARITY else None
        renames[old] = new
        if new is not None:
            added.pop(new)
            hits.append(Hit(Finding(now[new].name, None, "renamed unit", "low", "",
                                    f"{old} of the previous package is now {new}"), data={"old": old, "new": new}))
        else:
            hits.append(Hit(Finding("", None, "removed unit", "low", "", f"{old} of the previous package is gone"),
                            data={"old": old}))
    for old, new in renames.items():
        stem = PurePosixPath(old).stem
        named = rf"(?<![\w.\-]){re.escape(old)}(?![\w\-])"
        if old.endswith(".service"):  # systemctl and journalctl take a service by its bare name too
            named += rf"|(?:systemctl|journalctl)\b.*(?<![\w.\-]){re.escape(stem)}(?![\w.\-])"
        pattern = re.compile(named)
        for file in files:
            if file.text is None or file.role == "doc":
                continue
            for number, line in enumerate(file.lines, 1):
                if pattern.search(line):
                    fix = f"renamed to {new}" if new else "removed"
                    hits.append(Hit(Finding(file.name, number, "stale unit name", "high", excerpt(line),
                                            f"still names {old}, which this version {fix}: adjust it before D-day",
                                            blocking=True), data={"old": old}))
    return hits


def _similarity(a: PackageFile, a_name: str, b: PackageFile, b_name: str) -> float:
    """How alike two units are once their own names are taken out."""
    def body(f: PackageFile, name: str) -> str:
        return (f.text or "").replace(PurePosixPath(name).stem, "UNIT")
    return difflib.SequenceMatcher(None, body(a, a_name), body(b, b_name)).ratio()

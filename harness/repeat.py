"""`rehearse run PLAN --repeat N`: rehearse the upgrade N times, each on a fresh copy (a new environment,
the schema built and the data seeded again), and say how often each outcome occurred.

A deadlock between a migration and the service, a lock timeout, a failed request: whether one run meets it
is timing. The outcomes of each run are read from its summary.json; `repeat.json` and `repeat.md` in the
parent directory hold each run's outcomes and their frequencies.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core.postgres import DEADLOCK_DETECTED
from harness.core.streams import write_atomic
from harness.plan import Plan


@dataclass
class Repetition:
    """One run of the repeat: where it is, how it ended, and the outcomes it showed."""

    index: int
    run_dir: str
    exit_code: int
    verdict: str
    outcomes: list[str] = field(default_factory=list)


def outcomes_of(summary: dict[str, Any]) -> list[str]:
    """What a run's summary.json shows, as outcome labels (a run can show several)."""
    found = [f"verdict {summary.get('verdict', 'fail')}"]
    if summary.get("stopped"):
        found.append(f"stopped: {summary['stopped'].get('kind')}")
    steps = [s for s in summary.get("statements", []) if s.get("origin") != "traced"]
    phases_with_steps = {s["phase"] for s in steps}
    failed_steps = [s for s in steps if s.get("error")]
    for step in failed_steps:
        found.append(f"migration failed ({step.get('sqlstate') or 'no SQLSTATE'}) in {step['phase']}")
    traced_deadlock = any(s.get("sqlstate") == DEADLOCK_DETECTED for s in summary.get("statements", []))
    if traced_deadlock or any(s.get("sqlstate") == DEADLOCK_DETECTED for s in failed_steps):
        found.append("deadlock killed the migration")
    errors = summary.get("errors", [])
    if any(e.get("sqlstate") == DEADLOCK_DETECTED for e in errors):
        found.append("deadlock killed requests")
    during = sum(e["errors"] for e in errors if e.get("phase") in phases_with_steps and e.get("cause") != "swap")
    if during:
        found.append("requests failed in the migration phases")
    for gate in summary.get("gates", []):
        if not gate.get("passed"):
            found.append(f"gate failed: {gate['name']}")
    if summary.get("lock_order_risks"):
        found.append("lock-order risk flagged")
    return sorted(set(found), key=found.index)


def frequencies(repetitions: list[Repetition]) -> list[tuple[str, int]]:
    """Each outcome and in how many runs it occurred, most frequent first."""
    counts = Counter(outcome for r in repetitions for outcome in r.outcomes)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def repeat_dir(plan: Plan, out: Path | None) -> Path:
    """A fresh parent directory for the runs of one repeat."""
    base = (out if out is not None else Path.cwd() / "reports").resolve()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = base / f"repeat-{plan.scenario}-{plan.from_version}-to-{plan.to_version}-{stamp}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    return path


def write_repeat(parent: Path, plan: Plan, repetitions: list[Repetition]) -> Path:
    """repeat.json and repeat.md in `parent`; returns the Markdown's path."""
    total = len(repetitions)
    table = frequencies(repetitions)
    write_atomic(parent / "repeat.json", json.dumps({
        "scenario": plan.scenario, "from_version": plan.from_version, "to_version": plan.to_version,
        "runs": total, "frequencies": {outcome: n for outcome, n in table},
        "repetitions": [asdict(r) for r in repetitions]}, indent=2) + "\n")
    lines = [f"# {plan.scenario} {plan.from_version} -> {plan.to_version}, rehearsed {total} times", "",
             "Each run on a fresh copy: its own server, schema and seed data.", "",
             "| outcome | runs | share |", "|---|---|---|"]
    lines += [f"| {outcome} | {n} of {total} | {n / total:.0%} |" for outcome, n in table]
    lines += ["", "| run | exit code | outcomes | report |", "|---|---|---|---|"]
    lines += [f"| {r.index} | {r.exit_code} | {'; '.join(r.outcomes)} | {Path(r.run_dir).name}/summary.md |"
              for r in repetitions]
    write_atomic(parent / "repeat.md", "\n".join(lines) + "\n")
    return parent / "repeat.md"

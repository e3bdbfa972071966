"""summary.json's contract lives in harness/records/summary.py and docs/summary-json.md: the checker catches
departures, and the doc names every key of every record."""

from __future__ import annotations

import dataclasses
import re
import typing

from harness.records import summary as contract
from harness.records.summary import Summary, contract_keys, contract_problems

from .conftest import REPO

DOC = REPO / "docs" / "summary-json.md"
# The keys users' CI reads since the first release: never renamed or dropped.
STABLE_KEYS = {"scenario", "from_version", "to_version", "environment", "verdict", "exit_code", "started",
               "duration_s", "phases", "endpoints", "statements", "lock_waits", "downtime_s", "rollback", "gates",
               "artifacts"}


def records() -> list[type]:
    """Every dataclass reachable from Summary."""
    found: list[type] = []

    def walk(tp: typing.Any) -> None:
        for arg in typing.get_args(tp):
            walk(arg)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type) and tp not in found:
            found.append(tp)
            for hint in typing.get_type_hints(tp).values():
                walk(hint)

    walk(Summary)
    return found


def test_the_stable_keys_are_in_the_contract() -> None:
    assert contract_keys() >= STABLE_KEYS


def test_the_doc_names_every_key_of_every_record() -> None:
    doc = DOC.read_text()
    sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", doc, re.S | re.M))
    for record in records():
        assert record.__name__ in sections, f"docs/summary-json.md has no section for {record.__name__}"
        for field in dataclasses.fields(record):
            assert f"`{field.name}`" in sections[record.__name__], f"{record.__name__}.{field.name} is not documented"


def test_the_checker_reports_missing_unknown_and_mistyped_keys() -> None:
    phase = {"name": "baseline", "started": 1.0, "ended": 2.0, "from_version": "1.0", "to_version": "1.0",
             "duration_s": 1.0, "requests": 3, "errors": 0, "error_rate": 0.0, "rps": 3.0, "p50_ms": None,
             "p95_ms": 1, "p99_ms": 1.5, "max_ms": 2.0, "errors_by_cause": {}, "excluded_requests": 0}
    assert contract_problems(phase, contract.PhaseFigures, "phase") == []
    broken = dict(phase, requests="3", surprise=1)
    del broken["rps"]
    problems = contract_problems(broken, contract.PhaseFigures, "phase")
    assert "phase.surprise: unknown key" in problems
    assert "phase.rps: missing" in problems
    assert any(p.startswith("phase.requests: expected int, got str") for p in problems)
    assert contract_problems(dict(phase, requests=True), contract.PhaseFigures, "p") != [], "a bool is no count"


def test_drift_rows_follow_the_contract() -> None:
    from tests.unit.builders import drift_row, summary

    data = contract.to_json(summary(drift=[drift_row("post_upgrade", "/orders", "worse", 2.0),
                                           drift_row("post_rollback", "/new", "too few", None, requests_a=0,
                                                     error_rate_a=None, error_call="too few")]))
    assert contract_problems(data) == []
    assert contract_problems(dict(data, drift=[dict(data["drift"][0], call="shifted")])) != [], "calls are a Literal"

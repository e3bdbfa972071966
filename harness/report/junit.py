"""junit.xml: the run's gates and rollback checks as JUnit test cases, for CI systems that show test results.

Suite `gates`: one case per gate (its failure message: the limit and the value observed). Suite `rollback`: one
case per check of the rollback verdict (verify.reasons.CHECKS; a failed check's message is its reason, skipped
when the run gave it nothing to check). Suite `run`: one case, the verdict, failing with every reason it fails.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.records.summary import GateResult, Summary
from harness.verify.reasons import CHECKS

CLASSNAME = "rehearse"


def render_junit(s: Summary) -> str:
    """The whole document (UTF-8, with its XML declaration)."""
    root = ET.Element("testsuites", name=f"rehearse {s.scenario} {s.from_version} -> {s.to_version}")
    suites = [_gates(s), _rollback(s), _run(s)]
    for suite in suites:
        root.append(suite)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in suites)))
    root.set("time", f"{s.duration_s:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def gate_message(gate: GateResult) -> str:
    """The gate's limit and what the run did, e.g. `must be at most 1000, observed 2345.6`."""
    bound = "at most" if gate.bound == "max" else "at least"
    observed = "not measured" if gate.observed is None else f"observed {_number(gate.observed)}"
    return f"must be {bound} {_number(gate.limit)}, {observed}"


def _gates(s: Summary) -> ET.Element:
    suite = _suite(s, "gates")
    for gate in s.gates:
        case = _case(suite, "gates", gate.name)
        if not gate.passed:
            failure = ET.SubElement(case, "failure", message=gate_message(gate), type="gate")
            failure.text = (f"metric {gate.metric}" + (f", phase {gate.phase}" if gate.phase else "")
                            + (f", endpoint {gate.endpoint}" if gate.endpoint else "")
                            + (f", cause {gate.cause}" if gate.cause else "") + f", bound {gate.bound}")
    return _counted(suite)


def _rollback(s: Summary) -> ET.Element:
    suite = _suite(s, "rollback")
    rollback = s.rollback
    failed = {r.check: r for r in rollback.reasons}
    for check in [*CHECKS, *(c for c in failed if c not in CHECKS)]:
        case = _case(suite, "rollback", check)
        reason = failed.get(check)
        if not rollback.checked:
            why = rollback.error or "the run did not get that far"
            ET.SubElement(case, "skipped", message=f"the rollback check did not run: {why}")
        elif reason is not None:
            failure = ET.SubElement(case, "failure", message=reason.message, type=check)
            failure.text = "\n".join([*(f"{k} = {_number(v)}" for k, v in reason.figures.items()), *reason.samples])
        elif (skip := _not_applicable(s, check)) is not None:
            ET.SubElement(case, "skipped", message=skip)
    return _counted(suite)


def _not_applicable(s: Summary, check: str) -> str | None:
    """Why a check had nothing to check in this run, or None."""
    rollback = s.rollback
    if check == "rows_lost" and not rollback.data_changes:
        return "the plan names no table to check ([rollback] tables)"
    if check == "acknowledged_writes_lost" and not rollback.acknowledged:
        return "the plan names no acknowledged writes ([rollback] acknowledged)"
    if check == "down_migration_failed" and rollback.migration is None:
        return "the timeline has no migrate"
    if check == "reupgrade_failed" and rollback.reupgrade is None:
        return "the timeline does not upgrade again after the rollback"
    return None


def _run(s: Summary) -> ET.Element:
    suite = _suite(s, "run")
    case = _case(suite, "run", "verdict")
    if s.verdict != "pass":
        failure = ET.SubElement(case, "failure", message=f"verdict {s.verdict} (exit code {s.exit_code}): "
                                f"{len(s.failures)} reason{'s' if len(s.failures) != 1 else ''}", type="verdict")
        failure.text = "\n".join(f"{f.kind}" + (f" ({f.phase})" if f.phase else "") + f": {f.message}"
                                 for f in s.failures)
    return _counted(suite)


def _suite(s: Summary, name: str) -> ET.Element:
    suite = ET.Element("testsuite", name=f"{CLASSNAME}.{name}", timestamp=s.started.removesuffix("Z"))
    properties = ET.SubElement(suite, "properties")
    for key, value in (("scenario", s.scenario), ("from_version", s.from_version), ("to_version", s.to_version),
                       ("environment", s.environment), ("exit_code", str(s.exit_code))):
        ET.SubElement(properties, "property", name=key, value=value)
    return suite


def _case(suite: ET.Element, group: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=f"{CLASSNAME}.{group}", name=name, time="0")


def _counted(suite: ET.Element) -> ET.Element:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    return suite


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"

"""[[dependencies]] as the plan reads them, the dependency action's arguments, the retry and backoff figures on
hand-written stub streams, the retry_rate gate, and the report's Dependencies section (nothing run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.core.errors import PlanError
from harness.plan import Gate, load_plan
from harness.records.run import DEPENDENCY_STREAM, DependencySettings
from harness.records.summary import DependencyFigures
from harness.report.markdown import render_markdown
from harness.result.dependencies import dependency_figures, with_retry_drift
from harness.rundir import RunDir
from harness.timeline.actions import compile_timeline
from harness.verify.gates import evaluate
from tests.conftest import REPO
from tests.unit.builders import summary

SHOP = REPO / "scenarios" / "shop"
DEPENDENCIES = REPO / "tests" / "scenarios" / "shop_dependencies"
PAYMENTS = {"name": "payments", "env": "PAYMENT_API_URL"}


def test_the_demo_declares_its_payments_stub() -> None:
    plan = load_plan(SHOP)
    (payments,) = plan.dependencies
    assert (payments.name, payments.env, payments.correlation_header, payments.attempt_header) == (
        "payments", "PAYMENT_API_URL", "Idempotency-Key", "X-Attempt")
    assert (payments.settings.latency_ms, payments.settings.error_rate, payments.settings.status,
            payments.settings.error_burst_ms, payments.settings.outage) == (30.0, 0.3, 503, 400.0, False)


@pytest.mark.parametrize(("dependencies", "key", "problem"), [
    ([PAYMENTS | {"latency": 5}], "dependencies[0].latency", "unknown key (did you mean 'latency_ms'?)"),
    ([{"env": "X_URL"}], "dependencies[0].name", "missing"),
    ([PAYMENTS, PAYMENTS | {"env": "OTHER_URL"}], "dependencies[1].name", "names are unique"),
    ([PAYMENTS, {"name": "tax", "env": "PAYMENT_API_URL"}], "dependencies[1].env", "URL of another dependency"),
    ([PAYMENTS | {"env": "PORT"}], "dependencies[0].env", "set by the harness"),
    ([PAYMENTS | {"env": "PGHOST"}], "dependencies[0].env", "set by the harness"),
    ([PAYMENTS | {"env": "not a name"}], "dependencies[0].env", "environment variable name"),
    ([PAYMENTS | {"error_rate": 1.5}], "dependencies[0].error_rate", "must be <= 1"),
    ([PAYMENTS | {"latency_ms": -1}], "dependencies[0].latency_ms", "must be >= 0"),
    ([PAYMENTS | {"status": 200}], "dependencies[0].status", "must be >= 400"),
    ([PAYMENTS | {"outage": True}], "dependencies[0].outage", "unknown key"),
    ([PAYMENTS | {"correlation_header": "X Request"}], "dependencies[0].correlation_header", "HTTP header name"),
    ("payments", "dependencies", "must be a list"),
])
def test_bad_dependencies_name_the_key(dependencies: Any, key: str, problem: str) -> None:
    with pytest.raises(PlanError) as raised:
        load_plan(SHOP, {"dependencies": dependencies})
    assert raised.value.key == key
    assert problem in raised.value.problem


def test_a_variable_the_plan_sets_itself_is_refused() -> None:
    with pytest.raises(PlanError) as raised:
        load_plan(SHOP, {"service.env": {"PAYMENT_API_URL": "https://api.partner.example"}})
    assert (raised.value.key, "also set by service.env" in raised.value.problem) == ("dependencies[0].env", True)


@pytest.mark.parametrize(("gate", "key", "problem"), [
    ({"metric": "retry_rate", "dependency": "payment", "max": 1}, "gates[0].dependency",
     "no dependency 'payment' in [[dependencies]] (did you mean 'payments'?)"),
    ({"metric": "p99_ms", "dependency": "payments", "max": 1}, "gates[0].dependency", "not measured per dependency"),
    ({"metric": "retry_rate", "endpoint": "/orders", "max": 1}, "gates[0].endpoint", "not measured per endpoint"),
])
def test_bad_dependency_gates_name_the_key(gate: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(PlanError) as raised:
        load_plan(SHOP, {"gates": [gate]})
    assert (raised.value.key, problem in raised.value.problem) == (key, True)


def test_retry_rate_needs_a_dependency_in_the_plan() -> None:
    with pytest.raises(PlanError) as raised:
        load_plan(SHOP, {"dependencies": [], "gates": [{"metric": "retry_rate", "max": 1}]})
    assert "declares none" in raised.value.problem


def _timeline(action: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"phase": "baseline", "soak_s": 1}, {"phase": "faulty", "actions": [action]},
            {"phase": "post_upgrade", "actions": ["migrate", "swap"]}]


def test_the_dependency_action_takes_the_plan_s_settings_for_what_it_leaves_out() -> None:
    plan = load_plan(DEPENDENCIES, {"timeline": _timeline({"action": "dependency", "name": "payments",
                                                           "error_rate": 0.7, "seconds": 3})})
    (action,) = compile_timeline(plan)[1].actions
    assert action.describe(plan) == "dependency payments: latency 20 ms, errors 70% (503) in 200 ms bursts for 3 s"
    outage = load_plan(DEPENDENCIES, {"timeline": _timeline({"action": "dependency", "name": "payments",
                                                             "outage": True})})
    assert compile_timeline(outage)[1].actions[0].describe(outage) == "dependency payments: outage (no answer)"


@pytest.mark.parametrize(("action", "key", "problem"), [
    ({"action": "dependency", "name": "taxes"}, "timeline[1].actions[0].name", "no dependency 'taxes'"),
    ({"action": "dependency"}, "timeline[1].actions[0].name", "missing"),
    ({"action": "dependency", "name": "payments", "outages": True}, "timeline[1].actions[0].outages",
     "unknown key (did you mean 'outage'?)"),
    ({"action": "dependency", "name": "payments", "error_rate": 2}, "timeline[1].actions[0].error_rate", "<= 1"),
    ({"action": "dependency", "name": "payments", "seconds": 0}, "timeline[1].actions[0].seconds", "> 0"),
])
def test_bad_dependency_actions_name_the_argument(action: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(PlanError) as raised:
        compile_timeline(load_plan(DEPENDENCIES, {"timeline": _timeline(action)}))
    assert (raised.value.key, problem in raised.value.problem) == (key, True)


# ---------------------------------------------------------------- figures from a hand-written stream

T0 = 1_700_000_000.0
PHASES = pd.DataFrame({"name": ["baseline", "post_upgrade"], "started": [T0, T0 + 10], "ended": [T0 + 10, T0 + 20],
                       "from_version": ["1.0", "2.0"], "to_version": ["1.0", "2.0"]})


def _call(at: float, version: str, status: int = 200, correlation: str | None = None, attempt: int | None = None,
          latency_ms: float = 20.0) -> dict[str, Any]:
    return {"kind": "call", "dependency": "payments", "served_by": version, "at": T0 + at, "method": "POST",
            "path": "/v1/charges", "status": status, "latency_ms": latency_ms, "attempt": attempt,
            "correlation": correlation, "fault": None if status == 200 else "error"}


def _figures(tmp_path: Path, rows: list[dict[str, Any]]) -> tuple[list[DependencyFigures], list[DependencySettings]]:
    run = RunDir(tmp_path, "test")
    run.stream(DEPENDENCY_STREAM).parent.mkdir(parents=True, exist_ok=True)
    run.stream(DEPENDENCY_STREAM).write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"kind": "ca')
    return dependency_figures(run, PHASES)


def test_retries_repeat_a_correlation_id_and_backoffs_run_from_the_answer(tmp_path: Path) -> None:
    rows = [
        # 1.0: order-1 fails, waits 50 ms after the answer, fails, waits 100 ms, succeeds; order-2 at once
        _call(1.000, "1.0", 503, "order-1", 1), _call(1.070, "1.0", 503, "order-1", 2),
        _call(1.190, "1.0", 200, "order-1", 3), _call(2.0, "1.0", 200, "order-2", 1),
        # 2.0: order-3 is retried at once four times and given up; order-4 has no correlation id, attempt 2
        *[_call(11 + 0.02 * i, "2.0", 503, "order-3", i + 1) for i in range(5)],
        _call(12.0, "2.0", 200, None, 1), _call(12.1, "2.0", 200, None, 2),
        {"kind": "settings", "dependency": "payments", "at": T0 + 11.5, "latency_ms": 20.0, "error_rate": 0.0,
         "status": 503, "error_burst_ms": 0.0, "outage": True, "source": "action", "until": T0 + 13},
    ]
    figures, settings = _figures(tmp_path, rows)
    old, new = figures
    assert (old.phase, old.served_by, old.calls, old.upstream_requests, old.retries, old.retry_rate) == (
        "baseline", "1.0", 4, 2, 2, 1.0)
    assert (old.failed_calls, old.gave_up, old.max_attempts, old.backoffs) == (2, 0, 3, 2)
    assert old.backoff_p50_ms == pytest.approx(75.0)  # 50 and 100 ms after the answers
    assert (new.phase, new.calls, new.upstream_requests, new.retries, new.gave_up, new.max_attempts) == (
        "post_upgrade", 7, 2, 5, 1, 5)
    assert new.retry_rate == pytest.approx(2.5)
    assert new.backoff_p95_ms == pytest.approx(0.0)  # the next attempt came as the answer did
    assert [(s.phase, s.outage, s.source) for s in settings] == [("post_upgrade", True, "action")]


def test_the_same_correlation_id_of_two_versions_is_two_upstream_requests(tmp_path: Path) -> None:
    figures, _ = _figures(tmp_path, [_call(1.0, "1.0", 200, "k"), _call(1.5, "2.0", 200, "k")])
    assert [(f.served_by, f.upstream_requests, f.retries) for f in figures] == [("1.0", 1, 0), ("2.0", 1, 0)]


def test_no_stream_no_figures(tmp_path: Path) -> None:
    assert dependency_figures(RunDir(tmp_path, "test"), PHASES) == ([], [])


def _dependency(phase: str, retry_rate: float | None, dependency: str = "payments",
                served_by: str = "1.0") -> DependencyFigures:
    return DependencyFigures(dependency, phase, served_by, 10, 8, 2, retry_rate, 2, 0, 3, 2, 50.0, 100.0, 20.0, 30.0)


def test_the_retry_rate_gate_takes_the_worst_version_and_phase_it_covers() -> None:
    figures = [_dependency("baseline", 0.2), _dependency("post_upgrade", 0.9, served_by="2.0"),
               _dependency("post_upgrade", 0.1), _dependency("post_upgrade", 3.0, dependency="taxes"),
               _dependency("rollback", None)]
    s = summary(dependencies=figures)
    gates = [Gate("retry_rate", None, None, 0.5, None, dependency="payments"),
             Gate("retry_rate", "baseline", None, 0.5, None, dependency="payments"),
             Gate("retry_rate", "rollback", None, 0.5, None), Gate("retry_rate", None, None, 5.0, None)]
    results = evaluate(gates, s)
    assert [(r.observed, r.passed) for r in results] == [(0.9, False), (0.2, True), (None, False), (3.0, True)]
    assert results[0].name == "retry_rate[dependency=payments] <= 0.5"
    assert results[0].dependency == "payments"
    assert [r.observed for r in evaluate(gates[:1], s, phase="baseline")] == [0.2]


def test_the_report_shows_the_dependencies_and_how_the_stubs_answered() -> None:
    settings = [DependencySettings("payments", T0 + 5, 20.0, 0.0, 503, 0.0, True, "action", until=T0 + 8,
                                   phase="post_upgrade")]
    text = render_markdown(summary(dependencies=[_dependency("post_upgrade", 0.25, served_by="2.0")],
                                   dependency_settings=settings))
    assert "## Dependencies" in text
    assert "| payments | post_upgrade | 2.0 | 10 | 8 | 2 | 0.250 | 2 | 0 | 3 | 50 | 100 |" in text
    assert "| 22:13:25 | post_upgrade | payments | outage: no answer | action (until 22:13:28) |" in text
    assert "## Dependencies" not in render_markdown(summary())


def _counted(phase: str, calls: int, retries: int, served_by: str = "1.0") -> DependencyFigures:
    upstream = calls - retries
    return DependencyFigures("payments", phase, served_by, calls, upstream, retries, retries / upstream, 0, 0, 3,
                             retries, 50.0, 100.0, 20.0, 30.0)


def test_a_new_backoff_s_retry_shift_is_judged_against_the_baseline_and_shown_under_drift() -> None:
    timeline = [("baseline", ["soak"]), ("upgrade", ["migrate", "swap"]), ("post_upgrade", ["soak"]),
                ("rollback", ["revert"]), ("post_rollback", ["soak"])]
    figures = with_retry_drift([_counted("baseline", 1400, 180), _counted("upgrade", 300, 200, "2.0"),
                                _counted("post_upgrade", 1800, 660, "2.0"), _counted("post_rollback", 1300, 170)],
                               timeline)
    by_phase = {f.phase: f for f in figures}
    assert by_phase["upgrade"].retry_call is None, "the upgrade itself is not drift"
    worse = by_phase["post_upgrade"]
    assert (worse.retries_against, worse.retry_call) == ("baseline", "worse")
    assert worse.retry_share_a == pytest.approx(180 / 1400) and worse.retry_share_b == pytest.approx(660 / 1800)
    assert worse.retry_p_value is not None and worse.retry_p_value < 1e-30
    assert by_phase["post_rollback"].retry_call == "same"
    text = render_markdown(summary(dependencies=figures))
    assert "| post_upgrade | payments | 2.0 | 12.86% -> 36.67% |" in text
    assert "| post_rollback | payments |" not in text.split("## Drift", 1)[-1].split("\n## ", 1)[0]

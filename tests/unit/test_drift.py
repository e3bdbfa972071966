"""result.drift on synthetic request frames: which soak-only phase's endpoint shifted against the baseline, the
drift_p99_ratio gate that reads it, and the Drift table of summary.md."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.plan import Gate, PlanError, load_plan
from harness.plan.model import DEFAULT_PHASES, drift_phases
from harness.records.summary import TimelineEntry
from harness.report.markdown import render_markdown
from harness.result.drift import drift_table
from harness.verify.gates import evaluate, observe
from tests.unit.builders import drift_row, request_rows, summary

from ..conftest import REPO

T0 = 1_700_000_000.0
DEFAULT_TIMELINE = [(name, list(actions)) for name, actions, _ in DEFAULT_PHASES]


def default_run(orders_post_upgrade_ms: float = 40.0, products_error_every: int = 0,
                extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """Five default phases of 30 s (upgrade and rollback 5 s); /orders at 20 ms and /products at 8 ms, except
    /orders in post_upgrade (`orders_post_upgrade_ms`) and /products' errors there (`products_error_every`)."""
    frames, at = [], T0
    for phase, seconds in (("baseline", 30), ("upgrade", 5), ("post_upgrade", 30), ("rollback", 5),
                           ("post_rollback", 30)):
        post = phase == "post_upgrade"
        frames.append(request_rows(phase, "/orders", at, seconds, latency_ms=orders_post_upgrade_ms if post else 20.0,
                                   seed=len(frames)))
        frames.append(request_rows(phase, "/products", at, seconds, latency_ms=8.0, seed=100 + len(frames),
                                   error_every=products_error_every if post else 0))
        at += seconds
    if extra is not None:
        frames.append(extra)
    return pd.concat(frames, ignore_index=True).sort_values("start", kind="stable").reset_index(drop=True)


def by_key(rows: list) -> dict:
    return {(r.phase, r.endpoint): r for r in rows}


def test_a_doubled_endpoint_in_post_upgrade_is_called_worse_and_named_in_the_table() -> None:
    rows = drift_table(default_run(orders_post_upgrade_ms=40.0), DEFAULT_TIMELINE)
    assert [(r.phase, r.endpoint) for r in rows] == [("post_upgrade", "/orders"), ("post_upgrade", "/products"),
                                                     ("post_rollback", "/orders"), ("post_rollback", "/products")]
    assert {r.against for r in rows} == {"baseline"}
    orders = by_key(rows)[("post_upgrade", "/orders")]
    assert orders.call == "worse" and orders.p95_call == "worse"
    assert orders.ratio == pytest.approx(2.0, rel=0.2) and orders.effect is not None and orders.effect > 0.8
    assert orders.p_value is not None and orders.p_value < 1e-6
    assert orders.seconds_a == 30 and orders.seconds_b == 30 and orders.requests_b == 300
    assert orders.error_call == "same"
    for key in (("post_upgrade", "/products"), ("post_rollback", "/orders"), ("post_rollback", "/products")):
        assert not by_key(rows)[key].shifted, key

    report = render_markdown(summary(drift=rows))
    drift = report.split("## Drift", 1)[1].split("\n## ", 1)[0]
    table = [line for line in drift.splitlines() if line.startswith("| post_")]
    assert len(table) == 1 and table[0].startswith("| post_upgrade | /orders |") and "**worse**" in table[0]
    assert "1 endpoint-phase shifted; 3 same" in drift


def test_more_errors_after_the_upgrade_is_an_error_shift_alone() -> None:
    rows = by_key(drift_table(default_run(orders_post_upgrade_ms=20.0, products_error_every=10), DEFAULT_TIMELINE))
    products = rows[("post_upgrade", "/products")]
    assert (products.errors_a, products.errors_b) == (0, 30)
    assert products.error_rate_b == pytest.approx(0.1) and products.error_call == "worse"
    assert products.error_p_value is not None and products.error_p_value < 1e-6
    assert products.call == "same" and products.shifted
    assert not rows[("post_upgrade", "/orders")].shifted


def test_requests_inside_a_check_window_are_left_out() -> None:
    checks = request_rows("post_upgrade", "/orders", T0 + 40, 10, latency_ms=5000.0, in_check=True)
    rows = by_key(drift_table(default_run(orders_post_upgrade_ms=20.0, extra=checks), DEFAULT_TIMELINE))
    assert rows[("post_upgrade", "/orders")].requests_b == 300
    assert rows[("post_upgrade", "/orders")].call == "same"


def test_an_endpoint_only_one_side_saw_is_too_few_to_judge() -> None:
    only_after = request_rows("post_upgrade", "/new", T0 + 40, 3)
    rows = by_key(drift_table(default_run(extra=only_after), DEFAULT_TIMELINE))
    new = rows[("post_upgrade", "/new")]
    assert (new.requests_a, new.requests_b, new.call, new.error_call) == (0, 30, "too few", "too few")
    assert new.ratio is None


def test_the_reference_is_the_phase_named_baseline_and_only_soak_only_later_phases_are_compared() -> None:
    assert drift_phases(DEFAULT_TIMELINE) == ("baseline", ["post_upgrade", "post_rollback"])
    custom = [("warm", []), ("baseline", ["soak"]), ("expand", ["migrate", "swap"]), ("steady", ["soak", "soak"]),
              ("post_flag", ["set_flag"]), ("contract", ["migrate"]), ("after", [])]
    assert drift_phases(custom) == ("baseline", ["steady", "post_flag", "after"])
    assert drift_phases([("calm", []), ("cutover", ["migrate", "swap"]), ("settle", [])]) == ("calm", ["settle"])
    assert drift_phases([]) == (None, [])


def test_a_timeline_without_a_soak_only_phase_after_the_baseline_has_no_drift() -> None:
    requests = default_run()
    assert drift_table(requests, [("baseline", []), ("upgrade", ["migrate"]), ("rollback", ["revert"])]) == []
    assert drift_table(requests.iloc[:0], DEFAULT_TIMELINE) == []


def drift_gate(max: float, phase: str | None = None, endpoint: str | None = None) -> Gate:
    return Gate(metric="drift_p99_ratio", phase=phase, endpoint=endpoint, max=max, min=None)


def test_the_gate_reads_the_worst_ratio_called_worse() -> None:
    s = summary(drift=[drift_row("post_upgrade", "/orders", "worse", 2.1),
                       drift_row("post_upgrade", "/products", "same", 1.4),  # not significant: noise, not drift
                       drift_row("post_rollback", "/orders", "better", 0.5),
                       drift_row("post_rollback", "/rare", "too few", 9.0)])
    assert observe(drift_gate(1.5), s) == pytest.approx(2.1)
    assert observe(drift_gate(1.5, phase="post_upgrade", endpoint="/products"), s) == 1.0
    assert observe(drift_gate(1.5, phase="post_rollback"), s) == 1.0
    assert observe(drift_gate(1.5, endpoint="/rare"), s) is None, "nothing judged: the gate fails"
    assert observe(drift_gate(1.5, endpoint="/nowhere"), s) is None
    (failed, passed) = evaluate([drift_gate(1.5, phase="post_upgrade"), drift_gate(1.5, phase="post_rollback")], s)
    assert (failed.passed, failed.observed, passed.passed) == (False, pytest.approx(2.1), True)


def test_judging_a_phase_alone_leaves_drift_gates_out_of_phases_drift_does_not_compare() -> None:
    s = summary(drift=[drift_row("post_upgrade", "/orders", "worse", 2.1)],
                timeline=[TimelineEntry(name, list(actions), 1.0) for name, actions in DEFAULT_TIMELINE])
    assert evaluate([drift_gate(1.5)], s, phase="upgrade") == []
    (result,) = evaluate([drift_gate(1.5)], s, phase="post_upgrade")
    assert not result.passed and result.phase == "post_upgrade"


def test_a_drift_gate_on_a_phase_drift_does_not_compare_is_a_plan_error() -> None:
    gates = [{"metric": "drift_p99_ratio", "phase": "upgrade", "max": 1.5}]
    with pytest.raises(PlanError) as error:
        load_plan(REPO / "scenarios" / "shop", {"gates": gates})
    assert "gates[0].phase" in str(error.value) and "post_upgrade, post_rollback" in str(error.value)
    plan = load_plan(REPO / "scenarios" / "shop", {"gates": [dict(gates[0], phase="post_upgrade",
                                                                  endpoint="/orders")]})
    assert plan.gates[0].name == "drift_p99_ratio[post_upgrade,/orders] <= 1.5"

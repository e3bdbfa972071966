"""report.html, junit.xml and the per-second series on hand-built frames and summaries (the real page in a real
browser: tests/test_rehearsal_e2e.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from harness.records.run import RollbackReason, RollbackResult
from harness.records.series import RunSeries, SecondFigures, WaitSpan
from harness.records.summary import Failure, GateResult, SwapFigures
from harness.report.headline import headline
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.result import analysis
from harness.result.series import build_series, per_second
from harness.verify.reasons import CHECKS
from tests.unit.builders import phase_figures, statement_figures, summary
from tests.unit.test_blame import MIGRATION_PID, TIMELINE, blocking_run, frames, request, step

# --- series ---------------------------------------------------------------------------------------------------


def test_per_second_figures_bucket_requests_by_start_and_leave_gaps_empty() -> None:
    rows = [request(0.1, "steady", latency_ms=10.0), request(0.5, "steady", latency_ms=30.0),
            request(0.9, "steady", latency_ms=20.0, error="500", status=500),
            request(2.2, "steady", latency_ms=5.0)]
    seconds = per_second(frames(rows, [], [], TIMELINE), 0.0, 3.0)
    assert [(s.at, s.requests, s.errors) for s in seconds] == [(0.0, 3, 1), (1.0, 0, 0), (2.0, 1, 0)]
    assert seconds[0].p50_ms == 20.0 and seconds[0].p99_ms == pytest.approx(29.8)
    assert seconds[0].errors_by_cause == {"service": 1}, "a failed request without a finer cause is the service's"
    assert seconds[1].p99_ms is None, "a second without requests has no percentiles (a gap, not a zero)"


def test_per_second_leaves_out_requests_inside_the_harness_checks_as_the_phase_figures_do() -> None:
    frame = frames([request(0.2, "steady", latency_ms=900.0), request(0.4, "steady", latency_ms=10.0)], [], [],
                   TIMELINE)
    frame.requests["in_check"] = [True, False]
    (first, *_) = per_second(frame, 0.0, 1.0)
    assert (first.requests, first.p99_ms) == (1, 10.0)


def test_each_wait_is_blamed_on_the_statement_whose_lock_it_waited_for_as_the_statement_table_says() -> None:
    frame = blocking_run()
    statements = analysis.statement_table(frame)
    series = build_series(frame, summary(phases=analysis.phase_table(frame), statements=statements))
    assert series.origin == 0.0 and series.end == 300.0 and len(series.seconds) == 300
    assert {(w.pid, w.seq, w.whose) for w in series.waits} == {(601, 2, "requests"), (602, 2, "requests")}
    blocker = next(s for s in statements if s.seq == 2)
    assert blocker.blocked_backends == len({w.pid for w in series.waits})
    assert max(w.waited_ms for w in series.waits) == blocker.max_wait_ms == 2000.0
    longest = max(series.waits, key=lambda w: w.waited_ms)
    assert (longest.started, longest.ended, longest.running_seq) == (121.0, 123.0, 2)


def test_the_migrations_own_wait_is_its_running_statement() -> None:
    from tests.unit.test_blame import lock

    own = lock(121.0, MIGRATION_PID, 0.8, [700], 700, "migrate", application="rehearse-migrate",
               root_application="shop", mode="AccessExclusiveLock")
    frame = frames([], [own], [step(2, "migrate", 120.0, 125.0, "ALTER TABLE orders ADD COLUMN x int")], TIMELINE)
    (wait,) = build_series(frame, summary(phases=analysis.phase_table(frame))).waits
    assert (wait.whose, wait.seq, wait.running_seq, wait.statement) == (
        "migration", 2, 2, "ALTER TABLE orders ADD COLUMN x int")


def test_a_run_without_phases_has_no_series() -> None:
    frame = frames([], [], [], [])
    assert build_series(frame, summary()) == RunSeries(origin=0.0, end=0.0, seconds=[], waits=[])


# --- report.html ------------------------------------------------------------------------------------------------

T0 = 1_700_000_000.0


def drawn_run() -> tuple:
    phases = [phase_figures("baseline", started=T0, duration_s=4.0),
              phase_figures("upgrade", started=T0 + 4, duration_s=4.0, to_version="2.0", p99_ms=2500.0)]
    sql = "ALTER TABLE orders ADD COLUMN note text -- <script>alert(1)</script>"
    statements = [statement_figures(1, sql, started=T0 + 5, ended=T0 + 5.5, duration_ms=500.0, held_ms=2000.0,
                                    blocked_backends=2, max_wait_ms=1800.0)]
    s = summary(phases=phases, statements=statements, verdict="fail", exit_code=1,
                swaps=[SwapFigures("1.0", "2.0", 0.4, "upgrade", T0 + 7.0, T0 + 7.4)],
                failures=[Failure("gate", "gate p99_ms <= 1000: observed 2500", "upgrade")],
                gates=[GateResult("p99_ms <= 1000", "p99_ms", "upgrade", None, "max", 1000.0, 2500.0, False)])
    seconds = [SecondFigures(T0 + i, 50, 2 if i == 7 else 0, 5.0 + i, 10.0 + i, 20.0 + 300 * (i == 5),
                             {"swap": 2} if i == 7 else {}) for i in range(8)]
    waits = [WaitSpan(600 + k, "shop-1.0", "requests", "AccessShareLock", "orders", T0 + 5.1, T0 + 6.9, 1800.0,
                      "upgrade", 1, sql, 1) for k in range(2)]
    return s, RunSeries(origin=T0, end=T0 + 8, seconds=seconds, waits=waits)


def svgs(page: str) -> dict[str, ET.Element]:
    """Each chart's <svg>, parsed, by the id of its figure."""
    found = re.findall(r"<figure class='chart' id='chart-(\w+)'>(<svg.*?</svg>)", page, flags=re.S)
    return {name: ET.fromstring(svg) for name, svg in found}


def data_paths(svg: ET.Element) -> dict[str, int]:
    """gid of each data artist -> the points its paths draw."""
    drawn: dict[str, int] = {}
    for group in svg.iter("{http://www.w3.org/2000/svg}g"):
        gid = group.get("id", "")
        if gid.startswith("data-"):
            paths = [p.get("d", "") for p in group.iter("{http://www.w3.org/2000/svg}path")]
            drawn[gid] = sum(len(re.findall(r"[ML]", d)) for d in paths)
    return drawn


def test_the_page_is_self_contained_and_every_chart_draws_its_data() -> None:
    s, series = drawn_run()
    page = render_html(s, series)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?https?:""", page), \
        "nothing to fetch: the page opens offline"
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    charts = svgs(page)
    assert set(charts) == {"latency", "throughput", "locks"}
    lines = data_paths(charts["latency"])
    assert {"data-p50", "data-p95", "data-p99"} <= set(lines) and min(lines.values()) >= 8
    assert data_paths(charts["throughput"])["data-rps"] >= 8 and data_paths(charts["throughput"])["data-errors-swap"]
    waits = {k: v for k, v in data_paths(charts["locks"]).items() if k.startswith("data-wait-requests")}
    assert len(waits) == 2 and all(waits.values()), "one lane per waiting backend"
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "no id is shared by two charts of the page"
    for text in ("FAIL", "Why it failed", "p99_ms &lt;= 1000", "swap 1.0→2.0", "pid 600", "Rollback safe"):
        assert text in page, text


def test_a_partial_run_says_so_and_a_run_without_phases_has_no_chart() -> None:
    from harness.records.run import Stop

    s, _ = drawn_run()
    page = render_html(replace(s, phases=[], stopped=Stop("environment", "the database went away"),
                               reached_stage="seed"), RunSeries(0.0, 0.0, [], []))
    assert "Partial report" in page and "the database went away" in page and "<svg" not in page


# --- junit.xml --------------------------------------------------------------------------------------------------


def test_junit_has_a_case_per_gate_and_per_rollback_check_with_limit_observed_and_reasons() -> None:
    s, _ = drawn_run()
    reason = RollbackReason("data_destroyed", "column public.orders.note dropped with 12 values", {"lost": 12.0},
                            ["public.orders.note: x x12"])
    s = replace(s, gates=[*s.gates, GateResult("downtime_s <= 5", "downtime_s", None, None, "max", 5.0, None, True),
                          GateResult("rollback_safe >= 1", "rollback_safe", None, None, "min", 1.0, 0.0, False)],
                rollback=RollbackResult(safe=False, checked=True, phase="rollback", reasons=[reason]))
    root = ET.fromstring(render_junit(s))
    gates, rollback, run = root.findall("testsuite")
    assert [c.get("name") for c in gates.findall("testcase")] == ["p99_ms <= 1000", "downtime_s <= 5",
                                                                   "rollback_safe >= 1"]
    assert [c.find("failure").get("message") for c in gates.findall("testcase") if c.find("failure") is not None] \
        == ["must be at most 1000, observed 2500", "must be at least 1, observed 0"]
    cases = {c.get("name"): c for c in rollback.findall("testcase")}
    assert list(cases) == list(CHECKS)
    failure = cases["data_destroyed"].find("failure")
    assert failure is not None and failure.get("message") == reason.message and "lost = 12" in (failure.text or "")
    assert cases["rows_lost"].find("skipped") is not None, "no table checked: nothing to check"
    assert cases["schema_not_back"].find("failure") is None and cases["schema_not_back"].find("skipped") is None
    assert (gates.get("tests"), gates.get("failures"), rollback.get("failures")) == ("3", "2", "1")
    assert root.get("tests") == str(3 + len(CHECKS) + 1) and root.get("failures") == "4"
    assert run.find("testcase/failure") is not None


def test_junit_when_the_rollback_check_did_not_run_skips_every_check_and_a_passing_run_fails_nothing() -> None:
    root = ET.fromstring(render_junit(summary(rollback=RollbackResult(safe=False, checked=False,
                                                                      error="the run stopped before it"))))
    skipped = root.findall("testsuite[@name='rehearse.rollback']/testcase/skipped")
    assert len(skipped) == len(CHECKS) and "the run stopped before it" in skipped[0].get("message", "")
    assert ET.fromstring(render_junit(summary())).get("failures") == "0"


# --- summary.md's first screen -----------------------------------------------------------------------------------


def test_summary_md_shows_verdict_key_numbers_and_failures_first_and_folds_the_rest() -> None:
    s, _ = drawn_run()
    md = render_markdown(s)
    first, rest = md.split("<details>", 1)
    assert first.startswith("# Rehearsal shop 1.0 -> 2.0: **FAIL**")
    assert "| p99 | failed requests |" in first and "## Why it failed" in first and "observed 2500" in first
    assert "## Gates" in first, "the heading stays, its table is folded"
    assert "| p99_ms <= 1000 |" in rest
    assert md.count("<details>") == md.count("</details>") == md.count("\n## ") - 1
    assert dict(headline(s))["gates"] == "1 of 1 failed"

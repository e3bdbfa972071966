"""report.html: one self-contained page per run (inline CSS and SVG charts; no script, no external resource),
rendered from the typed Summary and the run's time series (records.series). Nothing is computed here."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from harness.records.series import RunSeries, WaitSpan
from harness.records.summary import StatementFigures, Summary
from harness.report import charts
from harness.report.headline import headline, rollback_verdict
from harness.report.markdown import _num, _result, _trivial

LONGEST_WAITS = 15
MAX_SQL = 140

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1220px;margin:0 auto;padding:20px 24px 40px;background:#fff}
h1{font-size:24px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#59636e;font-size:13px;margin:0 0 12px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:15px;vertical-align:middle;color:#fff}
.pass{background:#116329}.fail{background:#a40e26}
.partial{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;border-radius:6px;margin:8px 0}
.numbers{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.number{border:1px solid #d0d7de;border-radius:6px;padding:6px 12px;min-width:120px}
.number b{display:block;font-size:12px;color:#59636e;font-weight:normal}.number span{font-size:16px}
ul.failures li{margin:3px 0}
figure{margin:14px 0 6px}figure svg{width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#59636e;margin:2px 0 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0 10px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#ffebe9}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{background:#f6f8fa;padding:8px;overflow-x:auto}.ok{color:#116329}.no{color:#a40e26;font-weight:bold}
details summary{cursor:pointer;color:#0969da;margin:4px 0}
"""


def render_html(s: Summary, series: RunSeries) -> str:
    """The whole page."""
    title = f"Rehearsal {s.scenario} {s.from_version} → {s.to_version}"
    body = [f"<h1>{escape(title)} <span class='badge {s.verdict}'>{s.verdict.upper()}</span></h1>",
            _meta(s), *_partial(s), _numbers(s), *_failures(s), *_charts(s, series), *_gates(s), *_rollback(s),
            *_phases(s), *_endpoints(s), *_statements(s), *_waits(s, series), *_swaps(s), *_errors(s), *_files(s)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}: {s.verdict.upper()}</title><style>{CSS}</style></head>\n"
            "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")


def _meta(s: Summary) -> str:
    parts = [f"environment <code>{escape(s.environment)}</code>", f"started {escape(s.started)}",
             f"{s.duration_s:.0f} s", f"exit code {s.exit_code}"]
    if s.server is not None:
        parts.append(f"PostgreSQL {escape(s.server.version)}")
    parts.append(f"{s.load.users} users")
    return "<p class='meta'>" + " · ".join(parts) + "</p>"


def _partial(s: Summary) -> list[str]:
    if s.stopped is None:
        return []
    where = f"stage <code>{escape(s.reached_stage or '-')}</code>" + (
        f", phase <code>{escape(s.reached_phase)}</code>" if s.reached_phase else "")
    return [f"<div class='partial'><b>Partial report</b>: the run stopped early ({escape(s.stopped.kind)}: "
            f"{escape(s.stopped.message)}); it reached {where}.</div>"]


def _numbers(s: Summary) -> str:
    cards = [f"<div class='number'><b>{escape(label)}</b><span>{escape(value)}</span></div>"
             for label, value in headline(s)]
    return "<div class='numbers'>" + "".join(cards) + "</div>"


def _failures(s: Summary) -> list[str]:
    if not s.failures:
        return []
    return ["<h2>Why it failed</h2>", "<ul class='failures'>" + "".join(
        f"<li><b>{escape(f.kind.replace('_', ' '))}</b>" + (f" ({escape(f.phase)})" if f.phase else "")
        + f": {escape(f.message)}</li>" for f in s.failures) + "</ul>"]


def _charts(s: Summary, series: RunSeries) -> list[str]:
    if not series.seconds:
        return ["<h2>Over time</h2>", "<p>No phase of the timeline started: nothing to draw.</p>"]
    return ["<h2>Over time</h2>",
            _figure("latency", charts.latency_chart(s, series),
                    "Latency of the requests started in each second (p50, p95, p99). Shaded: the phases; pink: the "
                    "service swaps (stop to healthy); hatched: the harness's own checks, whose requests are left "
                    "out, as in the phase figures."),
            _figure("throughput", charts.throughput_chart(s, series),
                    "Requests started per second, and failed requests per second by cause (a swap window, the "
                    "migration's statements, the service itself)."),
            _figure("locks", charts.lock_wait_chart(s, series),
                    "Lock waits per migration statement: grey while the statement ran; each bar a backend's wait, "
                    "one lane per backend, blamed on the statement that took the lock it waited for (else the one "
                    "running when it began).")]


def _figure(name: str, svg: str, caption: str) -> str:
    return f"<figure class='chart' id='chart-{name}'>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _gates(s: Summary) -> list[str]:
    out = ["<h2>Gates</h2>"]
    if not s.gates:
        return [*out, "<p>No gates in the plan.</p>"]
    out.append(_table(["gate", "limit", "observed", "result"], (
        ([g.name, _num(g.limit), _num(g.observed), _verdict(g.passed, "pass", "FAIL")], not g.passed)
        for g in s.gates)))
    if s.default_gates:
        out.append("<p>The plan has no [[gates]]: these are the default ones (docs/gates.md).</p>")
    return out


def _rollback(s: Summary) -> list[str]:
    rollback = s.rollback
    verdict = rollback_verdict(s)
    out = ["<h2>Rollback</h2>", "<p>Rollback safe: " + _verdict(rollback.safe, verdict, verdict)
           + (f" ({escape(rollback.error)})" if not rollback.checked and rollback.error else "")
           + (f", checked in <code>{escape(rollback.phase)}</code>" if rollback.checked and rollback.phase else "")
           + "</p>"]
    if rollback.reasons:
        out.append("<ul class='failures'>" + "".join(
            f"<li><b>{escape(r.check.replace('_', ' '))}</b>: {escape(r.message)}"
            + (f"<br><small>e.g. {escape('; '.join(r.samples[:5]))}</small>" if r.samples else "") + "</li>"
            for r in rollback.reasons) + "</ul>")
    if rollback.schema_diff:
        out.append(f"<details><summary>Schema differs from the baseline ({len(rollback.schema_diff)} lines: "
                   "- only before, + left after, ~ changed)</summary><pre>"
                   + escape("\n".join(rollback.schema_diff)) + "</pre></details>")
    if rollback.data_changes:
        out.append("<details><summary>Rows of the checked tables</summary>" + _table(
            ["table", "compared with", "rows before", "rows after", "lost", "changed",
             "lost of those written mid-upgrade"],
            (([d.table, d.compared_with, d.rows_before, d.rows_after, d.lost, d.changed, d.lost_written_during_upgrade],
              bool(d.lost or d.changed)) for d in rollback.data_changes)) + "</details>")
    return out


def _phases(s: Summary) -> list[str]:
    return ["<h2>Phases</h2>", _table(
        ["phase", "versions", "seconds", "requests", "RPS", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms",
         "max ms"],
        (([p.name, f"{p.from_version} → {p.to_version}", _num(p.duration_s), p.requests,
           _num(p.rps) if p.requests else "-", p.errors, f"{p.error_rate:.2%}" if p.requests else "-",
           _num(p.p50_ms), _num(p.p95_ms), _num(p.p99_ms), _num(p.max_ms)], bool(p.errors)) for p in s.phases))]


def _endpoints(s: Summary) -> list[str]:
    if not s.endpoints:
        return []
    return ["<h2>Endpoints</h2>", _table(
        ["phase", "endpoint", "requests", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        (([e.phase, e.name, e.requests, e.errors, f"{e.error_rate:.2%}", _num(e.p50_ms), _num(e.p95_ms),
           _num(e.p99_ms), _num(e.max_ms)], bool(e.errors)) for e in s.endpoints))]


def _statements(s: Summary) -> list[str]:
    visible = [t for t in s.statements if not (t.chatter or _trivial(t))]
    if not visible:
        return []
    hidden = len(s.statements) - len(visible)
    return ["<h2>Migration statements</h2>", _table(
        ["phase", "#", "statement", "ms", "result", "locks", "held to COMMIT ms", "blocked backends",
         "longest wait ms", "held-up requests (lock / slow)", "failed requests"],
        (([t.phase, t.seq, _code(t.sql), _num(t.duration_ms), _result(t),
           ", ".join(str(x) for x in (t.lock_records or []) if not x.is_index), _num(t.held_ms), t.blocked_backends,
           _num(t.max_wait_ms), f"{t.blocked_requests} ({t.held_up_by_lock} / {t.held_up_slow})", t.failed_requests],
          _hurt(t)) for t in visible))] + (
        [f"<p>{hidden} statements of the migration tools' own held nobody up; summary.json lists them.</p>"]
        if hidden else [])


def _waits(s: Summary, series: RunSeries) -> list[str]:
    waits = s.lock_waits
    out = ["<h2>Lock waits</h2>", f"<p>{waits.count} distinct waits, longest {_num(waits.max_ms)} ms, "
           f"{_num(waits.total_ms)} ms in total.</p>"]
    longest = sorted(series.waits, key=lambda w: -w.waited_ms)[:LONGEST_WAITS]
    if longest:
        out.append(_table(["at s", "phase", "who waited", "lock", "waited ms", "blamed on", "running then"], (
            ([_num(w.started - series.origin), w.phase, _who(w), f"{w.mode or ''} {w.relation or ''}".strip(),
              _num(w.waited_ms), _code(f"#{w.seq} {w.statement}") if w.seq is not None else "-",
              f"#{w.running_seq}" if w.running_seq is not None else "-"], False) for w in longest)))
    if waits.longest_chain:
        out.append("<details><summary>Longest chain sampled (root first)</summary>" + _table(
            ["pid", "role", "application", "state", "lock", "waited ms", "query"],
            (([c.pid, c.role, c.application or "", c.state or "", f"{c.mode or ''} {c.relation or ''}".strip(),
               _num(c.waiting_ms), _code(c.query or "")], False) for c in waits.longest_chain)) + "</details>")
    return out


def _swaps(s: Summary) -> list[str]:
    if not s.swaps:
        return []
    return ["<h2>Service swaps</h2>", _table(
        ["phase", "versions", "strategy", "stopped at s", "downtime s", "failed requests"],
        (([w.phase or "-", f"{w.from_version} → {w.to_version}", w.strategy,
           _num(w.stopped_at - s.phases[0].started) if w.stopped_at is not None and s.phases else "-",
           f"{w.downtime_s:.2f}", w.failed_requests], bool(w.failed_requests)) for w in s.swaps))]


def _errors(s: Summary) -> list[str]:
    if not s.errors:
        return []
    return ["<h2>Errors</h2>", _table(
        ["phase", "endpoint", "SQLSTATE", "meaning", "cause", "errors", "HTTP status"],
        (([e.phase, e.name, e.sqlstate, e.meaning, e.cause + (f" (#{', #'.join(map(str, e.steps))})" if e.steps
                                                              else ""),
           e.errors, ", ".join(f"{'no response' if k == '0' else k} ×{n}" for k, n in e.statuses.items())
           or (e.status or "no response")], True) for e in s.errors))]


def _files(s: Summary) -> list[str]:
    if not s.artifacts:
        return []
    return ["<h2>Files of this run</h2>", "<p>" + ", ".join(f"<code>{escape(v)}</code>" for v in s.artifacts.values())
            + "</p>"]


class _Markup(str):
    """Text already escaped (code spans, verdict marks)."""


def _code(sql: str) -> _Markup:
    text = " ".join(sql.split())
    return _Markup(f"<code>{escape(text if len(text) <= MAX_SQL else text[:MAX_SQL - 1] + '…')}</code>")


def _verdict(ok: bool, yes: str, no: str) -> _Markup:
    return _Markup(f"<span class='ok'>{escape(yes)}</span>" if ok else f"<span class='no'>{escape(no)}</span>")


def _who(w: WaitSpan) -> str:
    return f"{w.application or '?'} (pid {w.pid}, {w.whose})"


def _hurt(t: StatementFigures) -> bool:
    return bool(t.error or t.blocked_requests or t.failed_requests)


def _table(header: list[str], rows: Iterable[tuple[list[Any], bool]]) -> str:
    """A table; a row flagged True is shaded (it failed or hurt)."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"
    lines = []
    for cells, bad in rows:
        tds = "".join(_cell(c) for c in cells)
        lines.append(f"<tr class='bad'>{tds}</tr>" if bad else f"<tr>{tds}</tr>")
    return "<table>" + head + "".join(lines) + "</table>"


def _cell(value: Any) -> str:
    if isinstance(value, _Markup):
        return f"<td>{value}</td>"
    numeric = isinstance(value, int | float) or (isinstance(value, str) and value.replace(".", "", 1).replace(
        ",", "").lstrip("-").isdigit())
    return f"<td class='n'>{escape(str(value))}</td>" if numeric else f"<td>{escape(str(value))}</td>"

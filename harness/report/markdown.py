"""summary.md: the run's summary for people, rendered from the typed Summary (nothing is computed here)."""

from __future__ import annotations

import time
from typing import Any

from harness.records.summary import StatementFigures, Summary
from harness.report.headline import headline, rollback_verdict

MAX_SQL = 90
TOOL_CHATTER = ("select", "show", "set", "savepoint", "release", "begin", "rollback")


def render_markdown(s: Summary) -> str:
    """The whole report as Markdown, most decisive facts first."""
    out = [f"# Rehearsal {s.scenario} {s.from_version} -> {s.to_version}: **{s.verdict.upper()}**", ""]
    out.append(f"Environment `{s.environment}`, started {s.started}, {s.duration_s:.0f} s, "
               f"exit code {s.exit_code}." + (f" Incomplete: {s.incomplete}." if s.incomplete else "")
               + (f" Stopped in phase `{s.reached_phase}`." if s.stopped and s.reached_phase else ""))
    out += _headline(s)
    if s.server is not None:
        out += ["", f"Server: PostgreSQL {s.server.version} ({s.server.source})"
                + (f"; extensions: {', '.join(s.server.extensions_installed)}" if s.server.extensions_installed
                   else "") + "."]
    if s.stopped is not None:
        out += ["", f"**Partial report**: the run stopped early ({s.stopped.kind}: {s.stopped.message}); it reached "
                f"stage `{s.reached_stage or '-'}`" + (f", phase `{s.reached_phase}`" if s.reached_phase else "") + "."]
    if s.failures:
        out += ["", "## Why it failed", "", *[f"- **{f.kind.replace('_', ' ')}**"
                                               + (f" ({f.phase})" if f.phase else "") + f": {f.message}"
                                               for f in s.failures]]
    if s.faults:
        out += ["", "## Faults", "", _table(["at", "phase", "fault", "what happened", "run stopped"], [
            [_clock(f.at), f.phase or "-", f.kind, f.message, "yes" if f.fatal else "no"] for f in s.faults])]
    out += ["", "## Gates", "", _table(["gate", "limit", "observed", "result"], [
        [g.name, _num(g.limit), _num(g.observed), "pass" if g.passed else "**FAIL**"] for g in s.gates])
        if s.gates else "No gates in the plan."]
    if s.default_gates:
        out += ["", "The plan has no [[gates]]: these are the default ones (docs/gates.md)."]
    out += ["", f"Migration errors: **{s.migration_errors}** failed steps"
            + (f"; {s.migration_retries} lock_timeout attempts failed and were retried (not errors)"
               if s.migration_retries else "") + "."]
    out += ["", "## Phases", "", _table(
        ["phase", "versions", "seconds", "requests", "RPS", "errors", "error rate", "p50 ms", "p95 ms", "p99 ms",
         "max ms"],
        [[p.name, f"{p.from_version} -> {p.to_version}", _num(p.duration_s), p.requests,
          _num(p.rps) if p.requests else "-", p.errors,
          f"{p.error_rate:.2%}" if p.requests else "-", _num(p.p50_ms), _num(p.p95_ms), _num(p.p99_ms),
          _num(p.max_ms)] for p in s.phases])]
    out += _arrivals(s)
    if s.actions:
        out += ["", "Timeline: " + "; ".join(
            f"{a.phase}: {a.name}" + ("" if a.status == "ok" else f" **{a.status}**")
            + (f" ({a.message})" if a.message else "") for a in s.actions) + "."]
    for f in s.failed_reverts:
        out += ["", f"**Down-migrations failed** in {f.phase} ({f.error}); revert on_failure = {f.on_failure}: "
                + (f"{f.served_after} kept serving, on the schema they left." if f.served_after == f.serving_before
                   else f"{f.served_after} served from then on, on the schema they left (not the one it was "
                   "written for).")]
    for c in s.contention:
        target = c.table or " ".join((c.query or "").split())
        out += ["", f"Contention injected: {c.kind.replace('_', ' ')} on `{target}` from the start of "
                f"{c.phase} for {c.seconds:g} s" + (f", {c.lead_s:g} s before its first action" if c.lead_s else "")
                + (f" (failed: {c.error})" if c.error else "") + "."]
    out += _packages(s)
    out += ["", f"Downtime (service swaps, stop to healthy): **{s.downtime_s:.2f} s**"
            + "".join(f"; {w.from_version} -> {w.to_version}: {w.downtime_s:.2f} s"
                      + (f" ({w.strategy})" if w.strategy != "restart" else "")
                      + (f", {_count(w.failed_requests, 'failed request')}" if w.failed_requests else "")
                      for w in s.swaps)]
    out += ["", f"Outage (the service did not answer: failed health probes, refused requests): **{s.outage_s:.2f} s**"
            + "".join(f"; {o.phase or '-'} at {_clock(o.started)}: {o.seconds:.2f} s ({o.source})"
                      for o in s.outages[:10])]
    causes = [f"{p.name}: " + ", ".join(f"{cause} {n}" for cause, n in sorted(p.errors_by_cause.items()))
              for p in s.phases if p.errors_by_cause]
    if causes:
        out += ["", "Failed requests by cause (a swap window, the migration's statements, the service itself): "
                + "; ".join(causes) + "."]
    if len(s.upgrades) > 1:
        out += ["", "## Migration phases side by side", "", _table(
            ["phase", "direction", "steps", "failed", "ms", "longest wait ms", "held-up requests", "failed requests",
             "phase p99 ms", "phase errors"],
            [[u.phase, u.direction, u.steps, u.failed_steps, _num(u.duration_ms), _num(u.max_wait_ms),
              u.blocked_requests, u.failed_requests, _num(u.p99_ms), u.errors] for u in s.upgrades])]
    out += _causes(s)
    if s.top_offenders:
        out += ["", "## Blast radius: the statements that hurt traffic most, per phase", ""]
        for phase in dict.fromkeys(t.phase for t in s.top_offenders):
            out += [f"{phase}:", "", _table(
                ["rank", "#", "statement", "held-up requests (lock / slow)", "longest wait ms", "added p99 ms",
                 "failed requests"],
                [[t.rank or "-", t.seq, _sql(t.sql), f"{t.blocked_requests} ({t.held_up_by_lock} / {t.held_up_slow})",
                  _num(t.max_wait_ms), _num(t.added_p99_ms), t.failed_requests]
                 for t in s.top_offenders if t.phase == phase]), ""]
    visible = [t for t in s.statements if not (t.chatter or _trivial(t))]
    hidden = len(s.statements) - len(visible)
    out += ["", "## Migration statements", "",
            "Locks: taken by the statement. Blocked backends: sessions whose lock wait began during the statement "
            "and involved the migration's backend. Held-up requests: requests during the statement that waited on "
            "a lock it caused, or took at least "
            f"{s.held_up_rule.factor:g} times their endpoint's baseline p99 and {s.held_up_rule.margin_ms:g} ms more "
            "(shown as by lock / slow).", "", _table(
                ["phase", "#", "statement", "ms", "result", "locks", "held to COMMIT ms", "rewrites",
                 "blocked backends", "longest wait ms", "held-up requests", "failed requests"],
                [[t.phase, t.seq, _sql(t.sql), _num(t.duration_ms),
                  _result(t), ", ".join(str(x) for x in (t.lock_records or []) if not x.is_index), _num(t.held_ms),
                  ", ".join(t.rewrites or []), t.blocked_backends, _num(t.max_wait_ms),
                  f"{t.blocked_requests} ({t.held_up_by_lock} / {t.held_up_slow})",
                  t.failed_requests] for t in visible])]
    if hidden:
        out += ["", f"{_count(hidden, 'statement')} of the migration tools' own (version checks, SHOW, SET, "
                "savepoints, catalog reflection, their bookkeeping table) held nobody up; summary.json lists them."]
    if s.invalid_indexes:
        out += ["", f"Invalid indexes left behind by a failed build: {', '.join(s.invalid_indexes)}"]
    if s.lint_check:
        out += ["", "## Lint predictions vs what happened", "", _table(
            ["phase", "#", "statement", "predicted", "observed", "verdict"],
            [[c.phase, c.seq, _sql(c.sql),
              ", ".join(c.predicted_locks + [f"rewrite {r}" for r in c.predicted_rewrites]) or "-",
              ", ".join(c.observed_locks + [f"rewrite {r}" for r in c.observed_rewrites])
              + (f" (held: {', '.join(c.held_locks)})" if c.held_locks != c.observed_locks else "") or "-",
              c.verdict + (f" ({'; '.join(c.differences)})" if c.differences else "")] for c in s.lint_check])]
    if s.errors:
        out += ["", "## Errors", "", _table(
            ["phase", "endpoint", "SQLSTATE", "meaning", "cause", "errors", "HTTP status"],
            [[e.phase, e.name, e.sqlstate + (" (server log)" if e.sqlstate_source == "server log" else ""),
              e.meaning, e.cause + (f" (#{', #'.join(map(str, e.steps))})" if e.steps else ""), e.errors,
              _statuses(e.statuses) or (e.status or "no response")] for e in s.errors])]
    if s.lock_order_risks:
        out += ["", "## Deadlock risks: lock order", "",
                "The migration locks these tables in the opposite order to the service's own transactions: when "
                "both are half-way at once, each waits for the other and PostgreSQL kills one (40P01), "
                "whether or not this run hit that moment (rehearse run --repeat N says how often).", "", _table(
                    ["tables", "migration takes", "service takes", "service transactions seen", "deadlocks this run"],
                    [[", ".join(r.tables), " then ".join(r.migration_order), " then ".join(r.app_order),
                      f"{r.app_transactions} ({', '.join(r.applications)})", r.deadlocks_observed]
                     for r in s.lock_order_risks])]
    waits = s.lock_waits
    out += ["", "## Lock waits", "",
            f"{_count(waits.count, 'wait')}, longest {_num(waits.max_ms)} ms, {_num(waits.total_ms)} ms in total."]
    if waits.longest_chain:
        out += ["", "Longest chain (root first):", "", _table(
            ["pid", "role", "application", "state", "lock", "waited ms", "query"],
            [[c.pid, c.role, c.application or "", c.state or "", f"{c.mode or ''} {c.relation or ''}".strip(),
              _num(c.waiting_ms), _sql(c.query or "")] for c in waits.longest_chain])]
    rollback = s.rollback
    if rollback.checked:
        verdict = f"Rollback safe: **{'yes' if rollback.safe else 'NO'}**"
    else:
        verdict = f"Rollback safe: **not checked** ({rollback.error or 'the run did not get that far'})"
    out += ["", "## Rollback", "", verdict]
    if rollback.reasons:
        out += ["", "Why not:", ""] + [f"- **{r.check.replace('_', ' ')}**: {r.message}"
                                       + (f" (e.g. {'; '.join(r.samples[:3])})" if r.samples else "")
                                       for r in rollback.reasons]
    out += _rollback_details(s)
    if rollback.schema_diff:
        out += ["", "Schema differs from the baseline (- only before, + left after, ~ changed):", "", "```",
                *rollback.schema_diff, "```"]
    if rollback.data_changes:
        out += [""]
        out.append(_table(["table", "compared with", "rows before", "rows after", "lost", "changed",
                           "lost of those written mid-upgrade", "missing columns"], [
            [d.table, d.compared_with, d.rows_before, d.rows_after, d.lost, d.changed, d.lost_written_during_upgrade,
             ", ".join(d.missing_columns)] for d in rollback.data_changes]))
        for d in rollback.data_changes:
            if d.changed_columns:
                out += ["", f"`{d.table}` (rows matched by {', '.join(d.key_columns) or 'primary key'}, compared with "
                        f"{d.compared_with}): changed " + "; ".join(
                            f"`{column}` in {n} row{'s' if n != 1 else ''}"
                            + (f" (e.g. {', '.join(d.column_examples.get(column, [])[:3])})"
                               if d.column_examples.get(column) else "")
                            for column, n in sorted(d.changed_columns.items(), key=lambda item: -item[1]))]
    out += _drift(s)
    out += _dependencies(s)
    out += ["", "## Endpoints", "", _table(
        ["phase", "endpoint", "requests", "errors", "p50 ms", "p95 ms", "p99 ms"],
        [[e.phase, e.name, e.requests, e.errors, _num(e.p50_ms), _num(e.p95_ms), _num(e.p99_ms)]
         for e in s.endpoints])]
    out += _profile_mix(s)
    if s.observer_errors:
        out += ["", "Observer errors: " + "; ".join(s.observer_errors)]
    if s.artifacts:
        out += ["", "Frames: " + ", ".join(f"`{v}`" for v in s.artifacts.values())]
    out.append("")
    return _fold(s, "\n".join(out))


FIRST_SCREEN = ("Why it failed",)  # sections left open; every other one is folded in a <details> block


def _headline(s: Summary) -> list[str]:
    """The few key numbers (report.headline) as a one-row table, under the verdict line."""
    pairs = headline(s)
    return ["", _table([label for label, _ in pairs], [[value for _, value in pairs]])]


def _fold(s: Summary, text: str) -> str:
    """summary.md for a pull-request comment: the verdict, key numbers and failures on the first screen, the
    body of every other section folded (GitHub-flavoured <details>) under its heading."""
    out: list[str] = []
    folded = False
    for line in text.split("\n"):
        if line.startswith("## "):
            if folded:
                out += ["</details>", ""]
            title = line[3:]
            folded = title not in FIRST_SCREEN
            out.append(line)
            if folded:
                out += ["", f"<details><summary>{_gist(s, title)}</summary>"]
            continue
        out.append(line)
    if folded:
        out[-1:] = ["</details>", ""] if out and out[-1] == "" else [*out[-1:], "</details>", ""]
    return "\n".join(out)


def _profile_mix(s: Summary) -> list[str]:
    """The load's mix against the production profile it followed (load.profile)."""
    mix = s.profile_mix
    if mix is None:
        return []
    worst = "" if mix.max_relative_difference is None else (
        f"; endpoints of 5% share or more: at most {mix.max_relative_difference:.1%} off their share, relative")
    return ["", "## Traffic mix against the profile", "",
            f"`{mix.profile}`: {_count(mix.requests, 'request')} sent; the largest difference "
            f"{mix.max_difference * 100:.2f} percentage points{worst}.", "",
            _table(["endpoint", "requests", "profile share", "achieved share", "difference (points)", "relative"],
                   [[e.endpoint, e.requests, f"{e.profile_share:.2%}", f"{e.achieved_share:.2%}",
                     f"{e.difference * 100:+.2f}",
                     "-" if e.relative_difference is None else f"{e.relative_difference:+.1%}"]
                    for e in mix.endpoints])]


def _gist(s: Summary, title: str) -> str:
    """The one-line summary of a folded section (what opening it shows)."""
    failed = sum(1 for g in s.gates if not g.passed)
    gists = {"Gates": f"{_count(len(s.gates), 'gate')}, {failed} failed",
             "Phases": f"{_count(len(s.phases), 'phase')}, {sum(p.requests for p in s.phases):,} requests",
             "Migration statements": _count(len(s.statements), "statement"),
             "Errors": _count(sum(e.errors for e in s.errors), "failed request"),
             "Lock waits": f"{_count(s.lock_waits.count, 'wait')}, longest {_num(s.lock_waits.max_ms)} ms",
             "Rollback": f"safe: {rollback_verdict(s)}",
             "Endpoints": _count(len(s.endpoints), "row"),
             "Faults": _count(len(s.faults), "fault"),
             "Migration phases side by side": _count(len(s.upgrades), "phase"),
             "Blast radius": _count(len(s.top_offenders), "statement"),
             "Lint predictions": _count(len(s.lint_check), "statement"),
             "Deadlock risks": _count(len(s.lock_order_risks), "pair") + " of tables",
             "Packages": _count(len(s.packages), "package"),
             "Requests by cause": "per phase: statements, swap, service",
             "Drift": f"{sum(1 for r in s.drift if r.shifted)} shifted of {_count(len(s.drift), 'row')}"
             + "".join(f"; {d.dependency} retries {d.retry_call} in {d.phase} ({d.served_by})" for d in s.dependencies
                       if d.retry_call in ("better", "worse")),
             "Traffic mix": "the load's mix against the profile",
             "Dependencies": _count(len(s.dependencies), "row") + " of calls to the stubs"}
    return next((gist for name, gist in gists.items() if title.startswith(name)), "details")


def _arrivals(s: Summary) -> list[str]:
    """Which load model ran; for the open model, arrivals meant, sent, answered and dropped per phase."""
    load = s.load
    workers = f" on {load.workers + load.remote_workers} Locust workers" if load.workers + load.remote_workers else ""
    if load.model != "open":
        return ["", f"Load: closed model, {load.users} users{workers}."] if workers else []
    rates = ([f"{_num(load.rate)}/s" ] if load.rate else []) + [f"{name} {_num(r)}/s" for name, r in load.rates.items()]
    tolerance = _num(s.arrivals[0].late_tolerance_ms) if s.arrivals else "-"
    return ["", f"Load: open model, {', '.join(rates)}{workers}"
            + (f", ramp {_num(load.ramp_s)} s" if load.ramp_s else "")
            + f", at most {load.max_concurrency} in flight; latency counts from each request's intended start. "
            f"Late: sent more than {tolerance} ms after it.", "", _table(
                ["phase", "intended", "sent", "completed", "dropped", "late", "max delay ms"],
                [[a.phase, a.intended, a.sent, a.completed, a.dropped, a.late, _num(a.max_delay_ms)]
                 for a in s.arrivals])]


def _result(statement: StatementFigures) -> str:
    """ok, or the error (a retried lock_timeout attempt says so)."""
    if not _text(statement.error):
        return "ok"
    text = f"{_text(statement.sqlstate) or 'error'}: {_text(statement.error)}"
    return f"{text} (retried)" if statement.retried else text


def _causes(s: Summary) -> list[str]:
    """Per phase, requests and waits by what they are blamed on (only phases where a migration or a swap ran)."""
    blamed = {r.phase for r in s.causes if r.cause in ("statements", "swap") and r.endpoint is None and r.requests}
    rows = [r for r in s.causes if r.endpoint is None and r.cause != "all" and r.phase in blamed
            and (r.requests or r.seconds)]
    if not rows:
        return []
    waits = {(w.phase, w.cause): w for w in s.waits if w.whose == "requests"}
    return ["", "## Requests by cause", "",
            "statements: requests that overlapped a migration statement; swap: a service swap (stopped to healthy); "
            "service: neither. Held up: by lock / slow (see Migration statements).", "", _table(
                ["phase", "cause", "seconds", "requests", "errors", "p99 ms", "held-up requests (lock / slow)",
                 "longest request wait ms"],
                [[r.phase, r.cause, _num(r.seconds), r.requests, r.errors, _num(r.p99_ms),
                  f"{r.held_up_requests} ({r.held_up_by_lock} / {r.held_up_slow})",
                  _num(waits[(r.phase, r.cause)].max_ms) if (r.phase, r.cause) in waits else "-"] for r in rows])]
def _drift(s: Summary) -> list[str]:
    """Soak-only phases against the baseline: the endpoints that shifted, then how many did not; the retries to
    the dependency stubs that shifted."""
    retries = [d for d in s.dependencies if d.retry_call in ("better", "worse")]
    if not s.drift and not retries:
        return []
    out = ["", "## Drift"]
    if s.drift:
        shifted = [r for r in s.drift if r.shifted]
        calls = [r.call for r in s.drift if not r.shifted]  # same, or too few (seconds) to judge
        rest = ", ".join(f"{calls.count(c)} {c}" for c in ("same", "too few") if calls.count(c))
        out += ["", f"Each soak-only phase against {s.drift[0].against}, per endpoint: per-second p95 and p99 "
                "(medians over the seconds; Mann-Whitney U, rank-biserial effect r) and the error rate (Fisher's exact "
                "test); a call needs p < 0.01 and a shift that matters."]
        if shifted:
            out += ["", _table(
                ["phase", "endpoint", "p95 ms", "p95", "p99 ms", "p99 ratio", "p99 p / r", "p99", "error rate",
                 "errors p", "errors"],
                [[r.phase, r.endpoint, f"{_num(r.p95_a_ms)} -> {_num(r.p95_b_ms)}", _call(r.p95_call),
                  f"{_num(r.p99_a_ms)} -> {_num(r.p99_b_ms)}", _ratio(r.ratio),
                  f"{_p(r.p_value)} / {_num(r.effect)}", _call(r.call),
                  f"{_rate(r.error_rate_a)} -> {_rate(r.error_rate_b)}", _p(r.error_p_value), _call(r.error_call)]
                 for r in shifted])]
        out += ["", (f"{_count(len(shifted), 'endpoint-phase')} shifted; " if shifted else "Nothing shifted: ")
                + f"{rest or 'no other'} (summary.json `drift` has every row)."]
    if retries:
        out += ["", f"Retries to the dependency stubs against {retries[0].retries_against} (the share of calls that "
                "were retries; Fisher's exact test):", "",
                _table(["phase", "dependency", "version", "retries of calls", "p", "retries"],
                       [[d.phase, d.dependency, d.served_by, f"{_rate(d.retry_share_a)} -> {_rate(d.retry_share_b)}",
                         _p(d.retry_p_value), _call(d.retry_call or "")] for d in retries])]
    return out


def _call(call: str) -> str:
    return f"**{call}**" if call == "worse" else call


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _rollback_details(s: Summary) -> list[str]:
    """What the rollback check measured beyond its verdict: leftovers allowed, acknowledged writes, migrations,
    the re-upgrade, mixed versions, flags, and the time the checks took."""
    rollback, out = s.rollback, []
    if rollback.allowed_leftovers:
        out += ["", "Left in place on purpose (the release's allow_leftover): "
                + "; ".join(line[2:] for line in rollback.allowed_leftovers)]
    for a in rollback.acknowledged:
        out += ["", f"Acknowledged writes to `{a.table}`: {a.acknowledged} acknowledged, {a.lost_in_database} of "
                f"{a.checked_in_database} missing in the database"
                + (f", {a.lost_through_api} of {a.checked_through_api} not found through `{a.url}`"
                   f" ({a.api_errors} other answers)" if a.url else "")
                + (" (by phase: " + ", ".join(f"{p} {n}" for p, n in a.by_phase.items()) + ")" if a.by_phase else "")
                + "."]
    m = rollback.migration
    if m is not None and (m.upgrade != "ok" or m.down_failed or m.partial or m.versions):
        out += ["", f"Migrations: upgrade {m.upgrade}, {m.steps_ran} statements committed"
                + (f"; failed at {m.failed_step}" if m.failed_step else "")
                + (f"; partly applied: {', '.join(m.partial)}" if m.partial else "")
                + f"; undone: {', '.join(m.undone) or 'nothing'}"
                + (f"; down-migration failed: {m.down_failed}" if m.down_failed else "")
                + f"; serving after the rollback: {m.serving}."]
        if m.versions:
            out += [f"`{m.version_table}`: " + "; ".join(f"{k}: {', '.join(v) or 'empty'}"
                                                         for k, v in m.versions.items())]
    r = rollback.reupgrade
    if r is not None:
        out += ["", f"Upgrade applied again in `{r.phase}`: " + ("clean, same schema as the first time." if r.clean
                else f"{len(r.errors)} failed steps, {len(r.schema_differences)} schema differences.")]
    for g in rollback.regressions:
        out += ["", f"After the rollback `{g.name}` failed {g.errors} of {g.requests} ({g.error_rate:.1%}; baseline "
                f"{g.baseline_error_rate:.1%}, p = {g.p_value:.2g})" + (": " + " / ".join(f"`{b}`" for b in g.bodies)
                                                                         if g.bodies else "")]
    if rollback.config_diff or rollback.flags_diff:
        out += ["", "Configuration not back:", "", "```", *rollback.config_diff, *rollback.flags_diff, "```"]
    served: dict[str, set[str]] = {}
    for v in s.versions:
        served.setdefault(v.phase, set()).add(v.version)
    mixed = [v for v in s.versions if len(served[v.phase]) > 1]  # phases one version served alone say nothing new
    if mixed:
        out += ["", "Mixed versions (requests tagged by the version that served them, in the phases where more than "
                "one did):", "", _table(
                    ["phase", "version", "endpoint", "requests", "errors", "error rate", "p99 ms"],
                    [[v.phase, v.version, v.name, v.requests, v.errors, f"{v.error_rate:.2%}", _num(v.p99_ms)]
                     for v in mixed])]
    for f in s.flags:
        out += ["", f"Flag `{f.name}` set to {f.value} in {f.phase}: " + (
            f"the service showed it after {f.seen_after_s:.2f} s" if f.seen_after_s is not None
            else f"not seen ({f.error or 'no probe'})") + "."]
    if s.check_windows:
        out += ["", f"The checks took {sum(w.seconds for w in s.check_windows):.2f} s ("
                + ", ".join(f"{w.name} {w.seconds:.2f} s" for w in s.check_windows)
                + "); requests started meanwhile are left out of the phase figures ("
                + f"{sum(p.excluded_requests for p in s.phases)} requests)."]
    return out


def _packages(s: Summary) -> list[str]:
    """Releases from packages: the quarantine applied (and reverted), what the stub received, the cleanup."""
    if not (s.packages or s.quarantine or s.cleanup):
        return []
    out = ["", "## Packages", "", _table(
        ["release", "package", "source", "sha256", "findings", "blocking"],
        [[p.version, p.name, f"`{p.source}`", (p.sha256 or "-")[:16], p.findings, p.blocking] for p in s.packages])]
    if s.quarantine:
        reverted = sum(q.reverted for q in s.quarantine)
        out += ["", f"Quarantine applied for the rehearsal ({len(s.quarantine)} actions, {reverted} reverted after):",
                "", _table(["release", "action", "where", "what", "result"], [
                    [q.release, q.kind, f"`{q.target}`", q.detail,
                     q.status + (", reverted" if q.reverted else ", **not reverted**")
                     + (f" ({q.message})" if q.message else "")] for q in s.quarantine])]
    if s.stub_traffic:
        out += ["", "The local stub received (instead of the hosts the package names): " + "; ".join(
            f"`{t.host}`: {t.requests} requests ({', '.join(f'{m} {n}' for m, n in t.methods.items())})"
            for t in s.stub_traffic) + "."]
    elif s.quarantine:
        out += ["", "The local stub received no request."]
    if s.cleanup:
        header = ["release", "phase", "step", "kind", "ran", "check", "result"]
        out += ["", "Post-upgrade cleanup:", "", _table(header, [
            [c.release, c.phase, c.name, c.kind, f"`{c.action}`", f"`{c.check}` saw {c.observed}",
             "ok" if c.status == "ok" else f"**FAILED**: {c.message}"] for c in s.cleanup])]
    return out


def _dependencies(s: Summary) -> list[str]:
    """The service's calls to its dependency stubs: retries and backoffs per phase and calling version, and how
    each stub was made to answer."""
    if not (s.dependencies or s.dependency_settings):
        return []
    out = ["", "## Dependencies", "", "Calls the service made to the stubs of its third-party APIs, by the version "
           "that made them (a retry repeats an upstream request's correlation id; a backoff is the gap from an "
           "attempt's answer to the next attempt):", "", _table(
               ["dependency", "phase", "version", "calls", "upstream requests", "retries", "retry rate", "failed calls",
                "gave up", "max attempts", "backoff p50 ms", "backoff p95 ms"],
               [[d.dependency, d.phase, d.served_by, d.calls, d.upstream_requests, d.retries,
                 "-" if d.retry_rate is None else f"{d.retry_rate:.3f}", d.failed_calls, d.gave_up, d.max_attempts,
                 _num(d.backoff_p50_ms), _num(d.backoff_p95_ms)] for d in s.dependencies])]
    if not s.dependencies:
        out += ["", "The service made no call to them."]
    if s.dependency_settings:
        out += ["", "How the stubs answered:", "", _table(["at", "phase", "dependency", "answers", "set by"], [
            [_clock(c.at), c.phase or "-", c.dependency, _stub_answers(c.outage, c.latency_ms, c.error_rate, c.status,
                                                                       c.error_burst_ms),
             c.source + (f" (until {_clock(c.until)})" if c.until else "")] for c in s.dependency_settings])]
    return out


def _stub_answers(outage: bool, latency_ms: float, error_rate: float, status: int, burst_ms: float) -> str:
    if outage:
        return "outage: no answer"
    errors = f"{error_rate:.0%} {status}" + (f" in {burst_ms:g} ms bursts" if burst_ms and error_rate else "")
    return f"after {latency_ms:g} ms; errors {errors}"


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def _trivial(statement: StatementFigures) -> bool:
    """A migration tool's own chatter (version checks, SHOW, savepoints) that took no time and hurt nobody."""
    return (statement.origin == "traced" and statement.sql.split(" ", 1)[0].lower() in TOOL_CHATTER
            and (statement.duration_ms or 0) < 1 and not statement.lock_records
            and not (statement.blocked_backends or statement.blocked_requests or statement.failed_requests))


def _statuses(statuses: dict[str, int]) -> str:
    """Every HTTP status of a group with its count; 0 is a request that got no response (refused, reset)."""
    return ", ".join(f"{'no response' if code == '0' else code} ×{n}" for code, n in statuses.items())


def _text(value: Any) -> str | None:
    """A value that may be missing (None or NaN) as text, or None."""
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: Any) -> str:
    """Numbers as people read them: no false precision, and no small value rounded away (0.001 stays 0.001)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:.0f}"
        if value.is_integer():
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _sql(sql: str) -> str:
    sql = " ".join(sql.split())
    return f"`{sql if len(sql) <= MAX_SQL else sql[:MAX_SQL - 1] + '…'}`"

"""`rehearse`: run a rehearsal, check a plan, rebuild a report, lint migrations, build/sign/preflight packages.

Exit codes: 0 gates passed; 1 gates failed; 2 bad input (plan, package, arguments); 3 environment failure;
4 the harness itself failed (one line, and the log with the traceback); 130 interrupted (Ctrl-C / SIGTERM),
after teardown and with what was recorded written out. Every failure ends here, as one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from harness.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EXIT_GATES_FAILED,
    EXIT_HARNESS_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PASS,
    EnvironmentFailure,
    InputError,
)
from harness.core.signals import held_signals
from harness.core.streams import read_json_lines
from harness.core.text import one_line
from harness.package import cli as package_cli
from harness.plan import ENVIRONMENT_KINDS, NETWORK_MODES, Plan, SqlMigrations, load_plan, parse_override
from harness.plan.packages import PACKAGES_DIR, unpacked
from harness.records.run import Stop
from harness.rundir import RUN_LOG, RunDir


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and exit 2, like every other bad input
        print(f"rehearse: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rehearse", description="Rehearse a database + service upgrade and rollback under load.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run a full rehearsal of a plan")
    _plan_arguments(run)
    run.add_argument("--out", type=Path, help="parent directory of the run directory (default: ./reports)")
    run.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="rehearse N times, each on a fresh copy, and report how often each outcome occurred")
    run.add_argument("--baseline", type=Path, metavar="RUN_DIR",
                     help="compare the run against this earlier run directory (rehearse compare) and exit 1 when it "
                          "is worse beyond the thresholds")
    _threshold_arguments(run)
    run.add_argument("--progress", choices=("auto", "rich", "plain", "none"), default="auto",
                     help="the live view while it runs: phase, time left, rps, p99, errors, lock waits (auto: rich "
                          "on a terminal, else a plain line on stdout every 10 s)")
    check = commands.add_parser("check", help="validate a plan and print what a run would do, starting nothing")
    _plan_arguments(check)
    report = commands.add_parser("report", help="rebuild every output of a run directory from its streams")
    report.add_argument("run_dir", type=Path, help="a run directory (reports/<run id>)")
    report.add_argument("--phase", help="judge the gates on this phase alone (as if the run were that phase): "
                        "print the verdict and exit with its code, writing nothing")
    lint = commands.add_parser("lint", help="lint migrations statically (exit 1 when a dangerous one is found, or "
                                            "when a scenario's migrations could not be read)")
    lint.add_argument("path", type=Path, help="a SQL file, a migrations directory, or a scenario")
    facts = lint.add_mutually_exclusive_group()
    facts.add_argument("--dsn", metavar="URL", help="read table facts (sizes, types, what is used) from this "
                       "loopback database: read-only; the password is never printed")
    lint.add_argument("--plan", metavar="PLAN", help="the plan the migrations run with: its runner's lock_timeout "
                      "counts, and without --dsn or --facts the table facts come from its seeded database (built in "
                      "a throwaway local PostgreSQL, then removed)")
    facts.add_argument("--facts", metavar="FILE", type=Path, help="table facts a rehearsal wrote: "
                       "RUN_DIR/streams/table_facts.json, or the run directory")
    lint.add_argument("--run", dest="run_dir", type=Path, metavar="RUN_DIR",
                      help="scenario: read the SQL migration commands ran from this rehearsal (default: the newest "
                           "rehearsal of the plan under ./reports) when they cannot print it offline")
    compare = commands.add_parser("compare", help="compare run directories: each later one against the first "
                                                  "(exit 1 when one is worse beyond the thresholds)")
    compare.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR", help="run directories (reports/<run id>)")
    compare.add_argument("--json", type=Path, metavar="FILE", help="also write the comparison as JSON")
    compare.add_argument("--md", type=Path, metavar="FILE", help="also write the comparison as Markdown")
    _threshold_arguments(compare)
    matrix = commands.add_parser("matrix", help="rehearse one plan once per target version (--to, repeatable) from "
                                                "the same baseline, and compare the versions")
    _plan_arguments(matrix, many_targets=True)
    matrix.add_argument("--out", type=Path, help="directory of the runs and the comparison (default: "
                                                 "./reports/matrix-<timestamp>)")
    _threshold_arguments(matrix)
    package_cli.add_commands(commands)
    commands.add_parser("cleanup", help="remove what dead runs left behind (processes, temp dirs, containers)")
    _profile_arguments(commands.add_parser("profile", help="build a production profile (endpoint mix, rates, "
                                           "concurrency, think times) from access logs, for load.profile"))
    return parser


def _profile_arguments(command: argparse.ArgumentParser) -> None:
    from harness.profile.build import SESSION_GAP_S
    from harness.profile.parse import FORMATS

    command.add_argument("logs", nargs="+", type=Path, metavar="ACCESS_LOG",
                         help="nginx/Apache combined logs or JSON lines (.gz too)")
    command.add_argument("-o", "--out", type=Path, default=Path("profile.toml"), help="default: ./profile.toml")
    command.add_argument("--format", choices=FORMATS, default="auto", help="default: auto (by the first lines)")
    command.add_argument("--session-gap", type=float, default=SESSION_GAP_S, metavar="S",
                         help=f"a client silent longer than this starts a new session (default: {SESSION_GAP_S:g})")


def _plan_arguments(command: argparse.ArgumentParser, many_targets: bool = False) -> None:
    command.add_argument("plan", help="scenario directory or its rehearsal.toml")
    command.add_argument("--env", choices=ENVIRONMENT_KINDS, help="where to run (default: the plan's, else auto)")
    command.add_argument("--from", dest="from_version",
                         help="version (or package: FILE.zip, DIR) to upgrade from (default: the plan's)")
    if many_targets:
        command.add_argument("--to", dest="to_versions", action="append", required=True, metavar="VERSION",
                             help="a version (or package: FILE.zip, DIR) to upgrade to: one rehearsal each "
                                  "(repeatable, at least two)")
    else:
        command.add_argument("--to", dest="to_version",
                             help="version (or package: FILE.zip, DIR) to upgrade to (default: the plan's)")
    command.add_argument("--network", choices=NETWORK_MODES, help="docker: container networking mode")
    command.add_argument("--postgres-image", metavar="TAG",
                         help="docker: PostgreSQL image (default: the plan's environment.postgres_image)")
    command.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                         help="override a plan value, e.g. --set load.users=10 --set seed.rows=50000 (repeatable)")
    command.add_argument("--allow-targets", action="store_true",
                         help="confirm the hosts of the plan's [targets] allow (a staging database the harness did "
                              "not start); without it such a plan is refused")


def main(argv: list[str] | None = None) -> int:
    """The error boundary: every failure becomes one line on stderr and its documented exit code."""
    try:
        args = build_parser().parse_args(argv)
        signal.signal(signal.SIGTERM, _interrupt)
        command: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
        return command(args)
    except InputError as exc:
        print(f"rehearse: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EnvironmentFailure as exc:
        print(f"rehearse: environment failure: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        print("rehearse: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug of the harness: one line, the traceback in a log
        log = Path(tempfile.gettempdir()) / f"rehearse-error-{time.strftime('%Y%m%dT%H%M%S')}.log"
        log.write_text("".join(traceback.format_exception(exc)))
        print(f"rehearse: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]} "
              f"(traceback: {log})", file=sys.stderr)
        return EXIT_HARNESS_ERROR


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load(args: argparse.Namespace) -> Plan:
    overrides: dict[str, Any] = dict(parse_override(text) for text in args.overrides)
    for key, value in (("versions.from", args.from_version), ("versions.to", args.to_version),
                       ("environment.kind", args.env), ("environment.network", args.network),
                       ("environment.postgres_image", args.postgres_image)):
        if value is not None:
            is_file = key.startswith("versions.") and Path(value).exists()  # a package, relative to here
            overrides[key] = str(Path(value).resolve()) if is_file else value
    return load_plan(args.plan, overrides, targets_confirmed=args.allow_targets)


def _run(args: argparse.Namespace) -> int:
    from harness.environments.preflight import preflight
    from harness.observe import live
    from harness.timeline.actions import compile_timeline

    baseline = _baseline(args)
    plan = _load(args)
    phases = compile_timeline(plan)
    # Everything a run needs that is known before it starts (binaries, extensions, runtimes, images' labels); an
    # engine that does not answer stays an environment failure (exit 3), as the environment reports it.
    checked = preflight(plan)
    for problem in checked.problems:
        if problem.key != "environment.kind":
            raise problem
    live.use(args.progress)
    if args.repeat != 1:
        return _repeat(args, plan, phases)
    print(f"rehearsal: {plan.scenario} {plan.from_version} -> {plan.to_version}", flush=True)
    code, run_dir = _rehearse_once(plan, phases, args.out)
    return code if baseline is None else _against_baseline(baseline, run_dir, code, _thresholds(args))


def _rehearse_once(plan: Plan, phases: Any, out: Path | None) -> tuple[int, Path]:
    """One rehearsal and its report: (exit code, run directory)."""
    from harness.report.write import mark_interrupted, write_report
    from harness.timeline.run import rehearse

    outcome = rehearse(plan, phases, plan.environment, out, say=lambda line: print(line, flush=True))
    summary = None
    stopped_by_input = outcome.stop is not None and outcome.stop.kind == "input"
    if outcome.environment and not stopped_by_input:  # an environment came up: there are streams to report on
        print("writing the report", flush=True)
        with held_signals() as caught:  # a report cut short is worse than one that takes a second more
            try:
                summary = write_report(outcome.plan or plan, outcome.run)
            except Exception as exc:  # noqa: BLE001 - the streams stay on disk; `rehearse report` can retry
                print(f"rehearse: could not write the report ({type(exc).__name__}: {one_line(str(exc), 200)}); "
                      f"the raw streams are in {outcome.run.path / 'streams'} (rehearse report {outcome.run.path})",
                      file=sys.stderr)
            if caught and outcome.stop is None:
                outcome.stop = Stop("interrupted", "interrupted while the report was written")
                if summary is not None:
                    with contextlib.suppress(OSError):
                        summary = mark_interrupted(outcome.plan or plan, outcome.run, summary, outcome.stop)
    stop = outcome.stop
    if stop is not None:
        message = {"interrupted": "interrupted; everything it started has been stopped",
                   "environment": f"environment failure: {stop.message}",
                   "input": stop.message,
                   "crash": f"internal error: {stop.message}"}[stop.kind]
        print(f"rehearse: {message}", file=sys.stderr)
        if summary is not None:
            print(f"partial report: {outcome.run.path / 'summary.md'}", file=sys.stderr)
        from harness.verify.verdict import STOP_EXIT_CODES

        return STOP_EXIT_CODES[stop.kind], outcome.run.path
    if summary is None:
        return EXIT_HARNESS_ERROR, outcome.run.path
    return _print_verdict(summary, outcome.run), outcome.run.path


def _repeat(args: argparse.Namespace, plan: Plan, phases: Any) -> int:
    """Rehearse `--repeat` times on fresh copies; stop at the first run that could not run to its end."""
    from harness.repeat import Repetition, frequencies, outcomes_of, repeat_dir, write_repeat

    if not 1 <= args.repeat <= 1000:
        raise InputError("--repeat", "", f"must be between 1 and 1000, got {args.repeat}")
    parent = repeat_dir(plan, args.out)
    repetitions: list[Repetition] = []
    worst = 0
    for index in range(1, args.repeat + 1):
        print(f"rehearsal {index} of {args.repeat}: {plan.scenario} {plan.from_version} -> {plan.to_version}",
              flush=True)
        code, run_dir = _rehearse_once(plan, phases, parent)
        summary_file = run_dir / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"verdict": "fail"}
        repetitions.append(Repetition(index, str(run_dir), code, str(summary.get("verdict")), outcomes_of(summary)))
        worst = max(worst, code)
        if code not in (EXIT_PASS, EXIT_GATES_FAILED):
            print(f"rehearse: run {index} did not run to its end (exit code {code}): the repeat stops here",
                  file=sys.stderr)
            break
    report = write_repeat(parent, plan, repetitions)
    print(f"outcomes of {len(repetitions)} runs:")
    for outcome, count in frequencies(repetitions):
        print(f"  {outcome}: {count} of {len(repetitions)}")
    print(f"repeat report: {report}")
    return worst


def _print_verdict(summary: Any, run: RunDir | None) -> int:
    print(f"verdict: {summary.verdict.upper()}  (exit code {summary.exit_code})")
    for failure in summary.failures:
        print(f"  {'failed gate' if failure.kind == 'gate' else failure.kind.replace('_', ' ')}: "
              f"{failure.message.removeprefix('gate ')}")
    if run is not None:
        print(f"report: {run.path / 'summary.md'}")
    return int(summary.exit_code)


def _check(args: argparse.Namespace) -> int:
    from harness.environments.preflight import preflight
    from harness.timeline.actions import compile_timeline, describe_timeline

    plan = _load(args)
    phases = compile_timeline(plan)
    checked = preflight(plan)
    print(f"plan: {plan.path}")
    print(f"rehearsal: {plan.scenario} {plan.from_version} -> {plan.to_version} "
          f"(environment {plan.environment}, {plan.users} users, {plan.seed_rows} seed rows)")
    for line in checked.lines:
        print(line)
    print("timeline:")
    for line in describe_timeline(plan, phases):
        print(f"  {line}")
    for gate in plan.gates:
        print(f"gate: {gate.name}" + (" (default: the plan has no [[gates]])" if plan.default_gates else ""))
    for note in checked.notes:
        print(f"note: {note}")
    for problem in checked.problems:
        print(f"rehearse: {problem}", file=sys.stderr)
    return EXIT_BAD_INPUT if checked.problems else 0


def _report(args: argparse.Namespace) -> int:
    from harness.report.write import write_report

    run_dir: Path = args.run_dir.resolve()
    started = next((row for row in read_json_lines(run_dir / "streams" / RUN_LOG) if row.get("event") == "run"), None)
    if started is None or not started.get("plan"):
        raise InputError(run_dir, "", f"not a run directory (no streams/{RUN_LOG} naming its plan)")
    plan = load_plan(started["plan"], started.get("overrides") or {}, targets_confirmed=True)  # starts nothing
    if (run_dir / PACKAGES_DIR).is_dir():  # the copies the run made of its package releases
        plan = unpacked(plan, run_dir, unpack=False)
    run = RunDir(run_dir, run_dir.name)
    if args.phase is None:
        run.release_reserve()
        return _print_verdict(write_report(plan, run), run)
    from harness.plan.reader import did_you_mean
    from harness.result.build import build_summary
    from harness.verify.verdict import judge

    if args.phase not in plan.phase_names:
        raise InputError(run_dir, "--phase", f"no phase {args.phase!r} in the run's timeline"
                         f"{did_you_mean(args.phase, plan.phase_names)}")
    summary, _ = build_summary(plan, run)
    judged = judge(plan, summary, phase=args.phase)
    print(f"phase {args.phase} alone:")
    return _print_verdict(judged, None)


def _cleanup(_args: argparse.Namespace) -> int:
    from harness.cleanup import remove_dead_runs, remove_stale_docker

    removed = remove_dead_runs()
    try:
        removed += remove_stale_docker()
    except Exception as exc:  # noqa: BLE001 - the local part is done; say why the docker part is not
        print(f"rehearse: docker cleanup failed: {type(exc).__name__}: {one_line(str(exc), 160)}", file=sys.stderr)
    for line in removed:
        print(f"removed {line}")
    if not removed:
        print("nothing to clean up: no dead run left anything behind")
    return 0


def _profile(args: argparse.Namespace) -> int:
    from harness.profile.build import build_profile
    from harness.profile.parse import read_log
    from harness.profile.store import write_profile

    if args.session_gap <= 0:
        raise InputError("--session-gap", "", f"must be > 0, got {args.session_gap:g}")
    logs = [read_log(path, args.format) for path in args.logs]
    profile = build_profile(logs, args.session_gap)
    write_profile(profile, args.out)
    for log in logs:
        skipped = f", {log.unparsed} unparsable line(s) skipped" if log.unparsed else ""
        print(f"{log.path}: {log.format}, {len(log.entries)} requests{skipped}")
    peak = profile.concurrency
    print(f"{args.out}: {profile.requests} requests over {profile.span_s:g} s, {len(profile.endpoints)} endpoints; "
          f"peak {peak.peak_requests_per_s} req/s, ~{peak.peak_users:g} users (from {peak.method})")
    for item in profile.endpoints[:10]:
        print(f"  {item.share:6.1%}  {item.rate_per_s:8.2f}/s  {item.endpoint}")
    if len(profile.endpoints) > 10:
        print(f"  ... {len(profile.endpoints) - 10} more in {args.out}")
    return 0


def _lint(args: argparse.Namespace) -> int:
    from harness.lint import format_findings, has_danger, lint_path  # noqa: I001 - pglast loads only for lint
    from harness.lint.context import LintContext

    path: Path = args.path
    plan = load_plan(args.plan) if args.plan else load_plan(path) if (path / "rehearsal.toml").is_file() else None
    facts = _lint_facts(args, plan)
    covered = _sql_dirs_with_lock_timeout(plan)
    if facts is None:
        print("no table facts (give --dsn, --plan or --facts): sizes unknown, so every rewrite, scan and index "
              "build of an existing table counts as dangerous")
    else:
        hot = sum(1 for t in facts.tables.values() if t.touched)
        print(f"table facts: {facts.source}: {len(facts.tables)} tables"
              + (f", {hot} used by the load ({facts.touched_source})" if facts.touched_source else
                 ", what the load uses is not known"))
    def context_of(file: Path) -> LintContext:
        return LintContext(facts, file.resolve().parent in covered)

    if plan is not None and (path / "rehearsal.toml").is_file():
        return _lint_scenario(plan, args.run_dir, context_of)
    findings = lint_path(path, context_of)
    print(format_findings(findings) if findings else f"{path}: no dangerous statement found")
    if findings:
        dangers = sum(1 for f in findings if f.severity == "danger")
        print(f"{dangers} danger{'s' if dangers != 1 else ''}, {len(findings) - dangers} "
              f"warning{'s' if len(findings) - dangers != 1 else ''}")
    return 1 if has_danger(findings) else 0


def _lint_scenario(plan: Plan, run_dir: Path | None, context_of: Callable[[Path], Any]) -> int:
    """Every release's migrations, SQL files (with the table facts, in the order they run) or what its
    migration tool would run; says what it read."""
    from harness.lint import format_findings, has_danger, lint_path
    from harness.scenario_lint import lint_scenario

    sources = lint_scenario(plan, run_dir)
    danger = False
    for source in sources:
        findings = lint_path(Path(source.where), context_of) if source.how == "sql" else source.findings
        where = f'releases."{source.release}" {source.direction}'
        if not source.checked:
            print(f"{where}: NOT CHECKED: {source.problem}")
            continue
        what = {"sql": "SQL files in", "offline": "the SQL it would run, printed offline by",
                "traced": "the SQL traced during"}[source.how]
        verdict = "dangerous statements found" if has_danger(findings) else \
            "warnings" if findings else "no dangerous statement found"
        print(f"{where}: {len(source.statements)} statement{'s' if len(source.statements) != 1 else ''} read from "
              f"{what} {source.where}: {verdict}")
        if source.how != "sql":
            for sql in source.statements:
                print(f"    {' '.join(sql.split())[:160]}")
        if findings:
            print(format_findings(findings))
        danger = danger or has_danger(findings)
    unchecked = [s for s in sources if not s.checked]
    if unchecked:
        print(f"not checked: {', '.join(f'{s.release} {s.direction}' for s in unchecked)}: nothing is reported clean "
              "that was not read")
    return 1 if danger or unchecked else 0


def _lint_facts(args: argparse.Namespace, plan: Plan | None) -> Any:
    """The table facts the lint was given (lint.facts.Facts), or None."""
    from harness import facts_source

    if args.dsn:
        return facts_source.facts_from_dsn(args.dsn)
    if args.facts:
        return facts_source.load_facts(args.facts)
    if args.plan and plan is not None:
        return facts_source.facts_from_plan(plan)
    return None


def _sql_dirs_with_lock_timeout(plan: Plan | None) -> set[Path]:
    """Migration directories that the plan runs with a lock_timeout (the runner sets it)."""
    if plan is None:
        return set()
    return {r.migrations.dir for r in plan.releases.values()
            if isinstance(r.migrations, SqlMigrations) and r.migrations.options.lock_timeout_ms}


def _threshold_arguments(command: argparse.ArgumentParser) -> None:
    """The thresholds of a comparison (harness.compare.judge.Thresholds; docs/compare.md)."""
    from harness.compare.judge import Thresholds

    t = Thresholds()
    group = command.add_argument_group("comparison thresholds (docs/compare.md)")
    group.add_argument("--alpha", type=float, default=t.alpha, help=f"significance level (default {t.alpha:g})")
    group.add_argument("--min-ratio", type=float, default=t.min_ratio,
                       help=f"a latency shift smaller than this ratio of medians is the same (default {t.min_ratio:g})")
    group.add_argument("--min-effect", type=float, default=t.min_effect,
                       help=f"a rank-biserial effect smaller than this is the same (default {t.min_effect:g})")
    group.add_argument("--min-rate-diff", type=float, default=t.min_rate_diff,
                       help=f"error rates closer than this are the same (default {t.min_rate_diff:g})")
    group.add_argument("--lock-wait-ms", type=float, default=t.lock_wait_ms,
                       help=f"the longest lock wait may grow by this much (default {t.lock_wait_ms:g} ms)")
    group.add_argument("--lock-wait-total-ms", type=float, default=t.lock_wait_total_ms,
                       help=f"the total lock wait may grow by this much (default {t.lock_wait_total_ms:g} ms)")
    group.add_argument("--downtime-s", type=float, default=t.downtime_s,
                       help=f"downtime may grow by this much (default {t.downtime_s:g} s)")


def _thresholds(args: argparse.Namespace) -> Any:
    from harness.compare.judge import Thresholds

    checks = (("--alpha", args.alpha, 0 < args.alpha < 1, "between 0 and 1"),
              ("--min-ratio", args.min_ratio, args.min_ratio >= 1, "at least 1"),
              ("--min-effect", args.min_effect, 0 <= args.min_effect <= 1, "between 0 and 1"),
              ("--min-rate-diff", args.min_rate_diff, 0 <= args.min_rate_diff <= 1, "between 0 and 1"),
              ("--lock-wait-ms", args.lock_wait_ms, args.lock_wait_ms >= 0, "at least 0"),
              ("--lock-wait-total-ms", args.lock_wait_total_ms, args.lock_wait_total_ms >= 0, "at least 0"),
              ("--downtime-s", args.downtime_s, args.downtime_s >= 0, "at least 0"))
    for flag, value, ok, allowed in checks:
        if not ok:
            raise InputError(flag, "", f"must be {allowed}, got {value:g}")
    return Thresholds(args.alpha, args.min_ratio, args.min_effect, args.min_rate_diff, args.lock_wait_ms,
                      args.lock_wait_total_ms, args.downtime_s)


def _compare(args: argparse.Namespace) -> int:
    from harness.compare import render
    from harness.compare.judge import compare_runs
    from harness.compare.runs import load_run

    if len(args.run_dirs) < 2:
        raise InputError("compare", "", "give at least two run directories (each later one is compared against "
                                        "the first)")
    thresholds = _thresholds(args)
    first, *later = [load_run(path) for path in args.run_dirs]
    comparisons = [compare_runs(first, run, thresholds) for run in later]
    for comparison in comparisons:
        render.print_comparison(comparison, sys.stdout)
    if args.json:
        _write_output(args.json, render.dumps(render.comparisons_json(comparisons)))
    if args.md:
        _write_output(args.md, render.comparisons_markdown(comparisons))
    return EXIT_GATES_FAILED if any(c.verdict == "worse" for c in comparisons) else EXIT_PASS


def _baseline(args: argparse.Namespace) -> Any:
    """The --baseline run's figures, loaded (and so checked) before the run starts; None without --baseline."""
    if args.baseline is None:
        return None
    from harness.compare.runs import load_run

    if args.repeat != 1:
        raise InputError("--baseline", "", "cannot be combined with --repeat (compare the runs of a repeat with "
                                           "rehearse compare)")
    _thresholds(args)  # bad thresholds are bad input before the run, not after it
    return load_run(args.baseline)


def _against_baseline(baseline: Any, run_dir: Path, code: int, thresholds: Any) -> int:
    """The run's exit code, or 1 when it ran to its end and is worse than the baseline (the compare table printed)."""
    from harness.compare import render
    from harness.compare.judge import compare_runs
    from harness.compare.runs import load_run

    if code not in (EXIT_PASS, EXIT_GATES_FAILED):
        print(f"rehearse: not compared with the baseline {baseline.path}: the run did not run to its end",
              file=sys.stderr)
        return code
    comparison = compare_runs(baseline, load_run(run_dir), thresholds)
    print(f"against the baseline {baseline.path}:")
    render.print_comparison(comparison, sys.stdout)
    (run_dir / "baseline.md").write_text(render.comparisons_markdown([comparison]))
    return EXIT_GATES_FAILED if comparison.verdict == "worse" else code


def _matrix(args: argparse.Namespace) -> int:
    """One rehearsal per --to, one after another, the same plan, --from and overrides; then the comparison."""
    from harness.compare import render
    from harness.compare.matrix import compare_versions
    from harness.compare.runs import load_run
    from harness.environments.preflight import preflight
    from harness.timeline.actions import compile_timeline

    targets: list[str] = args.to_versions
    if len(targets) < 2 or len(set(targets)) != len(targets):
        raise InputError("--to", "", f"give at least two different versions, got {', '.join(targets)}")
    thresholds = _thresholds(args)
    plans = []
    for target in targets:  # every plan checked before the first rehearsal starts
        plan = _load(argparse.Namespace(**{**vars(args), "to_version": target}))
        phases = compile_timeline(plan)
        for problem in preflight(plan).problems:
            if problem.key != "environment.kind":
                raise problem
        plans.append((plan, phases))
    out = (args.out or Path.cwd() / "reports" / f"matrix-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs, worst = [], EXIT_PASS
    for index, (plan, phases) in enumerate(plans, 1):
        print(f"rehearsal {index} of {len(plans)}: {plan.scenario} {plan.from_version} -> {plan.to_version}",
              flush=True)
        code, run_dir = _rehearse_once(plan, phases, out)
        if code not in (EXIT_PASS, EXIT_GATES_FAILED):
            print(f"rehearse: the rehearsal of {plan.to_version} did not run to its end (exit code {code}): "
                  "the matrix stops here", file=sys.stderr)
            return code
        worst = max(worst, code)
        runs.append(load_run(run_dir))
    matrix = compare_versions(runs, thresholds)
    _write_output(out / "comparison.json", render.dumps(render.matrix_json(matrix)))
    _write_output(out / "comparison.md", render.matrix_markdown(matrix))
    _write_output(out / "comparison.html", render.matrix_html(matrix))
    render.print_matrix(matrix, sys.stdout)
    print(f"comparison: {out / 'comparison.md'} ({out / 'comparison.json'}, {out / 'comparison.html'})")
    return EXIT_PASS if matrix.best is not None else EXIT_GATES_FAILED


def _write_output(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise InputError(path, "", f"cannot be written: {exc.strerror or exc}") from None


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"run": _run, "check": _check, "report": _report,
                                                             "lint": _lint, "cleanup": _cleanup, "compare": _compare,
                                                             "matrix": _matrix, **package_cli.COMMANDS,
                                                             "profile": _profile}

if __name__ == "__main__":
    sys.exit(main())

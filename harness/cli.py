"""`rehearse`: run a rehearsal, lint migrations.

Exit codes: 0 gates passed; 1 gates failed; 2 bad input (plan, package, arguments); 3 environment failure;
130 interrupted (Ctrl-C / SIGTERM), after teardown and with what was recorded written out.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from harness.environments.processes import EnvironmentFailure
from harness.lint import LintInputError
from harness.plan import ENVIRONMENT_KINDS, NETWORK_MODES, PlanError, load_plan, parse_override
from harness.upgrade.sql import SqlInputError

EXIT_BAD_INPUT, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, like every other bad input
        print(f"rehearse: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rehearse", description="Rehearse a database + service upgrade and rollback under load.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run a full rehearsal of a plan")
    run.add_argument("plan", help="scenario directory or its rehearsal.toml")
    run.add_argument("--env", choices=ENVIRONMENT_KINDS, help="where to run (default: the plan's, else auto)")
    run.add_argument("--from", dest="from_version", help="version to upgrade from (default: the plan's)")
    run.add_argument("--to", dest="to_version", help="version to upgrade to (default: the plan's)")
    run.add_argument("--out", type=Path, help="parent directory of the run directory (default: ./reports)")
    run.add_argument("--network", choices=NETWORK_MODES, help="docker: container networking mode")
    run.add_argument("--postgres-image", metavar="TAG",
                     help="docker: PostgreSQL image (default: the plan's environment.postgres_image)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a plan value, e.g. --set load.users=10 --set seed.rows=50000 (repeatable)")
    lint = commands.add_parser("lint", help="lint migrations statically (exit 1 when a dangerous one is found)")
    lint.add_argument("path", type=Path, help="a SQL file, a migrations directory, or a scenario")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "lint":
            return _lint(args.path)
        return _run(args)
    except (PlanError, SqlInputError, LintInputError) as exc:
        print(f"rehearse: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args: argparse.Namespace) -> int:
    from harness.rehearsal import rehearse
    from harness.report.summary import write_report

    overrides: dict[str, Any] = dict(parse_override(text) for text in args.overrides)
    for key, value in (("versions.from", args.from_version), ("versions.to", args.to_version),
                       ("environment.kind", args.env), ("environment.network", args.network),
                       ("environment.postgres_image", args.postgres_image)):
        if value is not None:
            overrides[key] = value
    plan = load_plan(args.plan, overrides)
    print(f"rehearsal: {plan.scenario} {plan.from_version} -> {plan.to_version}", flush=True)
    try:
        outcome = rehearse(plan, plan.environment, args.out, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt as exc:
        _salvage(plan, exc, EXIT_INTERRUPTED)
        print("rehearse: interrupted; everything it started has been stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EnvironmentFailure as exc:
        _salvage(plan, exc, EXIT_ENVIRONMENT)
        print(f"rehearse: environment failure: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    summary = write_report(plan, outcome)
    print(f"verdict: {summary['verdict'].upper()}  (exit code {summary['exit_code']})")
    for gate in summary["gates"]:
        if not gate["passed"]:
            print(f"  failed gate: {gate['name']}: observed {gate['observed']}")
    print(f"report: {outcome.run.path / 'summary.md'}")
    return summary["exit_code"]


def _salvage(plan, exc: BaseException, exit_code: int) -> None:
    """Write whatever was recorded before the run stopped, so nothing recorded is lost."""
    from harness.report.summary import write_report

    outcome = getattr(exc, "outcome", None)
    if outcome is None or not outcome.environment:  # no environment came up: nothing was recorded
        return
    try:
        write_report(plan, outcome, exit_code=exit_code)
        print(f"partial report: {outcome.run.path / 'summary.md'}", file=sys.stderr)
    except Exception as report_error:  # noqa: BLE001 - the streams stay on disk either way
        print(f"rehearse: could not write the partial report ({report_error}); raw streams are in "
              f"{outcome.run.path / 'streams'}", file=sys.stderr)


def _lint(path: Path) -> int:
    from harness.lint import format_findings, has_danger, lint_path  # noqa: I001 - pglast loads only for lint

    covered = _sql_dirs_with_lock_timeout(path)
    findings = [f for f in lint_path(path) if not (
        f.rule == "missing-lock-timeout" and f.file and Path(f.file).resolve().parent in covered)]
    print(format_findings(findings) if findings else f"{path}: no dangerous statement found")
    return 1 if has_danger(findings) else 0


def _sql_dirs_with_lock_timeout(path: Path) -> set[Path]:
    """Migration directories that the scenario's plan runs with a lock_timeout (the runner sets it)."""
    if not (path / "rehearsal.toml").is_file():
        return set()
    plan = load_plan(path)
    return {r.migrations.sql_dir for r in plan.releases.values()
            if r.migrations.sql_dir and r.migrations.options and r.migrations.options.lock_timeout_ms}


if __name__ == "__main__":
    sys.exit(main())

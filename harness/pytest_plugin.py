"""pytest --rehearsal PLAN: a team's CI runs a rehearsal as a test (docs/nightly.md).

Each `--rehearsal` (repeatable) is one test item that runs `rehearse run PLAN` through the CLI's own entry
(`harness.cli.main`: the same code path, error boundary, teardown and exit codes) in this process. Exit code 0
passes; 1 (gates failed) fails with each failed gate (metric, limit, observed), the verdict's failures and the
report's path; 2, 3, 4 (bad input, environment failure, harness error) are errors with the CLI's one line;
130 (Ctrl-C, SIGTERM: everything the run started is torn down first) interrupts the session.

Without `--rehearsal` the plugin only adds its options: it imports nothing of the harness and collects
nothing. With it, and no test paths on the command line, only the rehearsals are collected.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

INTERRUPTED = 130  # harness.core.errors.EXIT_INTERRUPTED, named here so that loading the plugin imports nothing


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rehearse", "upgrade rehearsals as tests (docs/nightly.md)")
    group.addoption("--rehearsal", action="append", default=[], metavar="PLAN",
                    help="rehearse this plan (scenario directory or its rehearsal.toml) as a test; repeatable")
    group.addoption("--rehearsal-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a plan value of every rehearsal, as rehearse run --set (repeatable)")
    group.addoption("--rehearsal-env", metavar="KIND", help="where to run: auto, local or docker (rehearse run --env)")
    group.addoption("--rehearsal-to", metavar="VERSION",
                    help="version (or package: FILE.zip, DIR) to upgrade to (rehearse run --to)")
    group.addoption("--rehearsal-out", metavar="DIR",
                    help="parent directory of the run directories (rehearse run --out; default: ./reports)")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With --rehearsal and no test paths given, collect nothing but the rehearsals."""
    if config.getoption("rehearsal") and config.args_source != pytest.Config.ArgsSource.ARGS:
        return True
    return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for plan in config.getoption("rehearsal"):
        items.append(RehearsalItem.from_parent(session, name=f"rehearsal[{plan}]", nodeid=f"rehearsal[{plan}]",
                                               plan=plan))


class RehearsalFailed(Exception):
    """The rehearsal ran and its verdict is fail (exit code 1): the message says why."""


class RehearsalItem(pytest.Item):
    """One plan's rehearsal. It runs in setup, so that a run that could not happen (exit 2, 3, 4) is an error;
    the test itself is the verdict."""

    def __init__(self, *, plan: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.code: int | None = None
        self.run_dir: Path | None = None

    def setup(self) -> None:
        out = self._out()
        before = _runs_of_this_process(out)
        with _teed() as (stdout, stderr), _signals_restored():
            self.code = _cli_main(self._argv(out))
        self.run_dir = next(iter(sorted(_runs_of_this_process(out) - before)), None)
        report = self.run_dir / "summary.md" if self.run_dir is not None else None
        if report is not None:
            self.user_properties.append(("report", str(report)))
        if self.code == INTERRUPTED:
            raise KeyboardInterrupt(f"rehearsal of {self.plan} interrupted (its run was torn down)")
        if self.code not in (0, 1):
            lines = [line for line in (stderr.getvalue() + stdout.getvalue()).splitlines()
                     if line.startswith("rehearse: ")] or [f"rehearse: exit code {self.code}"]
            where = f"\n(partial) report: {report}" if report is not None and report.exists() else ""
            pytest.fail(f"rehearse run {self.plan} exited {self.code}: {lines[0].removeprefix('rehearse: ')}"
                        + "".join(f"\n{line}" for line in lines[1:]) + where, pytrace=False)

    def runtest(self) -> None:
        if self.code == 1:
            raise RehearsalFailed(self._failure_details())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, RehearsalFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path | str, int | None, str]:
        return self.plan, None, f"rehearsal of {self.plan}"

    def _out(self) -> Path:
        given = self.config.getoption("rehearsal_out")
        base = Path(self.config.invocation_params.dir)
        return (base / given if given else base / "reports").resolve()

    def _argv(self, out: Path) -> list[str]:
        argv = ["run", self.plan, "--out", str(out)]
        for text in self.config.getoption("rehearsal_set"):
            argv += ["--set", text]
        for flag, option in (("--env", "rehearsal_env"), ("--to", "rehearsal_to")):
            if self.config.getoption(option) is not None:
                argv += [flag, self.config.getoption(option)]
        return argv

    def _failure_details(self) -> str:
        """Each failed gate (metric, limit, observed), every failure of the verdict, the report's path."""
        lines = [f"rehearsal of {self.plan}: verdict FAIL (exit code 1)"]
        summary_file = self.run_dir / "summary.json" if self.run_dir is not None else None
        if summary_file is None or not summary_file.is_file():
            return "\n".join(lines + ["no summary.json was written"])
        summary = json.loads(summary_file.read_text())
        failed = [g for g in summary.get("gates", []) if not g.get("passed")]
        if failed:
            lines.append("failed gates:")
            lines += [f"  {g['name']}: metric {g['metric']}, limit {_number(g['limit'])} ({g['bound']}), observed "
                      f"{_number(g['observed']) if g.get('observed') is not None else 'nothing measured'}"
                      for g in failed]
        others = [f for f in summary.get("failures", []) if f.get("kind") != "gate"]
        if others:
            lines.append("failures:")
            lines += [f"  {f['kind']}{' (' + f['phase'] + ')' if f.get('phase') else ''}: {f['message']}"
                      for f in others]
        lines.append(f"report: {summary_file.with_name('summary.md')}")
        return "\n".join(lines)


def _cli_main(argv: list[str]) -> int:
    from harness.cli import main  # the harness loads only when a rehearsal runs

    return main(argv)


def _runs_of_this_process(out: Path) -> set[Path]:
    """Run directories under `out` that this process started (their run log names its pid)."""
    found = set()
    for log in out.glob("*/streams/run.jsonl") if out.is_dir() else ():
        with contextlib.suppress(OSError, ValueError), open(log) as lines:
            first = json.loads(lines.readline() or "{}")
            if first.get("event") == "run" and first.get("pid") == os.getpid():
                found.add(log.parent.parent)
    return found


@contextlib.contextmanager
def _teed() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What the CLI prints still reaches pytest's capture (shown with a failure, or live with -s), and is kept."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, stdout)), contextlib.redirect_stderr(_Tee(sys.stderr, stderr)):
        yield stdout, stderr


@contextlib.contextmanager
def _signals_restored() -> Iterator[None]:
    """The CLI turns SIGTERM into an interrupt for its run; pytest gets its own handler back afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Tee(io.TextIOBase):
    def __init__(self, *targets: TextIO) -> None:
        self.targets = targets

    def write(self, text: str) -> int:
        for target in self.targets:
            target.write(text)
        return len(text)

    def flush(self) -> None:
        for target in self.targets:
            target.flush()


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)

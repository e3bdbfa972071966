"""The CLI's error boundary: every failure is one line on stderr and its documented exit code, never a
traceback; `check` prints the plan's steps without starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.core.errors import EXIT_BAD_INPUT, EXIT_HARNESS_ERROR

from .conftest import REPO


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(("argv", "expected"), [
    (["run", "scenarios/shop", "--set", "load.userz=5"], "load.userz: unknown key (did you mean 'users'?)"),
    (["run", "scenarios/shop", "--set", "phases.baseline=3"],
     "phases.baseline: unknown key (did you mean 'baseline_s'?)"),
    (["run", "scenarios/shop", "--set", "load.users=nan"], "load.users: must be an integer"),
    (["run", "scenarios/shop", "--set", "phases.baseline_s=inf"], "phases.baseline_s: must be a finite number"),
    (["check", "tests/scenarios/shop_reupgrade", "--set", 'timeline=[{phase="a", actions=["swapp"]}]',
      "--set", "gates=[]"],
     "unknown action 'swapp' (did you mean 'swap'?)"),
    (["report", "/"], "not a run directory"),
    (["compare", "/", "/tmp"], "/: not a run directory (no summary.json"),
    (["compare", "/"], "give at least two run directories"),
    (["matrix", "scenarios/shop", "--to", "2.0"], "--to: give at least two different versions, got 2.0"),
    (["matrix", "scenarios/shop", "--to", "2.0", "--to", "2.9"], "2.9"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], expected: str) -> None:
    result = _cli(*argv)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "(--set" in lines[0] or argv[0] != "run", "a --set problem says it came from --set"


def test_check_prints_the_steps_and_starts_nothing() -> None:
    result = _cli("check", "scenarios/shop", "--to", "2.1")
    assert result.returncode == 0, result.stderr
    assert "upgrade: migrations of 2.1; swap the service to 2.1" in result.stdout
    assert "rollback: down-migrations of what the upgrade applied; swap the service back to 1.0" in result.stdout
    assert "gate: rollback_safe >= 1" in result.stdout


def test_a_bug_of_the_harness_before_a_run_is_exit_4_with_the_traceback_in_a_log(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_: object, **__: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "load_plan", broken)
    assert cli.main(["check", "scenarios/shop"]) == EXIT_HARNESS_ERROR
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rehearse: internal error: ZeroDivisionError: a bug (traceback: ")
    log = Path(line.rsplit("(traceback: ", 1)[1].rstrip(")"))
    assert "ZeroDivisionError" in log.read_text() and "Traceback" in log.read_text()
    log.unlink()


def test_a_bug_during_a_run_is_exit_4_and_the_run_keeps_its_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import harness.timeline.run as timeline_run

    def broken(*_: object, **__: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(timeline_run, "open_environment", broken)
    code = cli.main(["run", str(REPO / "scenarios" / "shop"), "--out", str(tmp_path)])
    assert code == EXIT_HARNESS_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "internal error: KeyError: 'surprise'" in line
    (run_dir,) = tmp_path.iterdir()
    assert "KeyError" in (run_dir / "logs" / "harness.log").read_text()

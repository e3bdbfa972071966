"""The pytest plugin (harness/pytest_plugin.py): `pytest --rehearsal PLAN` runs real rehearsals as tests.

Each case runs pytest in its own process (pytester), as a team's CI would, on the light test scenario
tests/scenarios/nightly (the demo's safe upgrade, 2000 orders, 1 s soaks)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO

pytest_plugins = ["pytester"]

PLAN = REPO / "tests" / "scenarios" / "nightly"
# The shortening overrides of the end-to-end tests, for the plan's load.
SHORT = ["--rehearsal-env", "local", "--rehearsal-set", "load.users=5", "--rehearsal-set", "load.spawn_rate=5",
         "--rehearsal-set", "observe.lock_sample_interval_ms=20"]


@pytest.fixture()
def rehearsals(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Run pytest with the plugin in a process of its own, importing this checkout's harness; its own ini file
    (pytest would take this repo's, found from the plan's path)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeini("[pytest]\n")

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-c", "tox.ini", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider",
                                             "--rehearsal-out", "out", *SHORT, *args, timeout=240)
    return run


def test_without_rehearsal_the_plugin_loads_nothing_of_the_harness_and_collects_nothing(
        pytester: pytest.Pytester) -> None:
    imported = subprocess.run([sys.executable, "-c", "import sys, harness.pytest_plugin; print(sorted(m for m in "
                               "sys.modules if m.startswith('harness')))"], cwd=REPO, capture_output=True, text=True,
                              check=True)
    assert imported.stdout.strip() == "['harness', 'harness.pytest_plugin']"
    pytester.makepyfile(test_alone="def test_alone():\n    pass\n")
    result = pytester.runpytest("-p", "harness.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "rehearsal[" not in result.stdout.str() and "collected 1 item" in result.stdout.str()


@pytest.mark.slow
def test_a_passing_plan_passes_and_a_missing_one_is_an_error_with_the_clis_line(rehearsals, pytester) -> None:
    pytester.makepyfile(test_other="def test_other():\n    assert False\n")  # no test path given: not collected
    result = rehearsals("--rehearsal", str(PLAN), "--rehearsal", "missing")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of rehearsal of missing*",
                                 "rehearse run missing exited 2: *missing*: no such plan file"])
    (summary,) = (pytester.path / "out").glob("*/summary.json")
    assert json.loads(summary.read_text())["verdict"] == "pass"


@pytest.mark.slow
def test_an_impossible_gate_fails_with_its_metric_limit_observed_and_the_report(rehearsals, pytester) -> None:
    result = rehearsals("--rehearsal", str(PLAN), "--rehearsal-set", 'gates=[{metric = "p99_ms", max = 0.001}]',
                        "--rehearsal-set", 'timeline=[{phase = "baseline", soak_s = 1}]')
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"rehearsal of {PLAN}: verdict FAIL (exit code 1)", "failed gates:",
                                 "  p99_ms <= 0.001: metric p99_ms, limit 0.001 (max), observed *",
                                 "report: */summary.md"])
    report = next(line for line in result.stdout.lines if line.startswith("report: ")).removeprefix("report: ")
    assert report.startswith(str(pytester.path / "out")) and (pytester.path / report).is_file()

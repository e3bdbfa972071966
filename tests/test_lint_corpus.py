"""The lint corpus (tests/corpus): 31 migration statements on a big (1.5M rows) and a small (100 rows) table,
rehearsed for real under load in two rehearsals (the statements meant to be harmless, and those meant to
block), each statement in a phase of its own. Ground truth is measured from the raw streams; the lint is given
the table facts the rehearsal wrote. `bench/lint_corpus.py` prints the same table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lint import lint_path

from .conftest import REPO
from .corpus.run import Judged, agreement, judge_corpus, rehearse, table, write_scenario
from .corpus.statements import BLOCKING, CORPUS, HARMLESS
from .leftovers import postgres_temp_dirs, processes_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, Path, Path,
                                                                          list[Judged]]]:
    runs = {}
    for run, entries in (("harmless", HARMLESS), ("blocking", BLOCKING)):
        root = tmp_path_factory.mktemp(f"corpus-{run}")
        scenario = write_scenario(root / "scenario", run, entries, swap=run == "harmless")
        result, run_dir = rehearse(scenario, root / "out")
        assert result.returncode in (0, 1), result.stderr
        assert processes_of(run_dir.name) == [] and postgres_temp_dirs(run_dir.name) == []
        runs[run] = (result, run_dir, scenario, judge_corpus(scenario, run_dir, entries))
    print("\n" + table(runs["harmless"][3] + runs["blocking"][3]))  # visible with -s
    return runs


def rows(corpus) -> list[Judged]:
    return corpus["harmless"][3] + corpus["blocking"][3]


def test_the_corpus_is_twenty_statements_or_more_on_a_big_and_a_small_table() -> None:
    assert len(CORPUS) >= 20
    assert {e.table for e in CORPUS} == {"big", "small"}
    assert sum(e.table == "small" for e in CORPUS) >= 5 and sum(e.contention for e in CORPUS) == 2


def test_the_rehearsals_figures_agree_with_the_measurement_on_every_statement(corpus) -> None:
    judged = rows(corpus)
    wrong = [(r.phase, r.rehearsal, r.truth, r.max_wait_ms, r.max_latency_ms) for r in judged if r.rehearsal != r.truth]
    assert wrong == [], table(judged)
    assert {r.rehearsal for r in corpus["blocking"][3]} == {"blocking"}, "the blocking kinds do block at 1.5M rows"


def test_the_lint_with_table_facts_agrees_with_the_rehearsal_on_90_percent(corpus) -> None:
    judged = rows(corpus)
    assert agreement(judged)["lint_vs_rehearsal"] >= 0.9, table(judged)


def test_without_facts_the_lint_flags_what_is_harmless_at_its_size(corpus) -> None:
    """The same release linted with today's rules only: the small table's rewrites and scans count as danger."""
    _, _, scenario, judged = corpus["harmless"]
    findings = lint_path(scenario / "corpus")
    flagged = {Path(f.file).name for f in findings if f.severity == "danger" and f.file}
    assert len(flagged) >= 8, flagged
    assert not any(r.lint == "danger" for r in judged), "with the facts, none of them is a danger"


def test_each_phases_exit_code_agrees_with_its_figures_and_the_runs_with_all_of_them(corpus) -> None:
    judged = rows(corpus)
    assert agreement(judged)["exit_code_vs_figures"] == 1.0, table(judged)
    for run in ("harmless", "blocking"):
        result, _, _, own = corpus[run]
        assert result.returncode == (1 if any(r.rehearsal == "blocking" for r in own) else 0), result.stdout


def test_the_default_gates_pass_a_harmless_migration_with_a_swap(corpus) -> None:
    result, run_dir, _, _ = corpus["harmless"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["default_gates"] is True and result.returncode == 0, result.stdout
    assert {g["metric"] for g in summary["gates"]} >= {"migration_errors", "request_lock_wait_max_ms",
                                                        "failed_requests", "error_rate", "downtime_s"}
    swap_rows = [c for c in summary["causes"] if c["cause"] == "swap" and c["endpoint"] is None]
    assert sum(c["requests"] for c in swap_rows) > 0, "requests during the swap are blamed on the swap"
    assert "cause=swap" not in " ".join(g["name"] for g in summary["gates"]), "the default set leaves the swap to " \
        "downtime_s"


def test_retried_lock_timeout_attempts_are_not_migration_errors(corpus) -> None:
    _, run_dir, _, judged = corpus["harmless"]
    queued = next(r for r in judged if r.entry.name == "queue-with-lock-timeout")
    assert queued.retried_steps >= 2 and queued.failed_steps == 0 and queued.max_wait_ms < 500
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["migration_errors"] == 0 and summary["migration_retries"] == queued.retried_steps
    (contention,) = summary["contention"]
    assert contention["lead_s"] == 0.3 and contention["error"] is None


def test_table_facts_say_what_the_load_touches(corpus) -> None:
    _, run_dir, _, _ = corpus["blocking"]
    facts = json.loads((run_dir / "streams" / "table_facts.json").read_text())
    big, small = facts["tables"]["big"], facts["tables"]["small"]
    assert big["rows"] > 1_400_000 and small["rows"] == 100
    assert big["touched"] is True and small["touched"] is True
    assert big["columns"]["name"] == "character varying(100)" and "big_small_id_idx" in big["indexes"]
    assert facts["settings"]["max_parallel_maintenance_workers"] == "0", "the plan's server_settings hold"


def test_offenders_are_ranked_per_phase_and_held_up_counts_are_both_kept(corpus) -> None:
    _, run_dir, _, _ = corpus["blocking"]
    summary = json.loads((run_dir / "summary.json").read_text())
    offenders = summary["top_offenders"]
    phases = list(dict.fromkeys(o["phase"] for o in offenders))
    assert len(phases) >= 6
    for phase in phases:
        ranks = [o["rank"] for o in offenders if o["phase"] == phase]
        assert ranks == list(range(1, len(ranks) + 1))
    rewrite = next(s for s in summary["statements"] if s["sql"].startswith("ALTER TABLE big ALTER COLUMN v TYPE"))
    assert rewrite["held_up_by_lock"] >= 1 and rewrite["blocked_requests"] >= rewrite["held_up_by_lock"]
    md = (run_dir / "summary.md").read_text()
    assert "per phase" in md and "(lock / slow)" in md and "## Requests by cause" in md


def test_report_judges_one_phase_alone_and_writes_nothing(corpus) -> None:
    _, run_dir, _, judged = corpus["blocking"]
    before = (run_dir / "summary.json").read_bytes()
    harmless_phase = "baseline"
    blocking_phase = next(r.phase for r in judged if r.rehearsal == "blocking")
    codes = {}
    for phase in (harmless_phase, blocking_phase):
        result = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(run_dir), "--phase", phase],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
        codes[phase] = result.returncode
        assert f"phase {phase} alone" in result.stdout, result.stderr
    assert codes == {harmless_phase: 0, blocking_phase: 1}
    assert (run_dir / "summary.json").read_bytes() == before


def test_lint_cli_with_the_rehearsals_facts(corpus) -> None:
    codes = {}
    for run in ("harmless", "blocking"):
        _, run_dir, scenario, _ = corpus[run]
        result = subprocess.run([sys.executable, "-m", "harness.cli", "lint", str(scenario / "corpus"), "--facts",
                                 str(run_dir)], cwd=REPO, capture_output=True, text=True, timeout=60)
        codes[run] = result.returncode
        assert result.stdout.startswith("table facts: rehearsal"), result.stdout
    assert codes == {"harmless": 1, "blocking": 1}, "without the plan, the runner's lock_timeout is not known"
    _, run_dir, scenario, _ = corpus["harmless"]
    with_plan = subprocess.run([sys.executable, "-m", "harness.cli", "lint", str(scenario / "corpus"), "--facts",
                                str(run_dir), "--plan", str(scenario)], cwd=REPO, capture_output=True, text=True,
                               timeout=60)
    assert with_plan.returncode == 0, with_plan.stdout
    assert with_plan.stdout.rstrip().splitlines()[-1].startswith("0 dangers, "), with_plan.stdout

"""Rehearse the lint corpus and judge it three ways, per statement (tests/test_lint_corpus.py, bench/lint_corpus.py).

- ground truth, measured here from the run's raw streams (requests.csv, statements.jsonl) without the harness's
  analysis: some request that overlapped the statement took more than 500 ms or failed, or the statement
  itself failed;
- the rehearsal's per-statement figures (summary.json): a request's lock wait it caused over 500 ms, a failed
  request, or a failed step; and its exit code for the statement's phase alone (`rehearse report --phase`);
- the lint with the table facts the rehearsal wrote (streams/table_facts.json): any danger.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.lint import has_danger, lint_path
from harness.lint.context import LintContext
from harness.lint.facts import load_facts
from harness.plan import load_plan
from harness.plan.default_gates import REQUEST_WAIT_LIMIT_MS
from harness.result.build import build_summary
from harness.rundir import RunDir
from harness.verify.verdict import judge

from .statements import Entry

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIG_ROWS = 1_500_000
CONTENTION_S = 2.5
PLAN = """
[scenario]
name = "lint-corpus-{run}"

[environment]
kind = "local"
database = "corpus"
# Index builds in one process, as on a busy server: they stay clear of the 500 ms line either way.
server_settings = {{ max_parallel_maintenance_workers = 0 }}

[versions]
from = "1.0"
to = "2.0"

[service]
command = ["{{python}}", "app.py"]
env = {{ BIG_ROWS = "{{rows}}" }}

[releases."1.0"]
dir = "service"
migrations = {{ sql = "../schema" }}

[releases."2.0"]
dir = "service"
upgrades_from = "1.0"
migrations = {{ sql = "../corpus", lock_timeout_ms = 200, lock_retries = 40, retry_backoff_ms = 100, \
retry_backoff = "fixed" }}

[seed]
command = ["{{python}}", "service/seed.py", "{{rows}}"]
rows = {rows}

[load]
locustfile = "service/locustfile.py"
users = {users}
spawn_rate = {users}

[observe]
lock_sample_interval_ms = 25

[[timeline]]
phase = "baseline"
soak_s = 3
"""


@dataclass
class Judged:
    """One corpus statement, judged three ways."""

    entry: Entry
    phase: str
    lint: str  # danger | ok
    lint_rules: list[str]
    rehearsal: str  # blocking | harmless (its figures)
    truth: str  # blocking | harmless (measured here)
    max_wait_ms: float  # longest lock wait of a request it caused (the rehearsal's figure)
    max_latency_ms: float  # slowest request overlapping it (measured here)
    failed_requests: int
    failed_steps: int
    retried_steps: int
    exit_code: int  # the rehearsal's verdict on its phase alone
    estimates: list[str | None]  # the lint's duration estimate of each finding


def phase_name(index: int, entry: Entry) -> str:
    return f"{index:02d}-{entry.name}"


def write_scenario(root: Path, run: str, entries: list[Entry], rows: int = BIG_ROWS, users: int = 8,
                   soak_s: float = 0.4, swap: bool = False) -> Path:
    """A scenario under `root`: the corpus service, its schema, one migration file and one phase per entry."""
    root.mkdir(parents=True, exist_ok=True)
    for part in ("service", "schema"):
        shutil.copytree(HERE / part, root / part, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    corpus = root / "corpus"
    corpus.mkdir(exist_ok=True)
    text = PLAN.format(run=run, rows=rows, users=users)
    for index, entry in enumerate(entries, start=1):
        stem = f"{index:03d}_{entry.name.replace('-', '_')}"
        (corpus / f"{stem}.up.sql").write_text(entry.sql + "\n")
        (corpus / f"{stem}.down.sql").write_text("SELECT 1;\n")
        text += (f'\n[[timeline]]\nphase = "{phase_name(index, entry)}"\n'
                 f'actions = [{{ action = "migrate", files = 1 }}]\nsoak_s = {soak_s}\n')
        if entry.contention:
            text += (f'\n[[contention]]\nkind = "long_transaction"\ntable = "big"\nphase = "{phase_name(index, entry)}"'
                     f"\nseconds = {CONTENTION_S}\nlead_s = 0.3\n")
    if swap:
        text += '\n[[timeline]]\nphase = "swap"\nactions = ["swap"]\nsoak_s = 1.5\n'
    (root / "rehearsal.toml").write_text(text)
    return root


def rehearse(scenario: Path, out: Path, timeout_s: float = 400) -> tuple[subprocess.CompletedProcess, Path]:
    """`rehearse run` of the scenario; its result and run directory."""
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return result, run_dir


def judge_corpus(scenario: Path, run_dir: Path, entries: list[Entry]) -> list[Judged]:
    plan = load_plan(scenario)
    summary, _ = build_summary(plan, RunDir(run_dir, run_dir.name))
    facts = load_facts(run_dir)
    requests = _raw_requests(run_dir)
    steps = [json.loads(line) for line in (run_dir / "streams" / "statements.jsonl").read_text().splitlines()]
    corpus = sorted((scenario / "corpus").glob("*.up.sql"))
    # as `rehearse lint --facts RUN_DIR` reads the release: the runner sets a lock_timeout
    by_file = lint_path(scenario / "corpus", lambda file: LintContext(facts, lock_timeout=True))
    judged = []
    for index, (entry, path) in enumerate(zip(entries, corpus, strict=True), start=1):
        phase = phase_name(index, entry)
        findings = [f for f in by_file if f.file == str(path)]
        figures = [s for s in summary.statements if s.phase == phase]
        failed_steps = sum(1 for s in figures if s.error and not s.retried)
        max_wait = max((s.request_wait_ms for s in figures), default=0.0)
        failed_requests = max((s.failed_requests for s in figures), default=0)
        blocking = max_wait > REQUEST_WAIT_LIMIT_MS or failed_requests > 0 or failed_steps > 0
        own = [s for s in steps if s["phase"] == phase]
        latency, failed_truth = _overlapping(requests, own)
        truth = latency > REQUEST_WAIT_LIMIT_MS or failed_truth > 0 or any(
            s.get("error") for s in own if not _retried(s, own))
        judged.append(Judged(
            entry=entry, phase=phase, lint="danger" if has_danger(findings) else "ok",
            lint_rules=sorted({f.rule for f in findings if f.severity == "danger"}),
            rehearsal="blocking" if blocking else "harmless", truth="blocking" if truth else "harmless",
            max_wait_ms=max_wait, max_latency_ms=latency, failed_requests=failed_requests, failed_steps=failed_steps,
            retried_steps=sum(1 for s in figures if s.retried), exit_code=judge(plan, summary, phase).exit_code,
            estimates=[f.estimate for f in findings]))
    return judged


def _raw_requests(run_dir: Path) -> list[tuple[float, float, bool]]:
    """(start, end, failed) of every request, straight from the Locust recorder's CSV."""
    rows = []
    with open(run_dir / "streams" / "requests.csv", newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            try:
                start, latency = float(row["start"]), float(row["latency_ms"])
            except (TypeError, ValueError):
                continue
            rows.append((start, start + latency / 1000, bool(row["error"])))
    return rows


def _overlapping(requests: list[tuple[float, float, bool]], steps: list[dict]) -> tuple[float, int]:
    """The slowest latency (ms) and the failures among requests overlapping the steps' window."""
    if not steps:
        return 0.0, 0
    begin = min(s["started"] for s in steps)
    end = max(s["ended"] or s["started"] for s in steps)
    hit = [(e - s) * 1000 for s, e, _ in requests if s <= end and e >= begin]
    failed = sum(1 for s, e, bad in requests if bad and s <= end and e >= begin)
    return max(hit, default=0.0), failed


def _retried(step: dict, steps: list[dict]) -> bool:
    return any(o["seq"] > step["seq"] and o["source"] == step["source"] and o["attempt"] > step["attempt"]
               for o in steps)


def table(rows: list[Judged]) -> str:
    """The corpus table: statement, lint verdict, rehearsal verdict, max wait, and what else was measured."""
    lines = ["| # | statement | table | lint (with facts) | rehearsal | measured | max request wait ms | "
             "slowest request ms | failed requests | retried attempts | phase exit code |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, row in enumerate(rows, start=1):
        sql = " ".join(row.entry.sql.split())
        lint = row.lint + (f" ({', '.join(row.lint_rules)})" if row.lint_rules else "")
        lines.append(f"| {i} | `{sql}` | {row.entry.table} | {lint} | {row.rehearsal} | {row.truth} | "
                     f"{row.max_wait_ms:.0f} | {row.max_latency_ms:.0f} | {row.failed_requests} | "
                     f"{row.retried_steps} | {row.exit_code} |")
    return "\n".join(lines)


def agreement(rows: list[Judged]) -> dict[str, float]:
    """Share of statements where the lint agrees with the rehearsal, the rehearsal with the measurement, and
    the phase's exit code with the rehearsal's figures (0 for harmless, 1 for blocking)."""
    n = len(rows) or 1
    return {
        "lint_vs_rehearsal": sum(r.lint == ("danger" if r.rehearsal == "blocking" else "ok") for r in rows) / n,
        "rehearsal_vs_measured": sum(r.rehearsal == r.truth for r in rows) / n,
        "exit_code_vs_figures": sum(r.exit_code == (1 if r.rehearsal == "blocking" else 0) for r in rows) / n,
    }

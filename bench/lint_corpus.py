"""Rehearse the whole lint corpus (tests/corpus) and print its table: statement, lint verdict with table
facts, rehearsal verdict, measured verdict, max request wait, and the agreement figures. Also the duration
model's rates next to what this machine measured (each statement's duration against the lint's estimate).

    python bench/lint_corpus.py                 # the corpus as the test runs it (1.5M rows), about 2 minutes
    python bench/lint_corpus.py --rows 3000000  # a bigger big table
    python bench/lint_corpus.py --keep DIR      # keep the run directories under DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus.run import agreement, judge_corpus, rehearse, table, write_scenario  # noqa: E402
from tests.corpus.statements import BLOCKING, HARMLESS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_500_000, help="rows of the big table")
    parser.add_argument("--users", type=int, default=8, help="Locust users")
    parser.add_argument("--keep", type=Path, help="keep the scenarios and run directories here")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="rehearse-lint-corpus-"))
    judged, durations = [], []
    try:
        for run, entries in (("harmless", HARMLESS), ("blocking", BLOCKING)):
            scenario = write_scenario(root / run / "scenario", run, entries, rows=args.rows, users=args.users,
                                      swap=run == "harmless")
            started = time.monotonic()
            result, run_dir = rehearse(scenario, root / run / "out", timeout_s=1800)
            print(f"{run}: rehearsal exit code {result.returncode} in {time.monotonic() - started:.0f} s "
                  f"({run_dir})", flush=True)
            rows = judge_corpus(scenario, run_dir, entries)
            judged += rows
            durations += _durations(run_dir, rows)
        print()
        print(table(judged))
        print()
        for name, share in agreement(judged).items():
            print(f"{name}: {share:.0%} of {len(judged)}")
        print()
        print("| phase | statement ms (measured) | lint estimate |")
        print("|---|---|---|")
        for phase, measured, estimated in durations:
            print(f"| {phase} | {measured:.0f} | {estimated} |")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _durations(run_dir: Path, rows: list) -> list[tuple[str, float, str]]:
    """Per statement: how long its steps took, against the lint's own estimate (of its first finding that has
    one; none: nothing it does holds a blocking lock for long)."""
    steps = [json.loads(line) for line in (run_dir / "streams" / "statements.jsonl").read_text().splitlines()]
    found = []
    for row in rows:
        measured = sum(s["duration_ms"] or 0 for s in steps if s["phase"] == row.phase and not s.get("error"))
        estimates = [e for e in row.estimates if e]
        found.append((row.phase, measured, estimates[0] if estimates else "-"))
    return found


if __name__ == "__main__":
    sys.exit(main())

"""Every output of a run, built from its streams: Parquet frames, summary.json and summary.md.

The one place that sequences result (figures) -> verify (verdict) -> renderers; each file is written whole
or not at all."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import replace

from harness.core.streams import write_atomic
from harness.plan import Plan
from harness.records.run import Stop
from harness.records.summary import Summary, to_json
from harness.report.markdown import render_markdown
from harness.result.build import build_summary
from harness.rundir import RUN_LOG, RunDir
from harness.verify.verdict import judge


def write_report(plan: Plan, run: RunDir) -> Summary:
    """Frames to Parquet, summary.json and summary.md in the run directory; returns the judged summary."""
    summary, frames = build_summary(plan, run)
    artifacts = frames.write_parquet(run.path)
    summary = judge(plan, replace(summary, artifacts=artifacts | {"summary_md": "summary.md"}))
    write_atomic(run.path / "summary.json", json.dumps(to_json(summary), indent=2) + "\n")
    write_atomic(run.path / "summary.md", render_markdown(summary))
    return summary


def mark_interrupted(plan: Plan, run: RunDir, summary: Summary, stop: Stop) -> Summary:
    """A run interrupted while its report was written: the report is whole, and says so (exit code 130)."""
    with contextlib.suppress(OSError), open(run.stream(RUN_LOG), "a", encoding="utf-8") as log:
        log.write(json.dumps({"event": "stop", "at": time.time(), "kind": stop.kind, "message": stop.message}) + "\n")
    summary = judge(plan, replace(summary, stopped=stop, incomplete=stop.kind))
    write_atomic(run.path / "summary.json", json.dumps(to_json(summary), indent=2) + "\n")
    write_atomic(run.path / "summary.md", render_markdown(summary))
    return summary

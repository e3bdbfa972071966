"""Every output of a run, built from its streams: Parquet frames, summary.json, summary.md, report.html and
junit.xml.

The one place that sequences result (figures) -> verify (verdict) -> renderers; each file is written whole
or not at all."""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from harness.core.memory import give_back
from harness.core.streams import write_atomic
from harness.plan import Plan
from harness.records.run import Stop
from harness.records.summary import Summary, to_json
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown
from harness.result.build import build_summary
from harness.result.frames import Frames, load_frames
from harness.result.series import build_series
from harness.rundir import RUN_LOG, RunDir
from harness.verify.verdict import judge


def write_report(plan: Plan, run: RunDir) -> Summary:
    """Frames to Parquet, summary.json, summary.md, report.html and junit.xml in the run directory; returns the
    judged summary."""
    summary, frames = build_summary(plan, run)
    give_back()  # the figures' temporaries: before the pages' and the Parquet writer's
    # Parquet's encoding runs outside the GIL: the frames are written beside the pages, which only read them
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
        written = pool.submit(frames.write_parquet, run.path)
        summary = judge(plan, replace(summary, artifacts=Frames.parquet_artifacts() | {"summary_md": "summary.md"}
                                      | PAGES))
        write_atomic(run.path / "summary.json", json.dumps(to_json(summary), indent=2) + "\n")
        write_atomic(run.path / "summary.md", render_markdown(summary))
        write_pages(run, summary, frames)
        written.result()
    return summary


PAGES = {"report_html": "report.html", "junit_xml": "junit.xml"}


def write_pages(run: RunDir, summary: Summary, frames: Frames) -> None:
    """report.html (the charts need the run's time series: result.series) and junit.xml."""
    write_atomic(run.path / PAGES["report_html"], render_html(summary, build_series(frames, summary)))
    write_atomic(run.path / PAGES["junit_xml"], render_junit(summary))


def mark_interrupted(plan: Plan, run: RunDir, summary: Summary, stop: Stop) -> Summary:
    """A run interrupted while its report was written: the report is whole, and says so (exit code 130)."""
    with contextlib.suppress(OSError), open(run.stream(RUN_LOG), "a", encoding="utf-8") as log:
        log.write(json.dumps({"event": "stop", "at": time.time(), "kind": stop.kind, "message": stop.message}) + "\n")
    summary = judge(plan, replace(summary, stopped=stop, incomplete=stop.kind))
    write_atomic(run.path / "summary.json", json.dumps(to_json(summary), indent=2) + "\n")
    write_atomic(run.path / "summary.md", render_markdown(summary))
    write_pages(run, summary, load_frames(run))  # the frames again: rare, and the page must say it stopped
    return summary

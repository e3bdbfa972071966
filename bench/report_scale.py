"""What building a long rehearsal's report costs: every output (`rehearse report RUN_DIR`:
harness.report.write.write_report) of synthetic run directories of 1M and 10M request rows, by the code of a
git revision ("before") and by this checkout ("after"), side by side. Each build runs in a child process of its
own: wall time of write_report, and the child's peak RSS (its ru_maxrss, from os.wait4). Both builds of a size
must write the same summary.json (the build's own figures aside: none depend on when it ran). The requests
stream's Parquet parts are written first, as a run's request-parts observer writes them while it records (their
cost is printed: it is the run's, spread over its hours, not the report's); the "before" code ignores them.

    python bench/report_scale.py                        # 1M and 10M rows, before = main's pandas reader (677d880)
    python bench/report_scale.py --sizes 1000000 --before HEAD~3
    python bench/report_scale.py --profile 1000000      # cProfile of this checkout's build, top 30
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.unit.synthetic_run import write_run  # noqa: E402

CHILD = """
import json, resource, sys, time
from pathlib import Path
from harness.plan import load_plan
from harness.rundir import RunDir
from harness.core.streams import read_json_lines
run_dir = Path(sys.argv[1])
started = next(r for r in read_json_lines(run_dir / "streams" / "run.jsonl") if r.get("event") == "run")
plan_path = Path("scenarios/shop/rehearsal.toml")  # the plan as that code knew it (git archive), else the run's
plan = load_plan(plan_path if plan_path.exists() else started["plan"], started.get("overrides") or {},
                 targets_confirmed=True)
from harness.report.write import write_report
began = time.perf_counter()
if len(sys.argv) > 2:
    import cProfile, pstats
    profile = cProfile.Profile()
    profile.runcall(write_report, plan, RunDir(run_dir, run_dir.name))
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(int(sys.argv[2]))
else:
    write_report(plan, RunDir(run_dir, run_dir.name))
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"seconds": time.perf_counter() - began, "hwm_mb": int(status["VmHWM"].split()[0]) / 1024}))
"""


def export(revision: str, into: Path) -> Path:
    """The harness package as it was at `revision` (git archive), to import instead of this checkout's, with the
    demo's plan of then (an older harness refuses sections added since)."""
    archive = into / "before.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), revision, "harness", "scenarios/shop"],
                   check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before"


def profiled(code: Path, run_dir: Path, top: int) -> None:
    """write_report of `run_dir` under cProfile, with the harness package under `code`; the top entries."""
    subprocess.run([sys.executable, "-c", CHILD, str(run_dir), str(top)], cwd=code, check=True,
                   env=os.environ | {"PYTHONPATH": str(code)})


def measured(code: Path, run_dir: Path) -> dict[str, float]:
    """write_report of `run_dir` with the harness package under `code`, in a child process of its own (its
    rusage taken with os.wait4: its peak RSS alone, not a high-water of every child so far)."""
    env = os.environ | {"PYTHONPATH": str(code)}
    read, write = os.pipe()
    wall = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: exec the build with its stdout to the pipe
        os.close(read)
        os.dup2(write, 1)
        os.chdir(code)
        os.execve(sys.executable, [sys.executable, "-c", CHILD, str(run_dir)], env)
    os.close(write)
    with os.fdopen(read) as pipe:
        out = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"build with {code} failed (status {status})")
    found = json.loads(out.strip().splitlines()[-1])
    return {"seconds": found["seconds"], "wall": time.perf_counter() - wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "hwm_mb": found["hwm_mb"]}


def recorded_parts(run_dir: Path) -> dict[str, float]:
    """The Parquet parts of the run's requests stream, as its request-parts observer would have written them
    while the run recorded (harness.observe.request_parts; kept with the synthetic run once written): how
    many, and what writing them cost (a part per PART_BYTES of CSV, each written while the run goes on)."""
    from harness.load.request_parts import compact, parts  # noqa: PLC0415 - this checkout's, after sys.path

    stream = run_dir / "streams" / "requests.csv"
    began, made = time.perf_counter(), 0
    while compact(stream):
        made += 1
    seconds = time.perf_counter() - began
    count = len(parts(stream))
    return {"parts": count, "seconds": seconds, "per_part": seconds / made if made else float("nan")}


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())

PANDAS_READER = "677d880"  # main before requests were read by pyarrow into compact columns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="request rows of each synthetic run")
    parser.add_argument("--before", default=PANDAS_READER, help="git revision of the 'before' code (default: "
                        f"{PANDAS_READER}, the last main that read requests with pandas)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rehearse-report-scale",
                        help="where the synthetic run directories are kept (reused when they exist)")
    parser.add_argument("--profile", type=int, metavar="ROWS", help="profile this checkout's build of ROWS rows")
    parser.add_argument("--after-only", action="store_true", help="skip the 'before' builds")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sizes = [args.profile] if args.profile else [int(s) for s in args.sizes.split(",")]
    dirs = {}
    for rows in sizes:
        run_dir = args.work / f"run-{rows}"
        if not (run_dir / "streams" / "requests.csv").exists():
            began = time.perf_counter()
            write_run(run_dir, rows)
            print(f"synthetic run of {rows:,} rows written in {time.perf_counter() - began:.1f} s: {run_dir}",
                  flush=True)
        parted = recorded_parts(run_dir)
        print(f"{rows:>11,} rows  parts   {parted['parts']} Parquet parts of the requests stream, "
              f"{parted['seconds']:.1f} s (of the run's own time: its request-parts observer writes them as it "
              f"records, {parted['per_part']:.2f} s each)", flush=True)
        dirs[rows] = run_dir
    if args.profile:
        profiled(REPO, dirs[args.profile], 40)
        return 0
    before_rev = args.before
    with tempfile.TemporaryDirectory() as temp:
        before = None if args.after_only else export(before_rev, Path(temp))
        results = []
        for rows, run_dir in dirs.items():
            figures, summaries = {}, {}
            for label, code in (("before", before), ("after", REPO)):
                if code is None:
                    continue
                figures[label] = measured(code, run_dir)
                summaries[label] = summary_of(run_dir)
                (run_dir / "requests.parquet").replace(Path(temp) / f"{label}-{rows}.parquet")
                f = figures[label]
                print(f"{rows:>11,} rows  {label:<6}  {f['seconds']:6.1f} s  {f['cpu']:6.1f} s CPU (whole child)  "
                      f"{f['peak_mb']:6.0f} MB peak RSS (VmHWM {f['hwm_mb']:.0f})  load average "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
            same = None if len(summaries) < 2 else same_summary(summaries["before"], summaries["after"])
            same_rows = None if len(summaries) < 2 else same_requests(Path(temp) / f"before-{rows}.parquet",
                                                                      Path(temp) / f"after-{rows}.parquet")
            (Path(temp) / f"after-{rows}.parquet").replace(run_dir / "requests.parquet")
            results.append((rows, figures, same, same_rows))
    print(f"\nbefore = {before_rev[:12]}, after = this checkout: write_report's wall time, the child's CPU time "
          "(imports included) and peak RSS (ru_maxrss from os.wait4)")
    print("| rows | before s | after s | before CPU s | after CPU s | before peak MB | after peak MB "
          "| same summary.json | same requests.parquet |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---|:---|")
    nothing: dict[str, float] = {"seconds": np.nan, "cpu": np.nan, "peak_mb": np.nan}
    for rows, figures, same, same_rows in results:
        b, a = figures.get("before", nothing), figures["after"]
        print(f"| {rows:,} | {b['seconds']:.1f} | {a['seconds']:.1f} | {b['cpu']:.1f} | {a['cpu']:.1f} | "
              f"{b['peak_mb']:.0f} | {a['peak_mb']:.0f} | {'-' if same is None else same} | "
              f"{'-' if same_rows is None else same_rows} |")
    return 0 if all(same in (None, True) and rows in (None, True) for _, _, same, rows in results) else 1


PLAN_ECHO = ("timeline",)  # summary.json keys that repeat the plan (each code builds with its own demo plan)


def same_summary(before: dict, after: dict) -> bool:
    """Whether both summary.json agree on every key they both have, at every depth (keys the newer harness added
    are named, not compared; so are the keys that repeat the plan)."""
    added: set[str] = set()
    same = _agree(before, after, "", added)
    if added:
        print(f"  (summary.json keys only the 'after' code writes, not compared: {', '.join(sorted(added))}; "
              f"nor the plan's echo: {', '.join(PLAN_ECHO)})")
    return same


def _agree(before: object, after: object, where: str, added: set[str]) -> bool:
    if isinstance(before, dict) and isinstance(after, dict):
        added.update(f"{where}{key}" for key in set(after) - set(before))
        return set(before) <= set(after) and all(
            _agree(before[key], after[key], f"{where}{key}.", added) for key in before
            if not (where == "" and key in PLAN_ECHO))
    if isinstance(before, list) and isinstance(after, list):
        return len(before) == len(after) and all(_agree(b, a, f"{where.rstrip('.')}[].", added)
                                                 for b, a in zip(before, after, strict=True))
    if before != after:
        print(f"  summary.json {where.rstrip('.')}: {before!r} before, {after!r} after", flush=True)
    return before == after


def same_requests(before: Path, after: Path) -> bool:
    """Whether both requests.parquet hold the same rows: column by column, as text or 64-bit numbers (the
    'after' frame has categoricals and narrower integers where the 'before' one had objects and int64)."""
    names = pq.read_schema(before).names
    if names != pq.read_schema(after).names:
        return False
    for name in names:
        columns = [pq.read_table(file, columns=[name]).column(0) for file in (before, after)]
        kinds = [c.type.value_type if pa.types.is_dictionary(c.type) else c.type for c in columns]
        common = pa.string() if any(pa.types.is_string(k) or pa.types.is_large_string(k) for k in kinds) \
            else pa.float64() if any(pa.types.is_floating(k) for k in kinds) else pa.int64()
        if not columns[0].cast(common).equals(columns[1].cast(common)):
            print(f"requests.parquet: column {name} differs", flush=True)
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())

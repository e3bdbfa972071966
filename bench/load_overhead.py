"""What the harness's request recorder costs Locust, and how far one rehearsal's load goes with workers.

    python bench/load_overhead.py [--users 50] [--seconds 8] [--rounds 3] [--workers 2]

1. Overhead: plain Locust (the locustfile alone) against the harness's recorded Locust (the recorder plugin
   loaded beside the same locustfile, streaming every request to a CSV, as harness.load.launcher runs it); same
   users, same target, interleaved rounds (the order alternates). Locust is the limit: the users never wait and
   the target (tests/apps/fast_http.py, started here, on loopback) answers at once. Prints each round's
   requests/s (Locust's own count) and the median ratio recorded/plain (goal >= 0.97).
2. Ceiling: the harness's own Load (harness.load.launcher, closed model) with one Locust process, then with a
   master and N workers, against the same target; requests/s from the recorded streams, the first second
   left out.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core.processes import OwnedProcess, free_loopback_port, wait_until  # noqa: E402
from harness.load.contract import RECORDER_PATH, REQUESTS_FILE_ENV, request_streams  # noqa: E402
from harness.load.launcher import Load  # noqa: E402
from harness.plan import load_plan  # noqa: E402
from harness.plan.model import LoadOptions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = '''
from locust import FastHttpUser, constant, task

class Fast(FastHttpUser):
    wait_time = constant(0)

    @task
    def item(self):
        self.client.get("/item", name="/item")
'''


def locust_run(work: Path, url: str, users: int, seconds: float, recorded: bool, tag: str,
               startup_s: float = 0.0) -> tuple[float, float]:
    """(requests/s, CPU ms per request) of one headless Locust run: its own stats (--csv), and the CPU time
    its process used (getrusage of the waited-for child), which a shared machine disturbs far less."""
    locustfile = work / "locustfile.py"
    files = f"{RECORDER_PATH},{locustfile}" if recorded else str(locustfile)
    prefix = work / tag
    env = dict(os.environ)
    env.pop(REQUESTS_FILE_ENV, None)
    if recorded:
        requests = work / f"{tag}-requests.csv"
        requests.unlink(missing_ok=True)
        env[REQUESTS_FILE_ENV] = str(requests)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "locust", "-f", files, "--headless", "--host", url, "--users", str(users),
                    "--spawn-rate", str(users), "--run-time", f"{seconds:g}s", "--only-summary", "--loglevel",
                    "WARNING", "--exit-code-on-error", "0", "--stop-timeout", "2", "--csv", str(prefix)],
                   cwd=work, env=env, check=True, capture_output=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) - startup_s
    with open(f"{prefix}_stats.csv", newline="") as stats:
        row = next(r for r in csv.DictReader(stats) if r["Name"] == "Aggregated")
    return float(row["Requests/s"]), cpu_s * 1000 / max(1, int(row["Request Count"]))


MICRO = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ["REHEARSE_REQUESTS_FILE"] = sys.argv[2]
from locust import events
from harness.load import recorder
recorder._open(None)
calls = int(sys.argv[3])
started = time.process_time()
for index in range(calls):
    events.request.fire(request_type="GET", name="/item", response_time=1.234, response_length=12, response=None,
                        exception=None, start_time=1.8e9 + index * 1e-4, context={}, url="/item")
elapsed = time.process_time() - started
print(elapsed / calls * 1e6)
"""


def recorder_us_per_request(work: Path, calls: int = 200_000) -> float:
    """CPU microseconds the recorder's request listener takes per request, in a Locust-patched process."""
    done = subprocess.run([sys.executable, "-c", MICRO, str(REPO), str(work / "micro-requests.csv"), str(calls)],
                          capture_output=True, text=True, check=True, timeout=300)
    return float(done.stdout.strip().splitlines()[-1])


def startup_cpu_s(work: Path, url: str, recorded: bool) -> float:
    """CPU seconds a Locust run spends without traffic (imports, start, stop): left out of CPU per request."""
    locustfile = work / "locustfile.py"
    files = f"{RECORDER_PATH},{locustfile}" if recorded else str(locustfile)
    env = {k: v for k, v in os.environ.items() if k != REQUESTS_FILE_ENV}
    if recorded:
        env[REQUESTS_FILE_ENV] = str(work / "startup-requests.csv")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "locust", "-f", files, "--headless", "--host", url, "--users", "0",
                    "--run-time", "1s", "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
                   cwd=work, env=env, check=True, capture_output=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ceiling(work: Path, url: str, users: int, seconds: float, workers: int) -> float:
    """Requests/s of the harness's Load (closed model) with `workers` Locust workers (0: one process)."""
    run = Path(tempfile.mkdtemp(prefix=f"ceiling-{workers}-", dir=work))
    plan = replace(load_plan(REPO / "scenarios" / "shop"), locustfile=work / "locustfile.py", load_env={},
                   users=users, spawn_rate=float(users), load_options=LoadOptions(workers=workers))
    load = Load(plan, run / "requests.csv", run / "locust.log", f"bench-load-{os.getpid()}")
    try:
        load.start(url)
        load.wait_for_traffic()
        time.sleep(seconds)
    finally:
        load.stop()
    starts: list[float] = []
    for path in request_streams(run):
        with open(path, newline="") as stream:
            starts += [float(r["start"]) for r in csv.DictReader(stream) if r["start"] not in ("", "start")]
    starts.sort()
    window = [s for s in starts if s >= starts[0] + 1.0]
    return len(window) / (window[-1] - window[0]) if len(window) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ceiling", action="store_true", help="the overhead only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rehearse-bench-load-"))
    (work / "locustfile.py").write_text(LOCUSTFILE)
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    server = OwnedProcess("fast_http", [sys.executable, str(REPO / "tests" / "apps" / "fast_http.py"), str(port)],
                          work / "server.log")
    try:
        wait_until(lambda: subprocess.run(["curl", "-sf", url], capture_output=True).returncode == 0, 10,
                   what="the target", alive=server)
        print(f"target {url}; {args.users} users, {args.seconds:g} s per run, {args.rounds} rounds; "
              f"load average {os.getloadavg()[0]:.1f}")
        startup = {recorded: statistics.median(startup_cpu_s(work, url, recorded) for _ in range(3))
                   for recorded in (False, True)}
        print(f"startup CPU (left out): plain {startup[False]:.2f} s, recorded {startup[True]:.2f} s")
        ratios, cpu_ratios, plain_us = [], [], []
        for index in range(args.rounds):
            order = (False, True) if index % 2 == 0 else (True, False)
            got = {recorded: locust_run(work, url, args.users, args.seconds, recorded, f"r{index}-{int(recorded)}",
                                        startup[recorded]) for recorded in order}
            plain_us.append(got[False][1] * 1000)
            ratios.append(got[True][0] / got[False][0])
            cpu_ratios.append(got[False][1] / got[True][1])  # requests per CPU second, recorded / plain
            print(f"round {index + 1}: plain {got[False][0]:.0f} req/s ({got[False][1] * 1000:.0f} us CPU/request), "
                  f"recorded {got[True][0]:.0f} req/s ({got[True][1] * 1000:.0f} us CPU/request); "
                  f"req/s ratio {ratios[-1]:.3f}, requests per CPU second ratio {cpu_ratios[-1]:.3f}")
        for name, values in (("req/s", ratios), ("requests per CPU second", cpu_ratios)):
            median = statistics.median(values)
            print(f"recorded/plain {name}: median {median:.3f} (range {min(values):.3f}-{max(values):.3f}); "
                  f"goal >= 0.97: " + ("met" if median >= 0.97 else "NOT met"))
        micro = recorder_us_per_request(work)
        share = micro / statistics.median(plain_us)
        print(f"the recorder's listener alone: {micro:.1f} us CPU per request = {share:.1%} of plain Locust's "
              f"{statistics.median(plain_us):.0f} us per request: a ceiling ratio of {1 / (1 + share):.3f}")
        if not args.no_ceiling:
            one = ceiling(work, url, args.users, args.seconds, 0)
            many = ceiling(work, url, args.users, args.seconds, args.workers)
            print(f"ceiling of one rehearsal's load: 1 Locust process {one:.0f} req/s; master + {args.workers} "
                  f"workers {many:.0f} req/s ({many / one:.2f}x); load average {os.getloadavg()[0]:.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()

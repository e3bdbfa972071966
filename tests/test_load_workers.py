"""Locust's distributed mode for real: a master and 2 local workers on loopback (open model, the rate split
between them) against a real loopback HTTP server; both workers' requests recorded, tagged by worker, in phases."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.core.processes import free_loopback_port, wait_until
from harness.load.launcher import Load
from harness.plan import load_plan
from harness.plan.model import LoadOptions
from harness.result.arrivals import arrival_table
from harness.result.frames import load_frames
from harness.rundir import RunDir

from .conftest import REPO
from .leftovers import processes_of

LOCUSTFILE = '''
from locust import FastHttpUser, constant, task

class Fast(FastHttpUser):
    wait_time = constant(1)

    @task(3)
    def item(self):
        self.client.get("/item", name="/item")

    @task
    def other(self):
        self.client.get("/other", name="/other")
'''
RATE = 100.0


@pytest.mark.slow
def test_a_master_and_two_workers_record_every_request_by_worker_and_phase(tmp_path: Path) -> None:
    port = free_loopback_port()
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "apps" / "fast_http.py"), str(port)])
    (tmp_path / "locustfile.py").write_text(LOCUSTFILE)
    run = RunDir(tmp_path / "run", "load-workers-test")
    (run.path / "streams").mkdir(parents=True)
    (run.path / "logs").mkdir()
    plan = replace(load_plan(REPO / "scenarios" / "shop"), locustfile=tmp_path / "locustfile.py", load_env={},
                   load_options=LoadOptions(model="open", rate=RATE, workers=2))
    load = Load(plan, run.stream("requests.csv"), run.log("locust.log"), run.run_id)
    phases = run.stream("phases.jsonl")
    try:
        wait_until(lambda: subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/"], capture_output=True)
                   .returncode == 0, 10, what="the server")
        load.start(f"http://127.0.0.1:{port}")
        assert [p.name for p in load.workers] == ["locust worker 0", "locust worker 1"]
        load.wait_for_traffic()
        with phases.open("w") as stream:
            for name in ("first", "second"):
                started = time.time()
                time.sleep(2)
                stream.write(json.dumps({"name": name, "started": started, "ended": time.time(),
                                         "from_version": "1.0", "to_version": "1.0"}) + "\n")
    finally:
        load.stop()
        server.terminate()
        server.wait(5)
    assert processes_of(run.run_id) == [], "a Locust process outlived the load"
    assert load.workers == [] and load.process is None
    streams = sorted(p.name for p in (run.path / "streams").glob("requests*.csv"))
    assert len(streams) == 2 and "requests.csv" not in streams, streams  # one per worker, none for the master

    frames = load_frames(run)
    requests = frames.requests
    workers = {int(name.removeprefix("requests-").removesuffix(".csv")) for name in streams}
    assert set(requests["worker"]) == workers
    for phase in ("first", "second"):
        mine = requests[requests["phase"] == phase]
        per_worker = mine.groupby("worker").size()
        assert set(per_worker.index) == workers, f"{phase}: a worker sent nothing"
        # the rate is split: each worker about half of RATE/s over the 2 s phase (generous for a shared machine)
        assert all(0.5 * RATE <= n <= 1.3 * RATE for n in per_worker), per_worker.to_dict()
        assert set(mine["name"]) == {"/item", "/other"} and (mine["status"] == 200).all()
    assert (requests["intended"] <= requests["start"] + 1e-6).all()
    first, second = arrival_table(frames, "open")
    assert first.intended == first.sent == first.completed > 0 and first.dropped == 0

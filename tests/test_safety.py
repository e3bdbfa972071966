"""Safety: secrets stay out of command lines and logs (planted secrets), the target guard refuses what the harness
did not start (without sending a packet anywhere), run directories stay inside --out with unique ids across
processes, two rehearsals at once do not collide, and `rehearse cleanup` removes what dead runs left, and only
that."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.cleanup import remove_dead_runs
from harness.core import ownership, redaction
from harness.core.database import Database
from harness.core.errors import EnvironmentFailure, PlanError
from harness.core.net import is_loopback_host, is_loopback_url
from harness.core.processes import RUN_ID_ENV, run_env
from harness.environments.docker_cleanup import owner_labels
from harness.events import Events
from harness.load.launcher import Load
from harness.plan import load_plan
from harness.records.run import Step
from harness.rundir import RunDir
from harness.seed import seed
from harness.upgrade.command import CommandRunner

from .conftest import REPO
from .leftovers import wait_for_no_leftovers
from .test_kills import KILL_POINTS

PLANTED = ("planted-service-token-5b1e0c", "planted-load-token-7c2d9a")
PRINT_SECRETS = ("import os, sys, psycopg; print('argv', sys.argv[1:]); print('DATABASE_URL=' + "
                 "os.environ['DATABASE_URL']); print('PGPASSWORD=' + os.environ['PGPASSWORD']); "
                 "print('API_TOKEN=planted-token-93af'); psycopg.connect(sys.argv[1]).execute('SELECT 1'); "
                 "print('connected with the DSN of the command line')")


# -- secrets ---------------------------------------------------------------------------------------------------

def test_seed_gets_a_passwordless_dsn_and_its_output_is_redacted(database: Database, tmp_path: Path) -> None:
    plan = load_plan(KILL_POINTS, {"seed.command": ["{python}", "-c", PRINT_SECRETS, "{dsn}"]})
    redaction.remember("planted-token-93af")
    log = tmp_path / "seed.log"
    seed(plan, database, log, "secrets-test")
    text = log.read_text()
    assert "connected with the DSN of the command line" in text, "PGPASSWORD made the password-less DSN work"
    assert database.password not in text and "planted-token-93af" not in text, text
    assert f"postgresql://{database.user}@{database.host}:{database.port}/{database.dbname}" in text, \
        "argv carried the DSN without its password"


def test_a_migration_command_gets_no_password_on_its_command_line(database: Database, tmp_path: Path) -> None:
    steps: list[Step] = []
    seen: list[str] = []
    events = Events()
    events.migration_started.add_listener(lambda command, **_: seen.extend(command))
    runner = CommandRunner(database, steps.append, tmp_path / "migrations.log", "secrets-test", events)
    runner.run([sys.executable, "-c", PRINT_SECRETS, "{dsn}"], tmp_path, {}, "upgrade", "2.0", "up")
    assert database.password not in " ".join(seen), "not in the argv of the process (visible in ps)"
    text = (tmp_path / "migrations.log").read_text()
    assert "connected with the DSN of the command line" in text
    assert database.password not in text and database.password not in steps[0].source


def test_redaction_covers_passwords_tokens_and_keys() -> None:
    lines = {
        "DATABASE_URL=postgresql://app:s3cretPassW0rd@db:5432/shop": "s3cretPassW0rd",
        "PGPASSWORD=hunter2xyz": "hunter2xyz",
        "redis://:pw123456@127.0.0.1/0": "pw123456",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl": "eyJhbGciOiJIUzI1NiJ9",
        'export API_TOKEN="tok_live_abcdef123456"': "tok_live_abcdef123456",
        '{"password": "xyz123456"}': "xyz123456",
        "aws_key = 'AKIAIOSFODNN7EXAMPLE'": "AKIAIOSFODNN7EXAMPLE",
        "host=127.0.0.1 password=abcdef dbname=x": "abcdef",
    }
    for line, secret in lines.items():
        assert secret not in redaction.redact(line), line
    assert redaction.redact("GET /products 200 12ms") == "GET /products 200 12ms"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[subprocess.CompletedProcess, Path]]:
    """Two small rehearsals of the same plan at the same time, each with its own --out."""
    base = tmp_path_factory.mktemp("two")
    procs = [(subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(KILL_POINTS), "--out",
                                str(base / f"out{i}")], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True), base / f"out{i}") for i in range(2)]
    results = []
    for proc, out in procs:
        stdout, stderr = proc.communicate(timeout=240)
        (run_dir,) = out.iterdir()
        results.append((subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), run_dir))
    return results


@pytest.mark.slow
def test_two_rehearsals_at_once_do_not_collide(two_runs) -> None:
    (first, dir1), (second, dir2) = two_runs
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert dir1.name != dir2.name
    for run_dir in (dir1, dir2):
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["verdict"] == "pass" and summary["failures"] == [] and summary["faults"] == []
        assert all(p["requests"] > 0 for p in summary["phases"])
        assert wait_for_no_leftovers(run_dir.name, timeout=2) == {}
    assert owner_labels(dir1.name) != owner_labels(dir2.name), "docker labels name the run: distinct"


@pytest.mark.slow
def test_no_secret_in_any_file_of_a_run(two_runs) -> None:
    _, run_dir = two_runs[0]
    logs = {p.name: p.read_text(errors="replace") for p in (run_dir / "logs").iterdir()}
    assert "SHOP_API_TOKEN=***" in logs["service-v1-1.log"] and "PGPASSWORD=***" in logs["service-v1-1.log"]
    assert "LOAD_API_TOKEN=***" in logs["locust.log"], "the planted secrets were printed, and masked"
    credentials = re.compile(rb"postgres(?:ql)?://[^:\s/]+:(?!\*\*\*)[^@\s]+@")
    for path in run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not credentials.search(data), f"a DSN with its password in {path}"
            for secret in PLANTED:
                assert secret.encode() not in data, f"{secret} in {path}"


# -- the target guard ------------------------------------------------------------------------------------------

def test_loopback_is_parsed_and_resolved_without_dns() -> None:
    assert is_loopback_url("http://127.0.0.1:8080/health") and is_loopback_url("http://localhost:1")
    assert is_loopback_url("http://[::1]:80/") and is_loopback_url("http://app.localhost/")
    for url in ("http://localhost.example.com", "http://127.0.0.1.invalid/", "http://10.0.0.1/",
                "http://0.0.0.0:80/", "ftp://127.0.0.1/", "http://127.0.0.1:99999/", "http://user@shop.example/",
                "http:///nohost"):
        assert not is_loopback_url(url), url
    assert not is_loopback_host("db.invalid") and not is_loopback_host("")


def test_loopback_names_come_from_the_hosts_file(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 shop.test # local\n10.0.0.9 mixed.test\n127.0.0.1 mixed.test\n")
    assert is_loopback_host("shop.test", hosts) and not is_loopback_host("mixed.test", hosts)


def test_load_is_never_sent_past_loopback(tmp_path: Path) -> None:
    load = Load(load_plan(KILL_POINTS), tmp_path / "requests.csv", tmp_path / "locust.log", "guard-test")
    with pytest.raises(EnvironmentFailure, match="only loopback"):
        load.start("http://localhost.example.com:8080")
    assert load.process is None, "refused before any process started"


@pytest.mark.parametrize(("overrides", "key"), [
    ({"service.env": {"DATABASE_URL": "postgresql://app:pw@prod-db.example/shop"}}, "service.env.DATABASE_URL"),
    ({"service.env": {"PGHOST": "prod-db.invalid"}}, "service.env.PGHOST"),
    ({"service.env": {"HOST": "0.0.0.0"}}, "service.env.HOST"),
    ({"load.env": {"UPSTREAM": "http://localhost.example.com/api"}}, "load.env.UPSTREAM"),
    ({"seed.command": ["{python}", "seed.py", "--dsn=postgresql://db.invalid/x"]}, "seed.command[2]"),
])
def test_the_guard_refuses_what_the_harness_did_not_start(overrides: dict, key: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(KILL_POINTS, overrides)
    assert caught.value.key == key and "--allow-targets" in caught.value.problem


def test_an_allowlisted_target_needs_the_confirmation_flag() -> None:
    overrides = {"service.env": {"PGHOST": "staging-db.example"}, "targets.allow": ["staging-db.example"]}
    with pytest.raises(PlanError, match="confirm it with --allow-targets"):
        load_plan(KILL_POINTS, overrides)
    assert load_plan(KILL_POINTS, overrides, targets_confirmed=True).targets.allow == ("staging-db.example",)
    own = {"service.env": {"DATABASE_URL": "{dsn}", "HOST": "127.0.0.1", "UPSTREAM": "http://localhost:9/x"}}
    assert load_plan(KILL_POINTS, own).service_env["DATABASE_URL"] == "{dsn}", "the harness's own are fine"


# -- unique, contained runs ------------------------------------------------------------------------------------

def test_a_scenario_name_cannot_leave_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for name in ("../../escaped", "/etc/passwd", "..", "a/../../b", "\\..\\x", "~root"):
        run = RunDir.create(load_plan(KILL_POINTS, {"scenario.name": name}), out)
        assert run.path.parent == out.resolve() and ".." not in run.run_id and "/" not in run.run_id, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _create_many(out: str, count: int, queue: multiprocessing.Queue) -> None:
    plan = load_plan(KILL_POINTS)
    ids, errors = [], []
    for _ in range(count):
        try:
            ids.append(RunDir.create(plan, Path(out)).run_id)
        except Exception as exc:  # noqa: BLE001 - counted
            errors.append(repr(exc))
    queue.put((ids, errors))


def test_run_ids_are_unique_across_processes_and_directories(tmp_path: Path) -> None:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_create_many, args=(str(tmp_path / ("a" if i % 2 else "b")), 20,
                                                                   queue)) for i in range(6)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    ids = [run_id for found, _ in results for run_id in found]
    assert [e for _, errors in results for e in errors] == []
    assert len(ids) == 120 and len(set(ids)) == 120, "unique, also between the two --out directories"


# -- cleanup of dead runs --------------------------------------------------------------------------------------

OWNER = """
import json, os, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from harness.core import ownership
from harness.core.processes import run_env
run_id = sys.argv[1]
registry = ownership.RunRegistry(run_id, Path(sys.argv[2]))
temp = Path(tempfile.mkdtemp(prefix=f"rehearse-pg-{{run_id}}-"))
registry.add_temp_dir(temp)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                         env={{**os.environ, **run_env(run_id)}})
registry.add_process(child.pid, "sleeper")
loose = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                         env={{**os.environ, **run_env(run_id + "-unregistered")}})
print(json.dumps({{"temp": str(temp), "child": child.pid, "loose": loose.pid}}), flush=True)
if sys.argv[3] == "die":
    os._exit(0)  # dies without cleaning up, as a SIGKILLed harness
time.sleep(300)
"""


def _owner(run_id: str, run_dir: Path, mode: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER.format(repo=str(REPO)), run_id, str(run_dir), mode],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _alive(pid: int) -> bool:
    return ownership.start_ticks(pid) is not None


def test_cleanup_removes_what_a_dead_run_left_and_nothing_of_a_live_one(tmp_path: Path) -> None:
    (tmp_path / "dead" / "streams").mkdir(parents=True)
    (tmp_path / "dead" / "streams" / "run.jsonl").write_text('{"event": "run", "at": 1}\n')
    dead, dead_things = _owner("cleanup-dead-run", tmp_path / "dead", "die")
    dead.wait(10)
    live, live_things = _owner("cleanup-live-run", tmp_path / "live", "live")
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                                env={**os.environ, RUN_ID_ENV: "not-ours"})  # no REHEARSE_OWNER: not ours to judge
    try:
        result = subprocess.run([sys.executable, "-m", "harness.cli", "cleanup"], cwd=REPO, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        for _ in range(50):
            if not _alive(dead_things["child"]) and not _alive(dead_things["loose"]):
                break
            time.sleep(0.1)
        assert not _alive(dead_things["child"]) and not _alive(dead_things["loose"])
        assert not Path(dead_things["temp"]).exists()
        assert f"process group {dead_things['child']} (sleeper) of run cleanup-dead-run" in result.stdout
        assert f"temp dir {dead_things['temp']}" in result.stdout and f"process {dead_things['loose']}" in \
            result.stdout, result.stdout
        assert '"kind": "killed"' in (tmp_path / "dead" / "streams" / "run.jsonl").read_text()
        assert _alive(live_things["child"]) and _alive(live_things["loose"]) and Path(live_things["temp"]).exists()
        assert _alive(stranger.pid), "a process without an owner mark is never touched"
        again = subprocess.run([sys.executable, "-m", "harness.cli", "cleanup"], cwd=REPO, capture_output=True,
                               text=True, timeout=60)
        assert "cleanup-live-run" not in again.stdout
    finally:
        for pid in (live_things["child"], live_things["loose"], stranger.pid):
            os.kill(pid, signal.SIGKILL)
        live.kill()
        live.wait()
        stranger.wait()
        subprocess.run(["rm", "-rf", live_things["temp"]], check=False)
        (ownership.registry_dir() / "cleanup-live-run.json").unlink(missing_ok=True)


def test_an_orphan_temp_dir_is_removed_only_when_no_server_runs_in_it(tmp_path: Path) -> None:
    orphan = Path(tempfile.mkdtemp(prefix="rehearse-pg-orphan-test-"))
    running = Path(tempfile.mkdtemp(prefix="rehearse-pg-running-test-"))
    (running / "data").mkdir()
    (running / "data" / "postmaster.pid").write_text(f"{os.getpid()}\n")  # a live "server"
    old = time.time() - 3600
    for path in (orphan, running):
        os.utime(path, (old, old))
    try:
        removed = remove_dead_runs()
        assert any(str(orphan) in line for line in removed) and not orphan.exists()
        assert running.exists() and not any(str(running) in line for line in removed)
    finally:
        subprocess.run(["rm", "-rf", str(orphan), str(running)], check=False)


def test_children_carry_the_run_and_their_owner() -> None:
    env = run_env("some-run")
    assert env[RUN_ID_ENV] == "some-run" and ownership.token_alive(env[ownership.OWNER_ENV]) is True
    assert ownership.token_alive("1:0") is False and ownership.token_alive("x") is None

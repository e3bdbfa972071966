"""`rehearse profile` on the committed shop access log, and load.profile / load.profile_values in a plan."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.errors import InputError
from harness.plan import PlanError, load_plan
from harness.profile.contract import PROFILE_ENV, PROFILE_USER_PATH, PROFILE_VALUES_ENV, decode_values
from harness.profile.store import read_profile

from ..conftest import REPO

LOG = Path(__file__).with_name("shop_access.log")
SHOP = REPO / "scenarios" / "shop"
SHARES = {"GET /products": 0.25, "GET /products/{id}": 0.20, "GET /orders/{id}": 0.15, "GET /search": 0.15,
          "GET /customers/{id}/orders": 0.10, "POST /orders": 0.10, "GET /health": 0.05}  # as generated


@pytest.fixture(scope="module")
def profile_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("profile") / "profile.toml"
    assert main(["profile", str(LOG), "-o", str(out)]) == 0
    return out


def test_the_shop_log_gives_the_shop_endpoints_in_their_mix(profile_file: Path, capsys) -> None:
    profile = read_profile(profile_file)
    assert profile.requests == 3000 and profile.sources[0].unparsed == 5
    assert set(profile.shares()) == set(SHARES), "ids and query strings (uuids among them) are templated away"
    for name, share in profile.shares().items():
        assert abs(share - SHARES[name]) < 0.02, (name, share)  # drawn at random with these weights
    assert profile.concurrency.method == "request_time" and profile.concurrency.peak_in_flight
    assert profile.think_time.median_s == 0.0 and 0.9 < (profile.think_time.p90_s or 0) < 2


def test_the_cli_says_what_it_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", str(LOG), "-o", str(tmp_path / "p.toml")]) == 0
    out = capsys.readouterr().out
    assert f"{LOG}: combined, 3000 requests, 5 unparsable line(s) skipped" in out
    assert "GET /products/{id}" in out


@pytest.mark.parametrize(("argv", "problem"), [
    (["profile", "/no/such.log"], "/no/such.log: cannot read it"),
    (["profile", str(REPO / "README.md")], "README.md: unknown format"),
    (["profile", str(LOG), "--format", "json"], "shop_access.log: no parsable line"),
    (["profile", str(LOG), "--session-gap", "0"], "--session-gap: must be > 0"),
    (["profile", str(LOG), "-o", "/no/such/dir/p.toml"], "/no/such/dir/p.toml: cannot write it"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], problem: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1, err


@pytest.fixture()
def shop_without_locustfile(tmp_path: Path, profile_file: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(profile_file, target / "profile.toml")
    plan = target / "rehearsal.toml"
    plan.write_text(plan.read_text().replace('locustfile = "locustfile.py"', 'profile = "profile.toml"'))
    return target


def test_a_plan_with_a_profile_and_no_locustfile_runs_the_profile_user(shop_without_locustfile: Path) -> None:
    values = {"GET /search": {"query": ["q={term}"], "term": ["eco"]}, "id": {"min": 1, "max": 100}}
    plan = load_plan(shop_without_locustfile, {"load.profile_values": values})
    assert plan.locustfile == PROFILE_USER_PATH and plan.load_profile == shop_without_locustfile / "profile.toml"
    assert plan.load_env[PROFILE_ENV] == str(plan.load_profile)
    assert decode_values(plan.load_env[PROFILE_VALUES_ENV]) == values == plan.load_profile_values
    assert "{term}" not in plan.load_env[PROFILE_VALUES_ENV], "escaped from the launcher's placeholder expansion"
    with_locustfile = load_plan(shop_without_locustfile, {"load.locustfile": "profile_locustfile.py"})
    assert with_locustfile.locustfile.name == "profile_locustfile.py" and with_locustfile.load_profile is not None


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"load.profile": "nope.toml"}, "load.profile: file 'nope.toml' does not exist"),
    ({"load.profile_values": {"GET /nowhere": {"id": [1]}}}, "load.profile_values.GET /nowhere: no such endpoint"),
    ({"load.profile_values": {"id": {"min": 2, "max": 1}}}, "load.profile_values.id.max: must be >= min"),
    ({"load.profile_values": {"id": "1..9"}}, "load.profile_values.id: must be a list or a table"),
])
def test_bad_profile_keys_name_the_key(shop_without_locustfile: Path, overrides: dict, problem: str) -> None:
    with pytest.raises(PlanError, match=problem.replace("(", r"\(")):
        load_plan(shop_without_locustfile, overrides)


def test_profile_values_need_a_profile_and_a_bad_profile_names_its_file(shop_without_locustfile: Path) -> None:
    with pytest.raises(PlanError, match="load.profile_values: needs load.profile"):
        load_plan(SHOP, {"load.profile_values": {"id": [1]}})
    (shop_without_locustfile / "profile.toml").write_text("[profile]\nversion = 1\n")
    with pytest.raises(InputError, match="profile.toml: profile.requests: missing"):
        load_plan(shop_without_locustfile)


def test_rehearse_check_accepts_a_profile_plan(shop_without_locustfile: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(shop_without_locustfile)],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr

"""The manifest: every key read strictly, paths kept inside the package, cleanup steps validated; and plans
that take packages as versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import InputError, PackageError
from harness.package.manifest import manifest_problems, parse_manifest
from harness.plan import SqlMigrations, load_plan

from ..conftest import REPO
from .conftest import package_dir

SHOP = REPO / "scenarios" / "shop"


def _parse(text: str) -> object:
    return parse_manifest(text.encode(), "manifest.toml")


@pytest.mark.parametrize(("text", "problem"), [
    ('[package]\nname = "x"\nversion = "1"\nconfg = []\n', "package.confg: unknown key (did you mean 'config'?)"),
    ('[pakage]\nname = "x"\n', "pakage: unknown section (did you mean 'package'?)"),
    ('[package]\nname = "x"\n', "package.version: missing"),
    ('[package]\nname = "x"\nversion = "1"\nconfig = ["../etc/passwd"]\n', "must be a path inside the package"),
    ('[package]\nname = "x"\nversion = "1"\n[migrations]\nsql = "/abs"\n', "must be a path inside the package"),
    ('[package]\nname = "x"\nversion = "1"\n[migrations]\nup = ["a"]\n', "needs 'sql' = DIR, or both"),
    ('[package]\nname = "x"\nversion = "1"\n[[cleanup]]\nname = "a"\nrun = { sql = "x" }\n',
     "cleanup[0].check: missing"),
    ('[package]\nname = "x"\nversion = "1"\n[[cleanup]]\nname = "a"\nkind = "feature_flag"\nrun = { sql = "x" }\n'
     'check = { sql = "y" }\n', "a feature_flag step names the flag"),
    ('[package]\nname = "x"\nversion = "1"\n[[cleanup]]\nname = "a"\nrun = { sql = "x", command = ["y"] }\n'
     'check = { sql = "y" }\n', "needs exactly one of 'sql'"),
    ('[package]\nname = "x"\nversion = "1"\n[feature_flags]\nf = true\n[[cleanup]]\nname = "a"\nkind = "feature_flag"\n'
     'flag = "g"\nrun = { sql = "x" }\ncheck = { sql = "y" }\n', "no feature flag 'g'"),
    ("[package\n", "not valid TOML"),
])
def test_bad_manifests_name_the_key_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(PackageError, match=None) as caught:
        _parse(text)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("manifest.toml: ")


def test_the_demo_manifests_parse_and_name_files_the_packages_hold() -> None:
    for version in ("1.0", "2.0", "2.1"):
        manifest = parse_manifest((SHOP / "releases" / version / "manifest.toml").read_bytes(), version)
        assert manifest.version == version and manifest.command == ("{python}", "app.py")
    two = parse_manifest((SHOP / "releases" / "2.1" / "manifest.toml").read_bytes(), "2.1")
    assert [s.kind for s in two.cleanup] == ["feature_flag", "webhook", "credential"]
    assert two.includes[0].dir == "../2.0" and two.migration_options["lock_timeout_ms"] == 200
    assert manifest_problems(two, {"config/shop.ini"}) == [
        ("package.scheduled", "'cron/shop-reports' is not in the package"),
        ("package.scheduled", "'systemd/shop-maintenance.service' is not in the package"),
        ("package.scheduled", "'systemd/shop-maintenance.timer' is not in the package"),
        ("migrations.sql", "directory 'migrations' is not in the package")]


def test_a_package_directory_can_be_a_version_and_the_2_1_one_carries_2_0s_code() -> None:
    plan = load_plan(SHOP, {"versions.to": str(SHOP / "releases" / "2.1")})
    release = plan.releases["2.1"]
    assert plan.to_version == "2.1" and release.package is not None and release.image is None
    assert "app.py" in release.package.names and "migrations/005_flags_and_webhooks.up.sql" in release.package.names
    assert not any(n.startswith("migrations/002_orders_customer_index") for n in release.package.names)
    assert isinstance(release.migrations, SqlMigrations) and release.migrations.options.lock_timeout_ms == 200
    assert release.env["ORDER_WEBHOOK_URL"].startswith("https://hooks.partner-payments.com/")
    assert [r.version for r in plan.upgrade_path()] == ["2.1"]


RELEASE_2_0 = ('[releases."2.0"]\ndir = "releases/2.0"\nimage = "rehearse/shop:2.0"        # docker: built by '
               'docker/build-offline-images\nupgrades_from = "1.0"\nmigrations = { sql = "migrations" }')


def _plan_with(tmp_path: Path, release: str) -> Path:
    """scenarios/shop's plan, copied, with `release` as its releases."2.0"."""
    text = (SHOP / "rehearsal.toml").read_text()
    assert RELEASE_2_0 in text
    text = text.replace(RELEASE_2_0, release).replace('locustfile = "locustfile.py"',
                                                      f'locustfile = "{SHOP / "locustfile.py"}"')
    path = tmp_path / "rehearsal.toml"
    path.write_text(text.replace('dir = "releases/', f'dir = "{SHOP}/releases/'))
    return path


def test_a_plan_release_may_point_at_a_package(tmp_path: Path, demo_packages: dict[str, Path]) -> None:
    plan = load_plan(_plan_with(tmp_path, f'[releases."2.0"]\npackage = "{demo_packages["2.0"]}"'))
    release = plan.releases["2.0"]
    assert release.package is not None and release.package.kind == "zip" and release.upgrades_from == "1.0"
    assert release.dir == demo_packages["2.0"], "the package itself, until a run unpacks it"


def test_package_keys_that_conflict_or_do_not_match_are_plan_errors(tmp_path: Path,
                                                                    demo_packages: dict[str, Path]) -> None:
    with pytest.raises(InputError, match="no release 'nope'.*and no package"):
        load_plan(SHOP, {"versions.to": "nope"})
    orphan = package_dir(tmp_path / "pkg", {"app.py": "print(1)\n"}, version="3.0", extra='upgrades_from = "0.9"')
    with pytest.raises(InputError, match="package.upgrades_from: no release '0.9'"):
        load_plan(SHOP, {"versions.to": str(orphan)})
    both = f'[releases."2.0"]\npackage = "{demo_packages["2.0"]}"\ndir = "releases/2.0"'
    with pytest.raises(InputError, match='releases."2.0".dir: comes from the package'):
        load_plan(_plan_with(tmp_path, both))
    wrong = f'[releases."2.0"]\npackage = "{demo_packages["2.1"]}"'
    with pytest.raises(InputError, match="the package is version 2.1, not 2.0"):
        load_plan(_plan_with(tmp_path, wrong))

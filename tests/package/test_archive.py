"""Safe unpacking: every unsafe member is rejected with its reason, before anything is written; executable
bits are kept; builds refuse links and device files and are reproducible."""

from __future__ import annotations

import contextlib
import os
import stat
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.errors import PackageError
from harness.package import archive, build
from harness.package.source import open_package, unpack_to

from .conftest import manifest, package_dir, regular, write_zip


def _problems(path: Path, limits: archive.Limits = archive.DEFAULT_LIMITS) -> list[archive.Problem]:
    with archive.open_zip(path) as opened:
        return archive.inspect(opened, limits)[1]


@pytest.mark.parametrize(("name", "kind"), [
    ("../../etc/cron.d/evil", "path traversal"),
    ("app/../../outside.sh", "path traversal"),
    ("/etc/passwd", "absolute path"),
    ("C:/Windows/evil.dll", "absolute path"),
    ("..\\evil.bat", "bad name"),
])
def test_a_member_that_would_land_outside_is_rejected(tmp_path: Path, name: str, kind: str) -> None:
    bad = write_zip(tmp_path / "bad.zip", [regular("manifest.toml", manifest()), regular(name, "x")])
    problems = _problems(bad)
    assert [(p.member, p.kind) for p in problems] == [(name, kind)]
    with pytest.raises(archive.UnsafeArchive, match=kind.split()[0]):
        archive.unpack(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "nothing was written"
    assert not (tmp_path.parent / "outside.sh").exists()


def test_symlinks_and_device_files_are_rejected(tmp_path: Path) -> None:
    bad = write_zip(tmp_path / "links.zip", [
        regular("manifest.toml", manifest()),
        ("config/link", b"/etc/shadow", stat.S_IFLNK | 0o777),
        ("dev/tty", b"", stat.S_IFCHR | 0o600),
        ("dev/pipe", b"", stat.S_IFIFO | 0o600),
    ])
    kinds = {p.member: p.kind for p in _problems(bad)}
    assert kinds == {"config/link": "symlink", "dev/tty": "device file", "dev/pipe": "device file"}
    with pytest.raises(PackageError, match="symbolic link"):
        open_package(bad)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_names_also_after_case_folding_are_rejected(tmp_path: Path) -> None:
    bad = write_zip(tmp_path / "dups.zip", [
        regular("manifest.toml", manifest()), regular("run.sh", "a"), regular("run.sh", "b"),
        regular("Config.ini", "a"), regular("config.INI", "b"), regular("data", "a file"), regular("data/x", "b"),
    ])
    problems = {(p.member, p.kind): p.reason for p in _problems(bad)}
    assert problems[("run.sh", "duplicate name")] == "appears twice in the archive"
    assert "only by case" in problems[("config.INI", "duplicate name")]
    assert problems[("data", "duplicate name")] == "is both a file and a directory"


def test_decompression_bombs_are_rejected_by_ratio_total_and_count(tmp_path: Path) -> None:
    zeros = write_zip(tmp_path / "bomb.zip", [regular("manifest.toml", manifest()),
                                               regular("blob.bin", b"\0" * (8 << 20))])
    (problem, *_) = _problems(zeros)
    assert problem.kind == "bomb" and "expands" in problem.reason and problem.member == "blob.bin"
    small = archive.Limits(max_total_bytes=1000, max_files=2, max_ratio=1e9)
    many = write_zip(tmp_path / "many.zip", [regular("manifest.toml", manifest())]
                     + [regular(f"f{i}", os.urandom(400)) for i in range(3)])
    reasons = [p.reason for p in _problems(many, small)]
    assert any("more than the limit of 2" in r for r in reasons)
    assert any("expands to" in r and "limit of 1000" in r for r in reasons)
    with pytest.raises(archive.UnsafeArchive):
        archive.unpack(zeros, tmp_path / "never")


def test_unpack_keeps_executable_bits_and_nothing_more(tmp_path: Path) -> None:
    good = write_zip(tmp_path / "good.zip", [
        regular("manifest.toml", manifest()), regular("bin/run.sh", "#!/bin/sh\necho hi\n", executable=True),
        ("bin/setuid", b"x", stat.S_IFREG | 0o4777), regular("etc/app.ini", "a = 1\n")])
    archive.unpack(good, tmp_path / "out")
    modes = {name: stat.S_IMODE(os.stat(tmp_path / "out" / name).st_mode) for name in
             ("bin/run.sh", "bin/setuid", "etc/app.ini")}
    assert modes == {"bin/run.sh": 0o755, "bin/setuid": 0o755, "etc/app.ini": 0o644}


def test_not_a_zip_and_no_manifest_are_unusable(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(PackageError, match="not a zip archive"):
        open_package(junk)
    empty = write_zip(tmp_path / "empty.zip", [regular("app.py", "print(1)\n")])
    with pytest.raises(PackageError, match="no manifest.toml"):
        open_package(empty)


def test_build_refuses_symlinks_and_hard_links(tmp_path: Path) -> None:
    source = package_dir(tmp_path / "pkg", {"app.py": "print(1)\n"})
    (source / "link").symlink_to("/etc/hostname")
    with pytest.raises(PackageError, match="symbolic link"):
        build.build(source, tmp_path / "out.zip")
    (source / "link").unlink()
    os.link(source / "app.py", source / "again.py")
    with pytest.raises(PackageError, match="hard link"):
        build.build(source, tmp_path / "out.zip")


def test_builds_are_reproducible_and_unpack_to_the_same_files(tmp_path: Path) -> None:
    source = package_dir(tmp_path / "pkg", {"app.py": "print(1)\n", "bin/run.sh": "#!/bin/sh\n",
                                            "__pycache__/app.cpython-311.pyc": "junk"})
    first = build.build(source, tmp_path / "a.zip")
    second = build.build(source, tmp_path / "b.zip")
    assert first.sha256 == second.sha256 and first.files == 3
    out = unpack_to(open_package(first.path), tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "app.py", "bin/run.sh", "manifest.toml"]
    assert os.stat(out / "bin" / "run.sh").st_mode & 0o111


def test_zipfile_alone_would_have_rewritten_the_traversal(tmp_path: Path) -> None:
    """Why the checks exist: Python's extractall silently strips '../' (the file lands somewhere unexpected)
    and drops the mode; ours refuses the archive."""
    bad = write_zip(tmp_path / "slip.zip", [regular("../slipped.sh", "#!/bin/sh\n", executable=True)])
    with zipfile.ZipFile(bad) as opened:
        opened.extractall(tmp_path / "naive")
    assert (tmp_path / "naive" / "slipped.sh").exists()
    assert not os.stat(tmp_path / "naive" / "slipped.sh").st_mode & 0o111
    with pytest.raises(archive.UnsafeArchive, match="climbs out"):
        archive.unpack(bad, tmp_path / "ours")


NAMES = st.lists(st.text(alphabet="ab./\\:C_\x00", min_size=1, max_size=12), min_size=1, max_size=5)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=60, deadline=None)
@given(names=NAMES)
def test_whatever_the_names_nothing_is_written_outside(tmp_path_factory: pytest.TempPathFactory,
                                                        names: list[str]) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    path = write_zip(base / "fuzz.zip", [regular(name, "x") for name in names])
    dest = base / "sandbox" / "out"
    with contextlib.suppress(archive.UnsafeArchive):
        archive.unpack(path, dest)
    written = [p for p in base.rglob("*") if p.is_file() and p.name != "fuzz.zip"]
    assert all(dest in p.parents for p in written), written

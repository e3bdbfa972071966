"""Crafted packages for the package tests, and the demo's releases built as packages once per session."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from harness.package.build import build

from ..conftest import REPO

MANIFEST = """[package]
name = "crafted"
version = "{version}"
{extra}
[service]
command = ["{{python}}", "app.py"]
"""


def manifest(version: str = "1.0", extra: str = "") -> str:
    return MANIFEST.format(version=version, extra=extra)


def write_zip(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    """A zip holding exactly `members` (name as written, data, Unix st_mode), names untouched."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path


def regular(name: str, data: bytes | str, executable: bool = False) -> tuple[str, bytes, int]:
    return name, data.encode() if isinstance(data, str) else data, stat.S_IFREG | (0o755 if executable else 0o644)


def package_dir(root: Path, files: dict[str, str], version: str = "1.0", extra: str = "") -> Path:
    """A package directory: a manifest, and `files` (name -> text; names ending in .sh are executable)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.toml").write_text(manifest(version, extra))
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def demo_packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """scenarios/shop's releases 1.0, 2.0 and 2.1, built as package zips."""
    out = tmp_path_factory.mktemp("demo-packages")
    return {version: build(REPO / "scenarios" / "shop" / "releases" / version, out / f"shop-{version}.zip").path
            for version in ("1.0", "2.0", "2.1")}

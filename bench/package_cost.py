"""What packages cost: safe unpacking against zipfile's extractall, side by side in one run, and the
preflight (scan) of the demo's packages.

    python bench/package_cost.py                 # 2,000 files of 16 KiB, 5 rounds
    python bench/package_cost.py --files 200 --kib 512 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import stat
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.package import archive  # noqa: E402
from harness.package.build import build  # noqa: E402
from harness.package.preflight import preflight  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def synthetic(path: Path, files: int, kib: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        info = zipfile.ZipInfo("manifest.toml")
        out.writestr(info, '[package]\nname = "bench"\nversion = "1"\n')
        for i in range(files):
            info = zipfile.ZipInfo(f"d{i % 20}/f{i}.bin", date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system, info.compress_type = 3, zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            out.writestr(info, os.urandom(kib * 512) + b"a" * (kib * 512))


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--kib", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rehearse-bench-") as temp:
        base = Path(temp)
        package = base / "bench.zip"
        synthetic(package, args.files, args.kib)
        ours, theirs = [], []
        for round_ in range(args.rounds):  # alternate, so that the page cache favours neither
            def safe(n: int = round_) -> None:
                archive.unpack(package, base / f"safe{n}")

            def naive(n: int = round_) -> None:
                with zipfile.ZipFile(package) as opened:
                    opened.extractall(base / f"naive{n}")
            ours.append(timed(safe))
            theirs.append(timed(naive))
        size = package.stat().st_size / 2**20
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(f"unpack {args.files} files ({size:.1f} MiB zip), median of {args.rounds}: safe {ours_s * 1000:.0f} ms, "
              f"zipfile.extractall {theirs_s * 1000:.0f} ms, ratio {ours_s / theirs_s:.2f}")
        for version in ("1.0", "2.0", "2.1"):
            zipped = build(REPO / "scenarios" / "shop" / "releases" / version, base / f"shop-{version}.zip").path
            runs = [timed(lambda z=zipped: preflight(z)) for _ in range(args.rounds)]
            result = preflight(zipped)
            print(f"preflight shop-{version}.zip ({result.files} files, {len(result.findings)} findings): "
                  f"median {statistics.median(runs) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

"""Create this scenario's per-release runtimes: .venv-1.0 (notes-compat 1) and .venv-2 (notes-compat 2).

    python make_venvs.py [DIR]

Each is a virtualenv on top of this interpreter's packages (--system-site-packages: SQLAlchemy, psycopg,
Alembic), with its own pinned notes-compat (a .pth file pointing at deps/<major>, as `pip install -e` would).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNTIMES = {".venv-1.0": "deps/1", ".venv-2": "deps/2"}


def main(target: Path) -> None:
    purelib = Path(sysconfig.get_paths()["purelib"]).relative_to(sys.prefix)
    for name, deps in RUNTIMES.items():
        venv = target / name
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                           check=True)
        (venv / purelib).mkdir(parents=True, exist_ok=True)
        (venv / purelib / "notes_compat.pth").write_text(str(HERE / deps) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)

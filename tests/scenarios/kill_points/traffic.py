"""The shop's traffic, and a planted secret printed at start (no log of the run may hold it)."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scenarios" / "shop"))
from locustfile import ShopUser  # noqa: E402,F401 - the User class Locust runs

print(f"LOAD_API_TOKEN={os.environ.get('LOAD_API_TOKEN', '')}", file=sys.stderr, flush=True)

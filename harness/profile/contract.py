"""What the plan, the profile-driven Locust user and the report agree on. The user runs inside Locust (gevent):
the plan hands it the profile and its values through the load's environment."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

PROFILE_ENV = "REHEARSE_PROFILE"  # the profile.toml's absolute path
PROFILE_VALUES_ENV = "REHEARSE_PROFILE_VALUES"  # [load.profile_values] as JSON
PROFILE_STREAM = "profile.json"  # the mix the load was given, written next to streams/requests.csv
PROFILE_USER_PATH = Path(__file__).resolve().parents[1] / "load" / "profile_user.py"
_BRACE = re.compile(r"\{(?=\w+\})")


def encode_values(raw: dict[str, Any]) -> str:
    """[load.profile_values] as JSON for the environment. Its "{name}" placeholders are escaped (\\u007b) so the
    launcher's expansion of the plan's placeholders ({rows}, {port}, ...) in env values leaves them alone."""
    return _BRACE.sub(r"\\u007b", json.dumps(raw, separators=(",", ":")))


def decode_values(text: str) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}

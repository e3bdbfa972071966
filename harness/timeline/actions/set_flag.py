"""set_flag: set a feature flag where the plan keeps them ([rollback.flags]: a JSON file or a table), then check
that the service saw it.

`{ action = "set_flag", name = "new_checkout", value = true }`. With `[rollback.flags] probe = "/flags"` the
harness polls GET probe (on loopback, `{name}` filled in) until its JSON shows the value, at its top level or
under "flags", for up to probe_timeout_s; the record says after how long, or that it never did.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, ClassVar

from harness.core.errors import PlanError
from harness.plan import ActionCall, Plan
from harness.plan.model import FlagsSpec
from harness.records.run import FlagChange
from harness.timeline.state import Rehearsal
from harness.verify.config import write_flag

PROBE_INTERVAL_S = 0.1


class SetFlag:
    name: ClassVar[str] = "set_flag"

    def __init__(self, flag: str, value: Any) -> None:
        self.flag, self.value = flag, value

    @classmethod
    def parse(cls, call: ActionCall, plan: Plan) -> SetFlag:
        for name in call.args:
            if name not in ("name", "value"):
                raise PlanError(plan.path, f"{call.key}.{name}",
                                "unknown argument of 'set_flag' (it takes name, value)")
        if plan.rollback.flags is None:
            raise PlanError(plan.path, call.key, "set_flag needs [rollback.flags] (a flags file or table)")
        flag = call.args.get("name")
        if not isinstance(flag, str) or not flag.strip():
            raise PlanError(plan.path, f"{call.key}.name", f"must be a flag name, got {flag!r:.60}")
        if "value" not in call.args:
            raise PlanError(plan.path, f"{call.key}.value", "missing")
        return cls(flag, call.args["value"])

    def describe(self, plan: Plan) -> str:
        return f"set flag {self.flag} = {json.dumps(self.value)}"

    def run(self, rehearsal: Rehearsal) -> str | None:
        spec = rehearsal.plan.rollback.flags
        assert spec is not None
        write_flag(rehearsal.database, spec, self.flag, self.value)
        record = FlagChange(rehearsal.phase_name, self.flag, json.dumps(self.value), time.time(), probe=spec.probe)
        if spec.probe is not None:
            record.seen_after_s, record.error = probe(rehearsal.url, spec, self.flag, self.value, record.set_at)
        rehearsal.log.write("flag", record)
        if spec.probe is None:
            return "set (no probe in the plan: not checked that the service saw it)"
        if record.seen_after_s is None:
            return f"set, but the service did not show it within {spec.probe_timeout_s:g} s ({record.error})"
        return f"the service showed it after {record.seen_after_s:.2f} s"


def probe(base_url: str, spec: FlagsSpec, flag: str, value: Any, since: float) -> tuple[float | None, str | None]:
    """Poll the probe until it shows `flag` = `value`: (seconds after `since`, None), or (None, what it showed)."""
    assert spec.probe is not None
    if not base_url.startswith(("http://127.", "http://localhost")):
        return None, f"refusing to probe {base_url}: only loopback"
    url = base_url + spec.probe.replace("{name}", urllib.parse.quote(flag, safe=""))
    deadline = since + spec.probe_timeout_s
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback only
                body = json.loads(response.read() or b"null")
            shown = _shown(body, flag)
            if shown == value:
                return time.time() - since, None
            last = f"it showed {json.dumps(shown)}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = f"probe failed: {exc}"
        if time.time() >= deadline:
            return None, last
        time.sleep(PROBE_INTERVAL_S)


def _shown(body: Any, flag: str) -> Any:
    if isinstance(body, dict):
        if flag in body:
            return body[flag]
        flags = body.get("flags")
        if isinstance(flags, dict):
            return flags.get(flag)
    return None

"""Acknowledged writes after the rollback: is every key the service acknowledged still there?

The load reports each acknowledged write (harness.load.acknowledge) to streams/acknowledged.jsonl. After the
rollback, every key acknowledged so far is looked up in its table by the database (keys loaded into the check
session, cast to the key column's own type, one anti-join), and, when the plan gives the service's URL for
one row (`url = "/orders/{key}"`), through the service's API: all keys lost in the database and an even
sample of the others, up to API_LIMIT requests on loopback.
"""

from __future__ import annotations

import bisect
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from psycopg import sql

from harness.plan.model import AcknowledgedSpec
from harness.records.run import AcknowledgedCheck
from harness.verify.checksum import CheckSession, relation

API_LIMIT = 1000
API_WORKERS = 8
API_TIMEOUT_S = 5.0
SAMPLES = 10


def read_acknowledged(path: Path, until: float) -> dict[str, dict[str, float]]:
    """table -> key -> when it was first acknowledged, for acknowledgements up to `until`."""
    found: dict[str, dict[str, float]] = {}
    if not path.exists():
        return found
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                row = json.loads(line)
                at, table, key = float(row["at"]), str(row["table"]), str(row["key"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line
            if at <= until:
                found.setdefault(table, {}).setdefault(key, at)
    return found


def phase_of(at: float, phases: Sequence[tuple[str, float]]) -> str:
    """The phase (name, started) that `at` falls in; 'warmup' before the first."""
    index = bisect.bisect_right([started for _, started in phases], at) - 1
    return phases[index][0] if index >= 0 else "warmup"


def check_acknowledged(session: CheckSession, spec: AcknowledgedSpec, keys: dict[str, float],
                       phases: Sequence[tuple[str, float]], base_url: str | None) -> AcknowledgedCheck:
    """Look up every acknowledged key of `spec.table` in the database, and a bounded set through the API."""
    conn = session.conn
    result = AcknowledgedCheck(spec.table, spec.key, len(keys), url=spec.url)
    result.by_phase = dict(Counter(phase_of(at, phases) for at in keys.values()))
    if not keys:
        return result
    found = conn.execute(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) "
        "AND a.attname = %s AND NOT a.attisdropped", [spec.table, spec.key]).fetchone()
    if found is None:
        lost = list(keys)
    else:
        conn.execute("DROP TABLE IF EXISTS rehearse_acknowledged")
        conn.execute("CREATE TEMPORARY TABLE rehearse_acknowledged (k text PRIMARY KEY)")
        with conn.cursor().copy("COPY rehearse_acknowledged (k) FROM STDIN") as copy:
            for key in keys:
                copy.write_row((key,))
        lost = [row[0] for row in conn.execute(sql.SQL(
            "SELECT a.k FROM rehearse_acknowledged a WHERE NOT EXISTS "
            "(SELECT 1 FROM {t} t WHERE t.{c} = a.k::{type})").format(
            t=relation(spec.table), c=sql.Identifier(spec.key), type=sql.SQL(found[0])))]
    result.checked_in_database = len(keys)
    result.lost_in_database = len(lost)
    lost.sort(key=lambda k: keys[k])
    result.lost_by_phase = dict(Counter(phase_of(keys[k], phases) for k in lost))
    result.samples = lost[:SAMPLES]
    if spec.url and base_url:
        chosen = _api_sample(list(keys), set(lost))
        answers = _through_api(base_url, spec.url, chosen)
        result.checked_through_api = len(chosen)
        result.lost_through_api = sum(1 for a in answers if a == "lost")
        result.api_errors = sum(1 for a in answers if a == "error")
        api_lost = [k for k, a in zip(chosen, answers, strict=True) if a == "lost" and k not in set(lost)]
        result.samples = (result.samples + api_lost)[:SAMPLES]
    return result


def _api_sample(keys: list[str], lost: set[str]) -> list[str]:
    """Every key lost in the database first, then an even spread of the others, API_LIMIT in all."""
    first = [k for k in keys if k in lost][:API_LIMIT]
    others = [k for k in keys if k not in lost]
    room = API_LIMIT - len(first)
    if room <= 0 or not others:
        return first
    step = max(1, len(others) // room)
    return first + others[::step][:room]


def _through_api(base_url: str, template: str, keys: list[str]) -> list[str]:
    if not base_url.startswith(("http://127.", "http://localhost")):
        raise ValueError(f"refusing to check acknowledged writes at {base_url}: only loopback is allowed")

    def ask(key: str) -> str:
        url = base_url + template.replace("{key}", urllib.parse.quote(key, safe=""))
        try:
            with urllib.request.urlopen(url, timeout=API_TIMEOUT_S) as response:  # noqa: S310 - loopback only
                return "found" if 200 <= response.status < 300 else "error"
        except urllib.error.HTTPError as exc:
            return "lost" if exc.code in (404, 410) else "error"
        except (urllib.error.URLError, OSError, ValueError):
            return "error"

    with ThreadPoolExecutor(API_WORKERS) as pool:
        return list(pool.map(ask, keys))

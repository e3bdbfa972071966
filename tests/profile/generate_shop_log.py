"""Writes shop_access.log: a few thousand nginx combined lines (with $request_time appended) of traffic to the
demo shop's endpoints, plus a few lines no parser reads. Deterministic: `python tests/profile/generate_shop_log.py`.

Per session (client address + user agent) the gaps between requests are 0 s (50%), 1 s (40%) or 2 s (10%);
uuids appear in query strings (dropped by the templates), ids in paths."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

# endpoint template -> (share, a request target for it)
MIX = {
    "GET /products": (0.25, lambda r: f"/products?limit=20&offset={r.randrange(0, 80)}"),
    "GET /products/{id}": (0.20, lambda r: f"/products/{r.randint(1, 100)}"),
    "GET /orders/{id}": (0.15, lambda r: f"/orders/{r.randint(1, 2000)}?trace={_uuid(r)}"),
    "GET /search": (0.15, lambda r: f"/search?q={r.choice(['eco', 'gold', 'mini', 'classic'])}"),
    "GET /customers/{id}/orders": (0.10, lambda r: f"/customers/{r.randint(1, 200)}/orders"),
    "POST /orders": (0.10, lambda r: "/orders"),
    "GET /health": (0.05, lambda r: "/health"),
}
LINES = 3000
CLIENTS = 60
START = 1_780_000_000  # 2026-05-28T20:26:40Z
ODD = ['garbage that is no log line at all',
       '10.0.0.9 - - [28/May/2026:20:30:00 +0000] "-" 400 0 "-" "-"',
       '10.0.0.9 - - [28/May/2026:20:30:01 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"',
       '10.0.0.9 - - [31/Foo/2026:20:30:02 +0000] "GET /products HTTP/1.1" 200 1 "-" "-" 0.001',
       '10.0.0.9 - - [28/May/2026:20:30:03 +0000] "GET /products HTTP/1.1']


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def lines(rng: random.Random) -> list[str]:
    names = list(MIX)
    weights = [MIX[n][0] for n in names]
    clock = {c: START + rng.randrange(0, 5) for c in range(CLIENTS)}
    out: list[tuple[int, str]] = []
    for _ in range(LINES):
        client = rng.randrange(CLIENTS)
        at = clock[client]
        clock[client] = at + rng.choices([0, 1, 2], [0.5, 0.4, 0.1])[0]
        name = rng.choices(names, weights)[0]
        method = name.split()[0]
        status = 201 if method == "POST" else 200
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at))
        agent = f"shop-app/{1 + client % 3}.0 (client {client})"
        out.append((at, f'10.1.{client // 250}.{client % 250} - - [{stamp}] "{method} {MIX[name][1](rng)} '
                        f'HTTP/1.1" {status} {rng.randint(80, 4000)} "-" "{agent}" {rng.uniform(0.002, 0.03):.3f}'))
    out.sort(key=lambda item: item[0])
    text = [line for _, line in out]
    for index, odd in enumerate(ODD):
        text.insert(200 + index * 500, odd)
    return text


if __name__ == "__main__":
    target = Path(__file__).with_name("shop_access.log")
    target.write_text("\n".join(lines(random.Random(12))) + "\n")
    print(f"wrote {target}")

"""What the blue_green proxy costs a request: latency and throughput direct vs through harness.service.proxy,
side by side in one run, against one real backend process (a threaded HTTP server answering at once).

    python bench/proxy_overhead.py [--requests 2000] [--clients 8] [--rounds 4]

Each round measures direct then proxied (the order alternates between rounds); keep-alive connections, one
per client thread, as Locust's FastHttpUser keeps them. Prints per round and the medians: p50, p99 (ms) and
requests per second, and the added p50 / p99.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core.processes import OwnedProcess, free_loopback_port, wait_until  # noqa: E402
from harness.service.health import is_healthy  # noqa: E402
from harness.service.proxy import Proxy  # noqa: E402

BACKEND = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        body = b'{"ok": true, "pad": "' + b"x" * 200 + b'"}'
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H); s.daemon_threads = True; s.serve_forever()
"""


def measure(port: int, requests: int, clients: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, requests/s) of `requests` GETs from `clients` keep-alive connections."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = requests // clients

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        for _ in range(per_client):
            started = time.perf_counter()
            conn.request("GET", "/item?id=1")
            conn.getresponse().read()
            mine.append((time.perf_counter() - started) * 1000)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], len(latencies) / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rehearse-bench-proxy-"))
    port = free_loopback_port()
    backend = OwnedProcess("backend", [sys.executable, "-c", BACKEND], work / "backend.log",
                           env={**os.environ, "PORT": str(port)})
    proxy = Proxy(free_loopback_port(), work / "proxy.log")
    try:
        wait_until(lambda: is_healthy(f"http://127.0.0.1:{port}/"), 20, what="the backend", alive=backend)
        proxy.start()
        proxy.route(f"http://127.0.0.1:{port}", "bench")
        measure(port, 200, args.clients)  # warm-up, both paths
        measure(proxy.port, 200, args.clients)
        rows: dict[str, list[tuple[float, float, float]]] = {"direct": [], "proxied": []}
        for round_ in range(args.rounds):
            order = ("direct", "proxied") if round_ % 2 == 0 else ("proxied", "direct")
            for name in order:
                rows[name].append(measure(port if name == "direct" else proxy.port, args.requests, args.clients))
            print(f"round {round_ + 1}: " + "; ".join(
                f"{name} p50 {rows[name][-1][0]:.2f} ms p99 {rows[name][-1][1]:.2f} ms {rows[name][-1][2]:.0f} rps"
                for name in ("direct", "proxied")))
        median = {name: [statistics.median(v[i] for v in values) for i in range(3)] for name, values in rows.items()}
        print(f"median direct : p50 {median['direct'][0]:.2f} ms, p99 {median['direct'][1]:.2f} ms, "
              f"{median['direct'][2]:.0f} rps")
        print(f"median proxied: p50 {median['proxied'][0]:.2f} ms, p99 {median['proxied'][1]:.2f} ms, "
              f"{median['proxied'][2]:.0f} rps")
        print(f"added by the proxy: p50 +{median['proxied'][0] - median['direct'][0]:.2f} ms, "
              f"p99 +{median['proxied'][1] - median['direct'][1]:.2f} ms "
              f"({args.clients} keep-alive clients, {args.requests} requests per measurement)")
    finally:
        proxy.stop()
        backend.stop()


if __name__ == "__main__":
    main()

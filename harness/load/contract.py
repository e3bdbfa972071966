"""What the harness and its Locust plugin agree on. Imports nothing: the plugin runs under gevent, and the
harness must never import the plugin (importing locust monkey-patches the importing process)."""

from pathlib import Path

REQUESTS_FILE_ENV = "REHEARSE_REQUESTS_FILE"
REQUEST_COLUMNS = ["start", "name", "method", "status", "latency_ms", "bytes", "error", "sqlstate", "worker"]
# A failed response whose body names a SQLSTATE ({"sqlstate": "42703"}, "SQLSTATE[55P03]", ...) is tagged with it.
SQLSTATE_PATTERN = r"(?i)sqlstate\W{0,4}([0-9A-Z]{5})\b"
RECORDER_PATH = Path(__file__).with_name("recorder.py")

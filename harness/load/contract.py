"""What the harness and its Locust plugin agree on. Imports nothing: the plugin runs under gevent, and the
harness must never import the plugin (importing locust monkey-patches the importing process)."""

from pathlib import Path

REQUESTS_FILE_ENV = "REHEARSE_REQUESTS_FILE"
REQUEST_COLUMNS = ["start", "name", "method", "status", "latency_ms", "bytes", "error", "sqlstate", "worker",
                   "served_by"]
# A failed response whose body names a SQLSTATE ({"sqlstate": "42703"}, "SQLSTATE[55P03]", ...) is tagged with it.
SQLSTATE_PATTERN = r"(?i)sqlstate\W{0,4}([0-9A-Z]{5})\b"
RECORDER_PATH = Path(__file__).with_name("recorder.py")
# Writes the service acknowledged, reported by the locustfile through harness.load.acknowledge (JSON lines).
ACKNOWLEDGED_FILE_ENV = "REHEARSE_ACKNOWLEDGED_FILE"
ACKNOWLEDGED_STREAM = "acknowledged.jsonl"
# A bounded, redacted sample of failed responses' bodies (JSON lines: at, name, status, body).
ERROR_BODIES_FILE_ENV = "REHEARSE_ERROR_BODIES_FILE"
ERROR_BODIES_STREAM = "error_bodies.jsonl"
ERROR_BODY_CHARS = 300
ERROR_BODIES_PER_ENDPOINT_WINDOW = 2  # at most this many per endpoint and status in each window
ERROR_BODY_WINDOW_S = 1.0
ERROR_BODIES_MAX = 5000
# The header the mixed-versions proxy (harness.service.mixed) adds: the version of the instance that answered.
SERVED_BY_HEADER = "X-Rehearse-Served-By"
# Values of keys like these are masked in recorded error bodies.
SECRET_KEYS_PATTERN = (r"(?i)(\"?(?:password|passwd|secret|token|api[_-]?key|authorization|cookie|session)"
                       r"\w*\"?\s*[:=]\s*)(\"[^\"]*\"|[^\s,;&}]+)")

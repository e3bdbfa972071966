"""What the harness and its Locust plugin agree on. Imports nothing: the plugin runs under gevent, and the
harness must never import the plugin (importing locust monkey-patches the importing process)."""

from pathlib import Path

REQUESTS_FILE_ENV = "REHEARSE_REQUESTS_FILE"
REQUEST_COLUMNS = ["start", "name", "method", "status", "latency_ms", "bytes", "error", "worker"]
RECORDER_PATH = Path(__file__).with_name("recorder.py")

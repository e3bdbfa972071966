"""What the harness and its Locust plugin agree on. Imports nothing: the plugin runs under gevent, and the
harness must never import the plugin (importing locust monkey-patches the importing process)."""

from pathlib import Path

REQUESTS_FILE_ENV = "REHEARSE_REQUESTS_FILE"
# New columns go at the end (readers accept files recorded before them). `intended`: when the request was meant to
# start (the open model's arrival; the start itself in the closed model); latency_ms counts from it.
REQUEST_COLUMNS = ["start", "name", "method", "status", "latency_ms", "bytes", "error", "sqlstate", "worker",
                   "served_by", "intended"]
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
# The header the loopback proxy (harness.service.proxy) adds: the version of the instance that answered.
SERVED_BY_HEADER = "X-Rehearse-Served-By"
# Values of keys like these are masked in recorded error bodies.
SECRET_KEYS_PATTERN = (r"(?i)(\"?(?:password|passwd|secret|token|api[_-]?key|authorization|cookie|session)"
                       r"\w*\"?\s*[:=]\s*)(\"[^\"]*\"|[^\s,;&}]+)")

# The load model. closed: `users` loop as fast as the service lets them. open: arrivals at a planned rate, each
# request timed from its intended start (coordinated omission corrected); arrivals that find every slot of the
# bounded pool busy are dropped and streamed (harness.load.open_model).
LOAD_MODEL_ENV = "REHEARSE_LOAD_MODEL"  # JSON: {rate, rates, ramp_s, max_concurrency, workers}
OPEN_USER_CLASS = "OpenModelUser"
DROPPED_FILE_ENV = "REHEARSE_DROPPED_FILE"
DROPPED_STREAM = "dropped.csv"
DROPPED_COLUMNS = ["intended", "task", "worker", "reason"]
LATE_TOLERANCE_MS = 20.0  # an open-model request sent later than this after its intended start counts as late
INTENDED_ATTR = "rehearse_intended"  # set on the greenlet that runs an arrival; the recorder reads it once


def request_streams(streams: Path) -> list[Path]:
    """Every requests stream of a run: requests.csv (one Locust process) and requests-<worker>.csv (one per
    Locust worker process)."""
    return sorted(streams.glob("requests.csv")) + sorted(streams.glob("requests-*.csv"))


def dropped_streams(streams: Path) -> list[Path]:
    """Every dropped-arrivals stream of a run: dropped.csv and dropped-<worker>.csv."""
    return sorted(streams.glob("dropped.csv")) + sorted(streams.glob("dropped-*.csv"))


def worker_stream(path: Path, worker: int) -> Path:
    """The stream of one Locust worker process: requests.csv -> requests-<worker>.csv."""
    return path.with_name(f"{path.stem}-{worker}{path.suffix}")

"""Production profiles: access logs (nginx/Apache combined, JSON lines) read into endpoint templates, their mix,
rates, peak concurrency and think times, written to and read from profile.toml (`rehearse profile`).

Imports only harness.core: the profile-driven Locust user (harness/load/profile_user.py) reads profiles inside
Locust's gevent process."""

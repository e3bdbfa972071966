"""notes-compat 1.x: the password helpers release 1.0 pins (salted SHA-256)."""

import hashlib
import hmac
import secrets

MAJOR = 1


def hash_password(password: str) -> str:
    salt = secrets.token_hex(8)
    return f"sha256${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def verify_password(password: str, stored: str) -> bool:
    algorithm, _, rest = stored.partition("$")
    if algorithm != "sha256":
        return False  # 1.x knows no other scheme
    salt, _, digest = rest.partition("$")
    return hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(), digest)

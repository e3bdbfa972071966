"""notes-compat 2.x: what release 2.x pins: reads 1.x hashes, and names the scheme that replaces them (bcrypt,
computed by the database's pgcrypto)."""

import hashlib
import hmac

MAJOR = 2
REHASH_TO = "bcrypt"


def verify_sha256(password: str, stored: str) -> bool:
    algorithm, _, rest = stored.partition("$")
    salt, _, digest = rest.partition("$")
    return algorithm == "sha256" and hmac.compare_digest(hashlib.sha256((salt + password).encode()).hexdigest(),
                                                         digest)

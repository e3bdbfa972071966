"""The quarantine plan of a package, and its application to the rehearsal's copy of the package.

From the scanners' hits: cron entries commented out, timers' triggers and [Install] lines commented out,
every external endpoint pointed at the local stub (loopback only), every hard-coded credential replaced by a
rehearsal credential (the same one wherever the same secret appears; a private key by a fresh key of the
same kind). The service's environment from the manifest is treated the same, and HTTP(S)_PROXY / ALL_PROXY
point at the stub for clients that honour them. After applying, the copy is scanned again: an active
schedule or an external endpoint left anywhere but documentation stops the rehearsal before it starts.
`revert()` puts every file back as it was.
"""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness.core.errors import PackageError
from harness.package.findings import Hit, excerpt, masked
from harness.package.manifest import Manifest
from harness.package.scanners import endpoints, scheduled
from harness.package.scanners.files import package_files, read_file

DISABLED = "# rehearse quarantine (disabled for the rehearsal): "
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
NO_PROXY = "127.0.0.1,localhost,::1"
KINDS = ("disable_cron", "disable_timer", "redirect_endpoint", "replace_credential", "route_proxies")


@dataclass(frozen=True)
class Change:
    """One quarantine action: planned (status 'planned'), applied, or failed (with why)."""

    kind: str  # one of KINDS
    file: str  # a file of the package, or "service.env KEY", "service.command", "service environment"
    line: int | None
    detail: str  # what it does, redacted
    status: str = "planned"
    message: str | None = None


def plan(hits: list[Hit]) -> list[Change]:
    """The quarantine actions the hits call for, one per hit (a timer: one per unit)."""
    changes = []
    for hit in hits:
        finding = hit.finding
        if finding.quarantine == "disable_cron":
            detail = f"cron entry `{hit.data.get('schedule', '')}` commented out"
        elif finding.quarantine == "disable_timer":
            detail = f"timer {hit.data.get('unit')}: its triggers and [Install] commented out"
        elif finding.quarantine == "redirect_endpoint":
            detail = f"{hit.data.get('host')} -> the local stub (127.0.0.1)"
        elif finding.quarantine == "replace_credential":
            detail = f"{finding.message.split(' (')[0]} ({masked(hit.value)}) -> a rehearsal credential"
        else:
            continue
        changes.append(Change(finding.quarantine, finding.file, finding.line, detail))
    return changes


class Quarantine:
    """Verbs: apply(port) rewrites the copy at `root`; service(env, command, port) quarantines what the
    service is started with; revert() restores every file."""

    def __init__(self, root: Path, manifest: Manifest, hits: list[Hit]) -> None:
        self.root, self.manifest = root, manifest
        self.hits = [h for h in hits if h.finding.quarantine in KINDS]
        self.originals: dict[str, tuple[bytes, int]] = {}
        self.replacements: dict[str, str] = {}  # secret -> its rehearsal credential (never shown)

    def apply(self, port: int) -> list[Change]:
        """Rewrite the copy; raises PackageError when anything is left that could reach off the machine."""
        changes: list[Change] = []
        by_file: dict[str, list[Hit]] = {}
        for hit in self.hits:
            by_file.setdefault(hit.finding.file, []).append(hit)
        for name, hits in sorted(by_file.items()):
            changes += self._file(name, hits, port)
        leftovers = self.residue()
        if leftovers:
            raise PackageError(self.root, "", "the quarantine could not neutralize: " + "; ".join(leftovers[:3])
                               + (f" (and {len(leftovers) - 3} more)" if len(leftovers) > 3 else ""))
        return changes

    def _file(self, name: str, hits: list[Hit], port: int) -> list[Change]:
        path = self.root / name
        original = path.read_bytes()
        self.originals[name] = (original, os.stat(path).st_mode & 0o777)
        role = read_file(self.root, path).role
        lines = original.decode("utf-8").splitlines(keepends=True)
        changes: list[Change] = []
        blocks = []
        for hit in sorted(hits, key=lambda h: (h.finding.line or 0, h.finding.quarantine != "replace_credential")):
            kind, number = hit.finding.quarantine, hit.finding.line
            assert number is not None and kind is not None
            index = number - 1
            if kind == "replace_credential" and hit.end_line is not None:
                blocks.append(hit)
                continue
            before = lines[index]
            if kind == "disable_cron":
                lines[index] = DISABLED + before
                detail = f"cron entry `{hit.data.get('schedule', '')}` commented out"
            elif kind == "disable_timer":
                triggers = [i for i, line in enumerate(lines) if _timer_line(line)]
                for i in triggers:
                    lines[i] = DISABLED + lines[i]
                detail = f"timer {hit.data.get('unit')}: {len(triggers)} trigger and [Install] lines commented out"
            elif kind == "replace_credential":
                lines[index] = before.replace(hit.value, self._rehearsal(hit.value))
                detail = f"{hit.finding.message.split(' (')[0]} ({masked(hit.value)}) -> a rehearsal credential"
            else:
                lines[index], rewritten = endpoints.rewrite(before, port, role)
                changes += [Change(kind, name, number, self._redirected(e, port), "applied") for e in rewritten]
                continue  # every endpoint of the line is rewritten at once; the line's other hits find none
            changes.append(Change(kind, name, number, detail, "applied"))
        text = "".join(lines)
        for hit in blocks:
            text = text.replace(hit.value, self._rehearsal_key(hit.value, hit.data.get("label", "PRIVATE KEY")))
            changes.append(Change("replace_credential", name, hit.finding.line,
                                  f"private key ({hit.data.get('label', '').lower()}) -> a fresh rehearsal key",
                                  "applied"))
        path.write_text(text, encoding="utf-8")
        os.chmod(path, self.originals[name][1])
        return changes

    def service(self, env: dict[str, str], command: list[str], port: int) -> tuple[dict[str, str], list[str],
                                                                                     list[Change]]:
        """The service's environment and command with credentials replaced and endpoints pointed at the stub,
        plus the proxy variables; and what changed."""
        changes: list[Change] = []
        quarantined: dict[str, str] = {}
        for key, value in env.items():
            quarantined[key] = self._value(value, port, f"service.env {key}", changes)
        args = [self._value(arg, port, "service.command", changes) for arg in command]
        stub = f"http://127.0.0.1:{port}"
        quarantined |= dict.fromkeys(PROXY_VARIABLES, stub) | {"NO_PROXY": NO_PROXY, "no_proxy": NO_PROXY}
        changes.append(Change("route_proxies", "service environment", None,
                              f"HTTP_PROXY, HTTPS_PROXY, ALL_PROXY -> {stub}; NO_PROXY={NO_PROXY}", "applied"))
        return quarantined, args, changes

    def _value(self, value: str, port: int, where: str, changes: list[Change]) -> str:
        """One value the service is started with: known secrets replaced, endpoints pointed at the stub."""
        known = [h.value for h in self.hits if h.finding.quarantine == "replace_credential" and h.value]
        for secret in sorted(set(known) | set(self.replacements), key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, self._rehearsal(secret))
                changes.append(Change("replace_credential", where, None, f"{masked(secret)} -> a rehearsal "
                                      "credential", "applied"))
        value, rewritten = endpoints.rewrite(value, port)
        changes += [Change("redirect_endpoint", where, None, self._redirected(e, port), "applied") for e in rewritten]
        return value

    def _redirected(self, endpoint: endpoints.Endpoint, port: int) -> str:
        secrets_shown = list(self.replacements) + list(self.replacements.values())
        return f"{excerpt(endpoint.text, secrets_shown)} -> {excerpt(endpoints.stub_form(endpoint, port))}"

    def residue(self) -> list[str]:
        """What the copy still holds that could act or reach off the machine: active schedules, external
        endpoints outside documentation, and the secrets that were to be replaced."""
        files = package_files(self.root)
        left = [f"{h.finding.where}: {h.finding.kind}" for h in scheduled.scan(files, self.manifest, None)
                if h.finding.quarantine is not None]
        left += [f"{h.finding.where}: {h.finding.message}" for h in endpoints.scan(files)
                 if h.finding.quarantine is not None or h.finding.blocking]
        for hit in self.hits:
            if hit.finding.quarantine == "replace_credential" and hit.value:
                path = self.root / hit.finding.file
                if path.is_file() and hit.value in path.read_text(encoding="utf-8", errors="replace"):
                    left.append(f"{hit.finding.where}: a credential was not replaced")
        return left

    def revert(self) -> list[str]:
        """Restore every rewritten file; returns what could not be restored."""
        problems = []
        for name, (data, mode) in self.originals.items():
            try:
                path = self.root / name
                path.write_bytes(data)
                os.chmod(path, mode)
            except OSError as exc:
                problems.append(f"{name}: {exc.strerror or exc}")
        self.originals.clear()
        return problems

    def _rehearsal(self, secret: str) -> str:
        if secret not in self.replacements:
            if secret.isalnum() and secret.upper() == secret:  # AKIA...-style identifiers keep their shape
                alphabet = string.ascii_uppercase + string.digits
                self.replacements[secret] = secret[:4] + "".join(secrets.choice(alphabet)
                                                                 for _ in range(len(secret) - 4))
            else:
                self.replacements[secret] = "rehearsal-" + secrets.token_urlsafe(max(12, len(secret)))[:max(12,
                                                                                                      len(secret))]
        return self.replacements[secret]

    def _rehearsal_key(self, block: str, label: str) -> str:
        if block not in self.replacements:
            self.replacements[block] = _fresh_key(label)
        return self.replacements[block]


def _timer_line(line: str) -> bool:
    stripped = line.strip()
    return any(stripped.startswith(f"{t}=") or stripped.startswith(f"{t} =") for t in scheduled.TIMER_TRIGGERS) \
        or stripped.startswith(("WantedBy=", "RequiredBy=", "Also="))


def _fresh_key(label: str) -> str:
    """A new private key in the same PEM form as the one it replaces."""
    pem = serialization.Encoding.PEM
    none = serialization.NoEncryption()
    if label == "OPENSSH PRIVATE KEY":
        return ed25519.Ed25519PrivateKey.generate().private_bytes(pem, serialization.PrivateFormat.OpenSSH,
                                                                  none).decode().strip()
    if label == "RSA PRIVATE KEY":
        return rsa.generate_private_key(65537, 2048).private_bytes(
            pem, serialization.PrivateFormat.TraditionalOpenSSL, none).decode().strip()
    key = ec.generate_private_key(ec.SECP256R1())
    if label == "EC PRIVATE KEY":
        return key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none).decode().strip()
    if label == "ENCRYPTED PRIVATE KEY":
        return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(
            secrets.token_bytes(16))).decode().strip()
    return key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode().strip()

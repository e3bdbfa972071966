"""A crafted vendor package with everything the scanners look for. Secrets are assembled at run time, so
that the repository's own secret scanners never see one."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import package_dir

AWS_KEY_ID = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # the AWS documentation's example key id, in parts
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
DSN_PASSWORD = "hunter" + "2-prod-" + "db"
EXTERNAL = "https://api.partner-payments.com/v1/notify"


def private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def previous(root: Path) -> Path:
    """Version 1.0: a cleanup timer and its service, under their old names."""
    return package_dir(root, {
        "app.py": "print('1.0')\n",
        "systemd/vendor-cleanup.service": "[Unit]\nDescription=Vendor: purge old sessions\n\n[Service]\n"
                                          "Type=oneshot\nExecStart=/opt/vendor/bin/purge.sh\n",
        "systemd/vendor-cleanup.timer": "[Unit]\nDescription=Vendor: purge old sessions hourly\n\n[Timer]\n"
                                        "OnCalendar=hourly\n\n[Install]\nWantedBy=timers.target\n",
    }, version="1.0")


def current(root: Path) -> Path:
    """Version 2.0: the units renamed (vendor-purge), a script still naming the old one, a cron entry, an
    external URL, an AWS-style key, a DSN with a password, a private key; and endpoints that stay aside."""
    return package_dir(root, {
        "app.py": "import os\nURL = os.environ.get('NOTIFY_URL', 'http://127.0.0.1:8080/notify')\n"
                  "print(request.app, 'docs at https://docs.example.com/x')\n",
        "cron.d/vendor-report": "# vendor report\nMAILTO=ops\n*/15 * * * * vendor /opt/vendor/bin/report.sh\n",
        "systemd/vendor-purge.service": "[Unit]\nDescription=Vendor: purge old sessions\n\n[Service]\n"
                                        "Type=oneshot\nExecStart=/opt/vendor/bin/purge.sh\n",
        "systemd/vendor-purge.timer": "[Unit]\nDescription=Vendor: purge old sessions hourly\n\n[Timer]\n"
                                      "OnCalendar=hourly\n\n[Install]\nWantedBy=timers.target\n",
        "bin/restart.sh": "#!/bin/sh\nsystemctl restart vendor-cleanup.timer\n",
        "bin/report.sh": f"#!/bin/sh\ncurl -fsS -X POST {EXTERNAL}?token=abc\nping -c1 198.51.100.7\n",
        "config/vendor.ini": f"[aws]\naccess_key_id = {AWS_KEY_ID}\nsecret_access_key = {AWS_SECRET}\n"
                             f"[db]\nurl = postgresql://vendor:{DSN_PASSWORD}@db.prod.internal:5432/vendor\n"
                             "bind = 0.0.0.0:8080\nmetrics = 10.20.30.40:9100\ntest = https://svc.test/x\n",
        "keys/deploy.pem": private_key_pem(),
        "README.md": "See https://vendor-portal.com/docs for help.\n",
    }, version="2.0", extra='upgrades_from = "1.0"\nscheduled = ["cron.d/vendor-report"]\n')

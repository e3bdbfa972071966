"""The package commands: `rehearse package build DIR -o FILE.zip`, `rehearse package sign FILE.zip --key
KEY.pem --cert CERT.pem [--chain CHAIN.pem]`, and `rehearse preflight PACKAGE [--trust-store ROOTS.pem]
[--chain EXTRA.pem] [--previous PACKAGE] [--json]` (exit 0 clean, 1 blocking findings, 2 unusable input)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from harness.core.errors import PackageError


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `package` (build, sign) and `preflight` to the CLI's subcommands."""
    package = commands.add_parser("package", help="build or sign an upgrade package")
    verbs = package.add_subparsers(dest="package_command", required=True, parser_class=type(package))
    build = verbs.add_parser("build", help="make a package zip from a directory with a manifest.toml")
    build.add_argument("dir", type=Path, help="the package directory (its manifest.toml at the top)")
    build.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.zip", help="the zip to write")
    sign = verbs.add_parser("sign", help="write a detached signature FILE.zip.sig next to the package")
    sign.add_argument("package", type=Path, metavar="FILE.zip")
    sign.add_argument("--key", type=Path, required=True, metavar="KEY.pem",
                      help="the signer's private key (PEM; a passphrase from REHEARSE_KEY_PASSPHRASE)")
    sign.add_argument("--cert", type=Path, required=True, metavar="CERT.pem", help="the signer's certificate")
    sign.add_argument("--chain", type=Path, metavar="CHAIN.pem", help="intermediate certificates to include")
    preflight = commands.add_parser("preflight", help="check a package: signature, archive, scheduled tasks, "
                                    "endpoints, credentials (exit 1 on blocking findings)")
    preflight.add_argument("package", type=Path, help="a package zip or directory")
    preflight.add_argument("--trust-store", type=Path, metavar="ROOTS.pem",
                           help="trusted root certificates; without it the signature is not verified")
    preflight.add_argument("--chain", type=Path, action="append", default=[], metavar="EXTRA.pem",
                           help="extra intermediates: a cross-signed certificate, a vendor's chain (repeatable)")
    preflight.add_argument("--previous", type=Path, metavar="PACKAGE",
                           help="the package this one upgrades, to find renamed units")
    preflight.add_argument("--json", action="store_true", help="print the result as JSON")


def package_command(args: argparse.Namespace) -> int:
    from harness.package import build, signing

    if args.package_command == "build":
        built = build.build(args.dir.resolve(), args.output.resolve())
        print(f"built {built.path}: {built.manifest.name} {built.manifest.version}, {built.files} files, "
              f"sha256 {built.sha256}")
        return 0
    if not args.package.is_file():
        raise PackageError(args.package, "", "no such package file")
    passphrase = os.environ.get("REHEARSE_KEY_PASSPHRASE")
    key = signing.load_key(args.key, passphrase.encode() if passphrase else None)
    cert = signing.load_certificates(args.cert, "--cert")[0]
    chain = signing.load_certificates(args.chain, "--chain") if args.chain else []
    written = signing.sign(args.package, key, cert, chain)
    print(f"signed {args.package} as '{signing.subject_name(cert)}': {written}")
    return 0


def preflight_command(args: argparse.Namespace) -> int:
    from harness.package import signing
    from harness.package.preflight import format_text, preflight, to_json

    roots = signing.load_certificates(args.trust_store, "--trust-store") if args.trust_store else None
    extra = [cert for path in args.chain for cert in signing.load_certificates(path, "--chain")]
    result = preflight(args.package, roots, extra, args.previous)
    print(json.dumps(to_json(result), indent=2) if args.json else format_text(result))
    return result.exit_code


COMMANDS = {"package": package_command, "preflight": preflight_command}

"""`rail webhook verify`: is a webhook push really from the rail, unchanged and recent?

    rail webhook verify --secret "$SECRET" --timestamp 1768455000 --signature 'v1=5257a8...' < body.json
    rail webhook verify --secret "$SECRET" --timestamp "$TS" --signature "$SIG" --body push.json

Give the push's Rail-Timestamp and Rail-Signature header values and its body exactly as received (stdin, or
--body FILE); the secret is the one POST /admin/participants issued (or POST /v1/webhook/secret rotated to).
Exit 0 when it is valid, 1 when it is not (the reason on stderr), 2 for a usage error. The same check for your
own code is rail/api/webhook_signature.py's `verify` (docs/sandbox.md, "Webhooks").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rail.api.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_S, verify


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("verify", help="check a push's signature and timestamp (exit 0: valid)",
                           description="Check a webhook push's signature and timestamp.")  # fmt: skip
    check.add_argument("--secret", required=True, action="append",
                       help="your webhook secret (twice while you rotate: either may match)")
    check.add_argument("--timestamp", required=True, help=f"the {TIMESTAMP_HEADER} header value")
    check.add_argument("--signature", required=True, help=f"the {SIGNATURE_HEADER} header value")
    check.add_argument("--body", type=Path, default=None, help="the body as received (default: stdin)")
    check.add_argument("--tolerance", type=float, default=TOLERANCE_S,
                       help=f"seconds a timestamp may be from now (default {TOLERANCE_S})")


def run(args: argparse.Namespace) -> int:
    try:
        body = args.body.read_bytes() if args.body is not None else sys.stdin.buffer.read()
    except OSError as exc:
        print(f"rail webhook verify: cannot read the body: {exc}", file=sys.stderr)
        return 2
    problem = verify(args.secret, args.timestamp, args.signature, body, tolerance_s=args.tolerance)
    if problem is not None:
        print(f"rail webhook verify: NOT valid: {problem}", file=sys.stderr)
        return 1
    print(f"valid: signed with your secret, {len(body)} bytes unaltered, timestamp within {args.tolerance:g} s")
    return 0

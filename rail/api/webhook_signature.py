"""Webhook signatures: how a participant knows a push came from the rail, unchanged and recently.

Every push carries two headers:

    Rail-Timestamp: 1768455000                  (Unix seconds when the rail sent it)
    Rail-Signature: v1=<hex HMAC-SHA256 of "1768455000." + body under the participant's webhook secret>

During a rotation's grace period the rail signs with both the new and the previous secret: the header holds one
`v1=` per secret, comma-separated, and a receiver accepts the push if any of them matches one of its secrets.
A receiver refuses a push whose timestamp is more than TOLERANCE_S from its own clock (a replayed push), or
without a matching signature (forged or altered), with 401. `verify` below is that check; `rail webhook verify`
runs it from a shell (docs/sandbox.md shows both).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable

TIMESTAMP_HEADER = "Rail-Timestamp"
SIGNATURE_HEADER = "Rail-Signature"
SCHEME = "v1"
TOLERANCE_S = 300  # how far a push's timestamp may be from the receiver's clock
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SIGNATURES_MAX = 8  # a header naming more is refused unread (a receiver's work stays bounded)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `TIMESTAMP.BODY` under `secret`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(keys: Iterable[str], timestamp: int, body: bytes) -> str:
    """The Rail-Signature value for a push signed with every key in `keys` (the current secret first)."""
    return ",".join(f"{SCHEME}={signature(key, timestamp, body)}" for key in keys)


def verify(
    secret: str | Iterable[str],
    timestamp: str,
    header: str,
    body: bytes,
    *,
    now_s: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> str | None:
    """Why a push is not to be trusted (None: it is): its Rail-Timestamp and Rail-Signature values and its body
    exactly as received, checked against the receiver's secret (or secrets, while it rotates)."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not timestamp.strip().isdigit():
        return f"no {TIMESTAMP_HEADER} (Unix seconds)"
    age_s = (time.time() if now_s is None else now_s) - int(timestamp)
    if abs(age_s) > tolerance_s:
        return f"{TIMESTAMP_HEADER} is {age_s:+.0f} s from now, beyond the {tolerance_s:g} s tolerance (replay?)"
    offered = [part.strip() for part in header.split(",") if part.strip()]
    if not offered or len(offered) > SIGNATURES_MAX:
        return f"no {SIGNATURE_HEADER}"
    expected = {f"{SCHEME}={signature(key, timestamp.strip(), body)}" for key in keys}
    if any(hmac.compare_digest(candidate, wanted) for candidate in offered for wanted in expected):
        return None
    return "no signature matches: not signed with your secret, or the body was altered"

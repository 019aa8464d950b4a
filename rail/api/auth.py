"""Bearer tokens for participants and the operator (admin).

Tokens are random 256-bit values shown once, when issued; the rail keeps (and journals) only their SHA-256, so
a copy of the data directory does not let anyone act as a bank. SHA-256 without a salt is the right tool here:
the tokens are high-entropy random values, not passwords, so there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

TOKEN_BYTES = 32
TOKEN_PREFIX = "rail_"
TOKEN_CHARS_MAX = 256
# Presented tokens already verified, kept in memory only (a participant sends its token with every request, so
# it is in this process's memory anyway): saves the SHA-256 of every request. Only tokens that authenticated
# are cached, so a client trying random tokens cannot fill it; it is emptied when full or when a token changes.
VERIFIED_TOKENS_MAX = 1_024


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenTable:
    """token hash -> BIC. One current token per participant: issuing a new one retires the old."""

    def __init__(self) -> None:
        self._bic_by_hash: dict[str, str] = {}
        self._hash_by_bic: dict[str, str] = {}
        self._bic_by_verified_token: dict[str, str] = {}

    def install(self, bic: str, hashed: str) -> None:
        old = self._hash_by_bic.get(bic)
        if old is not None:
            self._bic_by_hash.pop(old, None)
        self._bic_by_hash[hashed] = bic
        self._hash_by_bic[bic] = hashed
        self._bic_by_verified_token.clear()  # the retired token must stop working at once

    def authenticate(self, token: str) -> str | None:
        bic = self._bic_by_verified_token.get(token)
        if bic is not None:
            return bic
        if not token or len(token) > TOKEN_CHARS_MAX:
            return None
        bic = self._bic_by_hash.get(token_hash(token))
        if bic is not None:
            if len(self._bic_by_verified_token) >= VERIFIED_TOKENS_MAX:
                self._bic_by_verified_token.clear()
            self._bic_by_verified_token[token] = bic
        return bic


def admin_token_matches(expected_hash: str | None, presented: str) -> bool:
    """Does `presented` hash to the operator's token hash (constant-time compare)?"""
    if not expected_hash or not presented:
        return False
    return hmac.compare_digest(expected_hash.encode(), token_hash(presented).encode())


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value ('' when there is none)."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def why_unauthenticated(
    authorization: str, *, wanted: str, is_admin: Callable[[str], bool], is_participant: Callable[[str], bool]
) -> str:
    """Why a request with this Authorization header value is refused (401), in words that say what to send
    instead; the token itself is never repeated. ``wanted``: "participant", "admin" or "either"."""
    kind = "participant or admin" if wanted == "either" else wanted
    send = f"send 'Authorization: Bearer <{kind} token>'"
    if not authorization.strip():
        return f"no Authorization header: {send}"
    scheme, _, _ = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        # Nothing of the value is repeated: a client that forgot "Bearer " sent its token as the scheme.
        return f"the Authorization header is not a Bearer token: {send}"
    token = bearer_token(authorization)
    if not token:
        return f"the Bearer token is empty: {send}"
    if wanted == "participant" and is_admin(token):
        return ("the admin token cannot act as a participant: use the token POST /admin/participants issued "
                "to your bank")
    if wanted == "admin" and is_participant(token):
        return "a participant token cannot use /admin routes: send the admin token"
    if wanted == "either":
        return "unknown token: neither the admin token nor the current token of any participant"
    if wanted == "participant":
        return ("unknown token: not the current token of any participant (issuing a new one for a BIC "
                "retires its old one)")
    return "unknown token: not the admin token (--admin-token / RAIL_ADMIN_TOKEN, or printed at first start)"

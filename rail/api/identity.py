"""Who is calling, and how fast they may: participants' tokens, the operator's token, the BICs that take part, and
the per-participant rate limits (requests, and alias lookups against scanning).

Tokens are kept as their hashes (rail/api/auth.py); a participant's token and its own rate limit are journaled with
it (AddParticipant), the operator's token hash too (SetAdminToken), so a restart knows them all.
"""

from __future__ import annotations

import math
import time

from rail import iso20022
from rail.api.auth import TokenTable, admin_token_matches, new_token, token_hash
from rail.api.metrics import RailMetrics
from rail.clock import REAL_CLOCK, Clock
from rail.scheme import SchemeParams
from rail.settlement.payments import Participant

# A participant's own request rate limit: a real limit, neither a lock-out (1e-300/s) nor none at all.
REQUESTS_PER_S_MIN = 0.1
REQUESTS_PER_S_MAX = 1_000_000.0
REQUESTS_BURST_MAX = 10_000_000.0


class TokenBucket:
    """A classic token bucket: `rate_per_s` sustained, `burst` at most; cheap enough to call per request."""

    __slots__ = ("_tokens", "_updated_s", "burst", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: float, now_s: float | None = None) -> None:
        assert rate_per_s > 0 and burst >= 1
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._updated_s = time.monotonic() if now_s is None else now_s

    def take(self, now_s: float | None = None) -> float:
        """Take one token. Returns 0.0 when allowed, else the seconds to wait before retrying."""
        now_s = time.monotonic() if now_s is None else now_s
        elapsed_s = now_s - self._updated_s
        if elapsed_s > 0:
            self._tokens = min(self.burst, self._tokens + elapsed_s * self.rate_per_s)
            self._updated_s = now_s
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate_per_s


class RateLimiter:
    """One token bucket per participant BIC, all with the same limits; bounded by the number of participants."""

    def __init__(self, rate_per_s: float, burst: float, clock: Clock = REAL_CLOCK) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock  # buckets refill by this clock: simulated time in `rail simulate`
        self._buckets: dict[str, TokenBucket] = {}
        self._overrides: dict[str, tuple[float, float]] = {}

    def configure(self, bic: str, rate_per_s: float, burst: float) -> None:
        """A per-participant limit (the issue: 'configurable per participant')."""
        self._overrides[bic] = (rate_per_s, burst)
        self._buckets.pop(bic, None)

    def take(self, bic: str) -> float:
        bucket = self._buckets.get(bic)
        if bucket is None:
            rate, burst = self._overrides.get(bic, (self.rate_per_s, self.burst))
            bucket = self._buckets[bic] = TokenBucket(rate, burst, self.clock.monotonic())
        return bucket.take(self.clock.monotonic())


def rate_limit_problem(requests_per_s: object, requests_burst: object) -> str | None:
    """Why a participant's own rate limit is refused (None: it is fine); bounds keep both a real limit."""
    for name, value, low, high in (
        ("requests_per_s", requests_per_s, REQUESTS_PER_S_MIN, REQUESTS_PER_S_MAX),
        ("requests_burst", requests_burst, 1.0, REQUESTS_BURST_MAX),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{name} must be a number"
        if not low <= value <= high:
            return f"{name} must be between {low:g} and {high:g} (got {value:g})"
    return None


class Identity:
    """Tokens, the participants' BICs and rate limits of one rail."""

    def __init__(
        self, rail_bic: str, params: SchemeParams, metrics: RailMetrics, clock: Clock = REAL_CLOCK
    ) -> None:
        self.rail_bic = rail_bic
        self.metrics = metrics
        # The operator's token in clear only when given at this start or generated now (None when an earlier
        # start set it: only its hash is kept, journaled); admin_token_generated: print it for the operator.
        self.admin_token: str | None = None
        self.admin_token_generated = False
        self._admin_token_hash: str | None = None
        self._tokens = TokenTable()
        # The BICs that take part; the accept step checks senders and agents against it (shared, kept current).
        self.known_bics: set[str] = set()
        self._rate = RateLimiter(params.requests_per_s, params.requests_burst, clock)
        self._alias_rate = RateLimiter(params.alias_lookups_per_s, params.alias_lookups_burst, clock)

    def admit(self, participant: Participant) -> None:
        """`participant` takes part (as recovered, or just admitted): its token, its BIC, its own rate limit."""
        self.known_bics.add(participant.bic)
        if participant.token_hash:
            self._tokens.install(participant.bic, participant.token_hash)
        if participant.requests_per_s is not None:
            self._rate.configure(
                participant.bic, participant.requests_per_s, participant.requests_burst or 1.0
            )

    def reset(self) -> None:
        """Nobody takes part any more (a sandbox reset; the kept participants are admitted again after it). The
        BIC set is emptied in place: the accept step holds it."""
        self.known_bics.clear()
        self._tokens = TokenTable()
        self._rate = RateLimiter(self._rate.rate_per_s, self._rate.burst)

    def authenticate(self, token: str) -> str | None:
        return self._tokens.authenticate(token)

    def is_admin(self, token: str) -> bool:
        return admin_token_matches(self._admin_token_hash, token)

    def is_participant(self, bic: str) -> bool:
        return bic in self.known_bics and bic != self.rail_bic

    @property
    def participants(self) -> list[str]:
        return sorted(self.known_bics)

    def admin_token_to_journal(self, given: str | None, stored_hash: str | None) -> str | None:
        """Settle the operator's token: the one given, else the one an earlier start set (journaled as its hash,
        so a restart keeps it), else a new one (generated, shown once by `rail serve`). Returns the hash to
        journal when it differs from the stored one (None: nothing to journal)."""
        if given:
            self.admin_token = given
        elif stored_hash is None:
            self.admin_token = new_token()
            self.admin_token_generated = True
        self._admin_token_hash = token_hash(self.admin_token) if self.admin_token else stored_hash
        return self._admin_token_hash if self._admin_token_hash != stored_hash else None

    def rate_limit(self, bic: str) -> float:
        """0.0 when the request may proceed, else seconds to wait (answered 429 with Retry-After)."""
        wait_s = self._rate.take(bic)
        if wait_s:
            self.metrics.rate_limited.labels("requests").inc()
        return wait_s

    def alias_lookup_limit(self, bic: str) -> float:
        """The alias-lookup (acmt.023) rate limit, against scanning the directory: 0.0 or seconds to wait."""
        wait_s = self._alias_rate.take(bic)
        if wait_s:
            self.metrics.rate_limited.labels("alias_lookups").inc()
        return wait_s


def canonical(bic: str | None) -> str | None:
    """A BIC from a message or a request, as the rail keeps it (an 11-character BIC naming the head office is its 8-character form)."""
    return iso20022.canonical_bic(bic) if isinstance(bic, str) else bic


def retry_after(wait_s: float) -> str:
    """A Retry-After header value (whole seconds, at least 1) for a wait of `wait_s`."""
    return str(max(1, int(wait_s + 0.999)))

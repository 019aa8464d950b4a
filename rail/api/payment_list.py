"""`GET /v1/payments`: the payments a caller may see, newest first, filtered and paged, for the whole retention
window (packed payments included), in bounded work per request.

The settlement core keeps the book in arrival order (rail/settlement/arrivals.py): overall, and per agent. A
request walks one of those lists from its cursor (or a time bound, by binary search) inside the core's `query`
(so it reads only durable state), taking at most SCAN_MAX references: a live payment is summarised there (it may
change later), a packed one is taken as its bytes (never changed: a change unpacks it into a new object). The
packed ones are decoded and filtered here, outside the core. So a rare filter over millions of payments costs
the core well under a millisecond a request, and a page may come back short with a cursor to go on from.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Collection, Mapping

import msgspec

from rail.iso20022 import codes
from rail.iso20022.identifiers import bic_is_valid, canonical_bic
from rail.settlement.core import SettlementCore
from rail.settlement.payment_book import unpack
from rail.settlement.payments import IN_FLIGHT, Payment, Settlement

LIMIT_DEFAULT = 50
LIMIT_MAX = 200
#: Payments examined by one request when a filter needs each payment's fields (status, reason, a counterparty
#: or EndToEndId): references only in the core (~0.2 us each), decoded outside it.
SCAN_MAX = 4_096
Q_CHARS_MAX = 64
_UETR = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_CODE = re.compile(r"[A-Z0-9]{4}\Z")
_CURSOR_PREFIX = b"a1:"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class PaymentQuery(msgspec.Struct, frozen=True):
    """The filters of one request, checked."""

    statuses: frozenset[str] = frozenset()
    counterparty: str | None = None
    reason: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    q: str | None = None
    limit: int = LIMIT_DEFAULT
    below: int | None = None  # the cursor: arrival numbers below it

    def needs_fields(self, viewer: str | None) -> bool:
        """Whether matching needs each payment's own fields (a packed one decoded), beyond its agents."""
        return bool(self.statuses or self.reason or self.q or (self.counterparty and viewer is not None))

    def matches(self, p: Payment, viewer: str | None) -> bool:
        if self.statuses and p.status not in self.statuses and p.creditor_status not in self.statuses:
            return False
        if self.reason and p.reason != self.reason:
            return False
        if self.counterparty and self.counterparty not in (p.debtor_agent, p.creditor_agent):
            return False
        if self.counterparty and viewer is not None and self.counterparty == viewer != p.debtor_agent:
            return False  # its own BIC as counterparty: payments to itself only
        if self.q and not (p.uetr.startswith(self.q) or p.end_to_end_id.startswith(self.q)):
            return False
        return viewer is None or viewer in (p.debtor_agent, p.creditor_agent)


def encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(_CURSOR_PREFIX + str(number).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    digits = raw[len(_CURSOR_PREFIX) :]
    if not raw.startswith(_CURSOR_PREFIX) or not digits.isdigit() or len(digits) > 19:
        raise ValueError("cursor is not one this rail gave: pass next_cursor as it came")
    return int(digits)


def _time_ns(name: str, text: str) -> int:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 time, e.g. 2026-01-15T10:30:00+05:00") from None
    if at.tzinfo is None:
        raise ValueError(f"{name} needs a UTC offset or Z (e.g. 2026-01-15T10:30:00Z)")
    return (at - _EPOCH) // _MICROSECOND * 1_000


def iso_time(ns: int) -> str:
    """An instant as ISO 8601 in UTC, cut (never rounded) to the microsecond: a time read from a list, given
    back as `since`, includes the payment it was read from."""
    return (_EPOCH + dt.timedelta(microseconds=ns // 1_000)).isoformat()


def parse_query(query: Mapping[str, str], known_bics: Collection[str]) -> PaymentQuery:
    """The filters of `GET /v1/payments`' query string; ValueError names the first bad one."""
    fields: dict = {}
    if query.get("status"):
        statuses = frozenset(s.strip().upper() for s in query["status"].split(","))
        unknown = sorted(s for s in statuses if s not in codes.TX_STATUSES)
        if unknown:
            raise ValueError(f"status {', '.join(unknown)} is not an ISO transaction status (ACTC, ACSC, RJCT...)")
        fields["statuses"] = statuses
    if query.get("counterparty"):
        bic = query["counterparty"].strip().upper()
        if not bic_is_valid(bic) or canonical_bic(bic) not in known_bics:
            raise ValueError(f"counterparty {bic[:20]} is not the BIC of a participant of this rail")
        fields["counterparty"] = canonical_bic(bic)
    if query.get("reason"):
        if not _CODE.match(query["reason"]):
            raise ValueError("reason must be an ISO reason code of four letters or digits, e.g. AB05")
        fields["reason"] = query["reason"]
    for name in ("since", "until"):
        if query.get(name):
            fields[f"{name}_ns"] = _time_ns(name, query[name])
    if query.get("q"):
        q = query["q"].strip()
        if not 1 <= len(q) <= Q_CHARS_MAX or not q.isprintable():
            raise ValueError(f"q must be 1 to {Q_CHARS_MAX} printable characters (a UETR or EndToEndId prefix)")
        fields["q"] = q.lower() if _UETR.match(q) else q
    if "limit" in query:
        limit = query["limit"]
        if not limit.isdigit() or not 1 <= int(limit) <= LIMIT_MAX:
            raise ValueError(f"limit must be an integer from 1 to {LIMIT_MAX}")
        fields["limit"] = int(limit)
    if query.get("cursor"):
        fields["below"] = decode_cursor(query["cursor"])
    return PaymentQuery(**fields)


def payment_summary(p: Payment, currency: str) -> dict:
    """A payment as a list shows it (GET /v1/payments' items)."""
    return {
        "uetr": p.uetr,
        "end_to_end_id": p.end_to_end_id,
        "debtor_agent": p.debtor_agent,
        "creditor_agent": p.creditor_agent,
        "amount_paisa": p.amount_paisa,
        "currency": currency,
        "status": p.status,
        "creditor_status": p.creditor_status,
        "reason": p.reason,
        "reason_text": p.reason_text,
        "accepted_at": iso_time(p.received_ns),
        "final_at": iso_time(p.final_ns) if p.final_ns else None,
    }


class PaymentList:
    """One caller's pages of payments."""

    def __init__(self, core: SettlementCore, currency: str) -> None:
        self.core = core
        self.currency = currency

    async def page(self, viewer: str | None, query: PaymentQuery) -> dict:
        """`viewer`: a participant's BIC, or None for the operator (every payment)."""
        if query.q and _UETR.match(query.q):
            return await self._one(viewer, query)
        candidates, resume = await self.core.query(lambda s: self._collect(s, viewer, query))
        payments: list[dict] = []
        for position, (number, at_ns, item) in enumerate(candidates):
            if isinstance(item, bytes):
                payment = unpack(item)
                if payment.received_ns > at_ns or not query.matches(payment, viewer):
                    continue  # (received after its index entry: a later payment reusing a forgotten UETR)
                item = payment_summary(payment, self.currency)
            payments.append(item)
            if len(payments) == query.limit:
                more = position + 1 < len(candidates) or resume is not None
                resume = number if more else None
                break
        return {"payments": payments, "next_cursor": None if resume is None else encode_cursor(resume)}

    def _collect(self, s: Settlement, viewer: str | None, query: PaymentQuery) -> tuple[list, int | None]:
        """In the core: (arrival number, time, payment) for the next payments of the walk, a live payment
        summarised (it may change after this batch), a packed one as its bytes; and the arrival number to resume
        below when the walk was cut short. Without a filter on payments' fields, one more than a page (to know
        whether another follows); with one, SCAN_MAX steps of the walk at most."""
        book, index = s.payments, s.payments.arrivals
        lowest = index.number_at_or_after(query.since_ns) if query.since_ns is not None else 0
        below = index.end if query.below is None else query.below
        if query.until_ns is not None:
            below = min(below, index.number_at_or_after(query.until_ns))
        filtered = query.needs_fields(viewer)
        out: list = []
        steps = 0
        for number in index.walk(viewer or query.counterparty, below, lowest):
            if not filtered and len(out) > query.limit:
                break
            if steps == SCAN_MAX:
                return out, number + 1
            steps += 1
            at_ns, uetr = index.at(number)
            live = book.live.get(uetr)
            if live is not None:
                if live.received_ns <= at_ns and query.matches(live, viewer):
                    out.append((number, at_ns, payment_summary(live, self.currency)))
                continue
            packed = book.final.get(uetr)
            if packed is not None:
                out.append((number, at_ns, packed))
        return out, None

    async def _one(self, viewer: str | None, query: PaymentQuery) -> dict:
        def read(s: Settlement) -> dict | None:
            p = s.payments.get(query.q)
            return payment_summary(p, self.currency) if p is not None and _in_window(p, query, viewer) else None

        found = await self.core.query(read)
        return {"payments": [found] if found else [], "next_cursor": None}


def _in_window(p: Payment, query: PaymentQuery, viewer: str | None) -> bool:
    if query.since_ns is not None and p.received_ns < query.since_ns:
        return False
    if query.until_ns is not None and p.received_ns >= query.until_ns:
        return False
    return query.matches(p, viewer)


__all__ = ["IN_FLIGHT", "LIMIT_MAX", "SCAN_MAX", "PaymentList", "PaymentQuery", "parse_query", "payment_summary"]

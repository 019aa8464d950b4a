"""The arrival index behind GET /v1/payments (rail/settlement/arrivals.py): every retained payment once, in the
order it arrived, overall and per agent; payments that leave the retention window leave it too (compacted in
bounded steps); a snapshot keeps it, and a snapshot from before it is rebuilt on load."""

from __future__ import annotations

import uuid

import msgspec

from rail.scheme import default_scheme
from rail.settlement import arrivals
from rail.settlement.payment_book import BookState
from rail.settlement.payments import CreditTransfer, Settlement, settlement_from_state, settlement_to_state

NS = 1_000_000_000


def _settle(s: Settlement, debtor: str, creditor: str, at_ns: int) -> str:
    uetr = str(uuid.uuid4())
    ct = CreditTransfer(uetr, uuid.uuid4().hex[:20], "M", "E", debtor, debtor, creditor, 100, "", "", 0)
    s.begin_batch(at_ns)
    s.apply_credit_transfer(debtor, "xml", ct, b"<Document/>", at_ns)
    s.apply_creditor_status(creditor, uetr, "ACSP", None, None, at_ns)
    return uetr


def _walk(s: Settlement, agent: str | None) -> list[str]:
    index = s.payments.arrivals
    return [index.at(n)[1] for n in index.walk(agent, index.end, 0)]


def test_the_index_follows_the_book_through_retention_compaction_and_snapshots(monkeypatch):
    monkeypatch.setattr(arrivals, "COMPACT_AT_LEAST", 3)
    s = Settlement(default_scheme())
    clock = 1_700_000_000 * NS
    s.apply_genesis(clock)
    s.configure(msgspec.structs.replace(s.params, retention_days=1 / 86_400 * 100))  # 100 s
    a, b, c = (bank.bic for bank in s.scheme.banks[:3])
    old = [_settle(s, a, b if i % 2 else c, clock + i * NS) for i in range(8)]
    assert _walk(s, None) == old[::-1] and _walk(s, c) == old[0::2][::-1] and _walk(s, a) == old[::-1]
    late = clock + 50 * NS
    newer = [_settle(s, b, a, late + i * NS) for i in range(3)]
    # the first eight leave the window (final time + 100 s) at a batch 108 s on; the next three stay
    s.begin_batch(clock + 108 * NS)
    assert _walk(s, None) == newer[::-1] and _walk(s, c) == [] and _walk(s, a) == newer[::-1]
    index = s.payments.arrivals
    assert index.first == index.base == 8 and len(index.uetrs) == 3 and c not in index.by_agent  # compacted
    restored = settlement_from_state(msgspec.msgpack.decode(msgspec.msgpack.encode(settlement_to_state(s)),
                                                            type=type(settlement_to_state(s))))
    assert _walk(restored, None) == newer[::-1] and restored.payments.arrivals.end == 11
    legacy = settlement_to_state(s)
    legacy = msgspec.structs.replace(legacy, payments=msgspec.structs.replace(legacy.payments, arrivals=None))
    rebuilt = settlement_from_state(legacy)
    assert _walk(rebuilt, None) == newer[::-1] and _walk(rebuilt, b) == newer[::-1]
    assert isinstance(legacy.payments, BookState)


def test_a_clock_stepping_back_keeps_the_index_in_order():
    s = Settlement(default_scheme())
    clock = 1_700_000_000 * NS
    s.apply_genesis(clock)
    a, b = (bank.bic for bank in s.scheme.banks[:2])
    first = _settle(s, a, b, clock)
    second = _settle(s, a, b, clock - 5 * NS)  # NTP stepped the clock back
    index = s.payments.arrivals
    assert list(index.ns) == sorted(index.ns) and index.number_at_or_after(clock) == 0
    assert _walk(s, None) == [second, first]

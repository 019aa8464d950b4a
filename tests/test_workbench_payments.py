"""The workbench's lists, over real sockets: GET /admin/participants, GET /v1/payments (either token, filters,
paging, isolation), and a simulated bank's behaviour (POST /admin/participants/{bic}/behaviour), whose 'down'
ends a payment AB05 by the rail's own timeout."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from workbench import B_IBAN, BANK_A, BANK_B, CREDITOR, Workbench, simulated_iban

from rail.api import payment_list
from rail.settlement import arrivals, payment_book


async def test_participants_list_shows_balances_simulation_and_behaviour(bench: Workbench):
    status, listed = await bench.call("GET", "/admin/participants", None)
    assert status == 200
    by_bic = {p["bic"]: p for p in listed}
    assert [p["bic"] for p in listed] == sorted(by_bic) and "SBPPPKKA" not in by_bic
    assert by_bic[BANK_A]["simulated"] is False and by_bic[BANK_A]["behaviour"] is None
    assert by_bic[BANK_A]["posted_paisa"] == by_bic[BANK_A]["available_paisa"] == 50_000_000
    assert by_bic[CREDITOR]["simulated"] is True
    assert by_bic[CREDITOR]["behaviour"] == {"mode": "normal", "until": None, "reason": None, "delay_ms": None}
    status, _ = await bench.call("GET", "/admin/participants", BANK_A)
    assert status == 401


async def test_behaviour_is_checked_shown_and_reverts(bench: Workbench):
    path = f"/admin/participants/{CREDITOR}/behaviour"
    status, answer = await bench.call("POST", path, None, {"mode": "reject", "for_s": 0.0})
    assert status == 422 and "for_s" in answer["detail"]
    status, answer = await bench.call("POST", path, None, {"mode": "reject", "for_s": 30, "reason": "XX99"})
    assert status == 422 and "reason" in answer["detail"]
    status, answer = await bench.call("POST", f"/admin/participants/{BANK_A}/behaviour", None,
                                      {"mode": "down", "for_s": 5})
    assert status == 422 and "simulated" in answer["detail"]
    status, answer = await bench.call("POST", "/admin/participants/NOSUCHXX/behaviour", None,
                                      {"mode": "down", "for_s": 5})
    assert status == 404
    status, answer = await bench.call("POST", path, None, {"mode": "reject", "for_s": 1, "reason": "AC04"})
    assert status == 200 and answer["mode"] == "reject" and answer["reason"] == "AC04" and answer["until"]
    status, _msg, body = await bench.pay(BANK_A, simulated_iban("0099"))
    assert status == 200 and b"<Cd>AC04</Cd>" in body  # the 'accepts at once' account, rejected
    await asyncio.sleep(1.1)
    status, listed = await bench.call("GET", "/admin/participants", None)
    assert next(p for p in listed if p["bic"] == CREDITOR)["behaviour"]["mode"] == "normal"
    status, _msg, body = await bench.pay(BANK_A, simulated_iban("0099"))
    assert status == 200 and b"<TxSts>ACSC</TxSts>" in body


async def test_a_simulated_bank_set_down_ends_payments_ab05_then_slow_answers_late(bench: Workbench):
    path = f"/admin/participants/{CREDITOR}/behaviour"
    status, _ = await bench.call("POST", path, None, {"mode": "down", "for_s": 60})
    assert status == 200
    status, message, body = await bench.pay(BANK_A, simulated_iban("0099"), wait_s=5)
    assert status == 200 and b"<TxSts>RJCT</TxSts>" in body and b"<Cd>AB05</Cd>" in body
    status, listed = await bench.call("GET", "/v1/payments", BANK_A, params={"reason": "AB05"})
    assert [p["uetr"] for p in listed["payments"]] == [message.tx.uetr]
    status, _ = await bench.call("POST", path, None, {"mode": "slow", "for_s": 60, "delay_ms": 300})
    started = asyncio.get_running_loop().time()
    status, _message, body = await bench.pay(BANK_A, simulated_iban("0099"), wait_s=5)
    assert b"<TxSts>ACSC</TxSts>" in body and asyncio.get_running_loop().time() - started >= 0.3


async def test_payments_list_isolation_filters_and_paging(bench: Workbench):
    sent = []
    for suffix in ("0099", "0004", "0099", "0006", "0099"):
        status, message, _ = await bench.pay(BANK_A, simulated_iban(suffix))
        sent.append(message)
    status, message, _ = await bench.pay(BANK_B, simulated_iban("0099"))
    b_uetr = message.tx.uetr
    newest_first = [m.tx.uetr for m in reversed(sent)]

    status, page = await bench.call("GET", "/v1/payments", BANK_A)
    assert status == 200 and [p["uetr"] for p in page["payments"]] == newest_first
    assert page["next_cursor"] is None
    item = page["payments"][0]
    assert item["debtor_agent"] == BANK_A and item["creditor_agent"] == CREDITOR and item["currency"] == "PKR"
    assert item["status"] == "ACSC" and item["accepted_at"] and item["final_at"]
    status, page = await bench.call("GET", "/v1/payments", BANK_B)
    assert [p["uetr"] for p in page["payments"]] == [b_uetr]
    status, page = await bench.call("GET", "/v1/payments", None)
    assert [p["uetr"] for p in page["payments"]][:2] == [b_uetr, newest_first[0]]
    # B cannot find A's payment even by its UETR; the admin can
    status, page = await bench.call("GET", "/v1/payments", BANK_B, params={"q": sent[0].tx.uetr})
    assert page["payments"] == []
    status, page = await bench.call("GET", "/v1/payments", None, params={"q": sent[0].tx.uetr.upper()})
    assert [p["uetr"] for p in page["payments"]] == [sent[0].tx.uetr]

    status, page = await bench.call("GET", "/v1/payments", BANK_A, params={"status": "RJCT"})
    assert [p["reason"] for p in page["payments"]] == ["AC06", "AC04"]
    status, page = await bench.call("GET", "/v1/payments", BANK_A, params={"status": "acsp"})
    assert len(page["payments"]) == 3  # the creditor's answer matches too
    status, page = await bench.call("GET", "/v1/payments", None, params={"counterparty": BANK_B})
    assert [p["uetr"] for p in page["payments"]] == [b_uetr]
    e2e = sent[2].tx.end_to_end_id
    status, page = await bench.call("GET", "/v1/payments", BANK_A, params={"q": e2e[:10]})
    assert [p["end_to_end_id"] for p in page["payments"]] == [e2e]

    collected, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await bench.call("GET", "/v1/payments", BANK_A, params=params)
        assert status == 200 and len(page["payments"]) <= 2
        collected += [p["uetr"] for p in page["payments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert collected == newest_first

    middle = page_time = dt.datetime.fromisoformat((await bench.call("GET", "/v1/payments", BANK_A))[1][
        "payments"][2]["accepted_at"])
    status, page = await bench.call("GET", "/v1/payments", BANK_A, params={"since": middle.isoformat()})
    assert [p["uetr"] for p in page["payments"]] == newest_first[:3]
    status, page = await bench.call("GET", "/v1/payments", BANK_A, params={"until": page_time.isoformat()})
    assert [p["uetr"] for p in page["payments"]] == newest_first[3:]


@pytest.mark.parametrize("params, named", [
    ({"status": "DONE"}, "status"), ({"counterparty": "NOSUCHXX"}, "counterparty"), ({"reason": "ab"}, "reason"),
    ({"since": "yesterday"}, "since"), ({"until": "2026-01-15T10:00:00"}, "until"), ({"limit": "500"}, "limit"),
    ({"limit": "0"}, "limit"), ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"), ({"q": "x" * 65}, "q"),
])  # fmt: skip
async def test_bad_filters_are_400_naming_the_parameter(bench: Workbench, params, named):
    status, answer = await bench.call("GET", "/v1/payments", BANK_A, params=params)
    assert status == 400 and answer["error"] == "bad_query" and named in answer["detail"]


async def test_paging_is_bounded_and_survives_the_book_packing(tmp_path, monkeypatch):
    """Many payments to a counterparty that is rarely paid: each request scans at most SCAN_MAX, pages may be
    short, and following next_cursor finds every match, including packed payments."""
    monkeypatch.setattr(payment_list, "SCAN_MAX", 7)
    monkeypatch.setattr(arrivals, "COMPACT_AT_LEAST", 4)
    monkeypatch.setattr(payment_book, "COMPACT_AFTER_S", 0.0)  # final payments are packed at the next batch
    bench = await Workbench.open(tmp_path / "data")
    try:
        wanted = set()
        for index in range(24):
            to_b = index % 6 == 0
            creditor, iban = (BANK_B, B_IBAN) if to_b else (CREDITOR, simulated_iban("0099"))
            status, message, _ = await bench.pay(BANK_A, iban, creditor=creditor, wait_s=None if to_b else 5)
            assert status in (200, 202)
            if to_b:
                wanted.add(message.tx.uetr)
        await bench.service.liquidity(BANK_A, 1, "in")  # one more batch: the settled ones are packed now
        assert bench.service.core.health().payments_packed >= 18
        pages, found, cursor = 0, set(), None
        while True:
            params = {"counterparty": BANK_B, "limit": "3", **({"cursor": cursor} if cursor else {})}
            status, page = await bench.call("GET", "/v1/payments", BANK_A, params=params)
            pages += 1
            found |= {p["uetr"] for p in page["payments"]}
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert found == wanted and pages >= 24 // 7
    finally:
        await bench.close()

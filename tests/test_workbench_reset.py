"""POST /admin/reset over real sockets: confirmed or refused, never with payments in flight, the books back to
the default scheme (kept tokens keep working, inboxes keep their numbering), the simulated banks back, traces
gone, the same after a restart (it is journaled); and GET /admin/overview from the rail's own metrics."""

from __future__ import annotations

import asyncio

from workbench import BANK_A, BANK_B, CREDITOR, Workbench, simulated_iban

from rail.scheme import DEFAULT_PREFUND_PAISA

TAKEN_OVER = "HABBPKKA"  # a default bank registered from outside: no longer simulated


async def _wait_final(bench: Workbench, who: str) -> None:
    for _ in range(100):
        _status, page = await bench.call("GET", "/v1/payments", who, params={"status": "ACTC"})
        if not page["payments"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("payments stayed in flight")


async def test_reset_keeps_tokens_when_asked_and_is_journaled(tmp_path):
    bench = await Workbench.open(tmp_path / "data", participants=(BANK_A, BANK_B, TAKEN_OVER))
    try:
        for suffix in ("0099", "0004"):
            await bench.pay(BANK_A, simulated_iban(suffix))
        status, inbox = await bench.call("GET", "/v1/inbox", BANK_A, params={"wait": "1"})
        last_seq = inbox["messages"][-1]["seq"]
        status, answer = await bench.call("POST", "/admin/reset", None, {"keep_tokens": True})
        assert status == 422 and "RESET" in answer["detail"]
        status, _msg, _ = await bench.pay(BANK_A, simulated_iban("0090"), wait_s=None)  # never answered
        status, answer = await bench.call("POST", "/admin/reset", None, {"confirm": "RESET", "keep_tokens": True})
        assert status == 409 and "in flight" in answer["detail"]
        await _wait_final(bench, BANK_A)

        status, answer = await bench.call("POST", "/admin/reset", None, {"confirm": "RESET", "keep_tokens": True})
        assert status == 200 and answer["ok"] and answer["payments_discarded"] == 3
        assert answer["participants_kept"] == sorted([BANK_A, BANK_B, TAKEN_OVER])
        status, page = await bench.call("GET", "/v1/payments", None)
        assert page["payments"] == []
        listed = {p["bic"]: p for p in (await bench.call("GET", "/admin/participants", None))[1]}
        assert listed[BANK_A]["posted_paisa"] == 0 and listed[CREDITOR]["posted_paisa"] == DEFAULT_PREFUND_PAISA
        assert listed[CREDITOR]["simulated"] and not listed[TAKEN_OVER]["simulated"]
        status, balances = await bench.call("GET", "/admin/balances", None)
        assert balances["conserved"] is True
        status, unmatched = await bench.call("GET", "/v1/traces/unmatched", None)
        assert unmatched == {"messages": []}

        await bench.call("POST", "/admin/liquidity", None, {"bic": BANK_A, "amount": 1_000_000, "direction": "in"})
        status, _message, body = await bench.pay(BANK_A, simulated_iban("0099"))  # the kept token works
        assert status == 200 and b"ACSC" in body
        status, inbox = await bench.call("GET", "/v1/inbox", BANK_A, params={"wait": "1"})
        assert inbox["messages"][0]["seq"] > last_seq  # the inbox's numbering goes on
    finally:
        await bench.close()
    bench = await Workbench.open(tmp_path / "data", participants=())  # a restart replays the reset
    try:
        status, page = await bench.call("GET", "/v1/payments", None)
        assert len(page["payments"]) == 1
    finally:
        await bench.close()


async def test_reset_without_keeping_tokens_brings_the_default_scheme_back(tmp_path):
    bench = await Workbench.open(tmp_path / "data", participants=(BANK_A, TAKEN_OVER))
    try:
        status, answer = await bench.call("POST", "/admin/reset", None, {"confirm": "RESET"})
        assert status == 200 and answer["participants_kept"] == []
        status, _ = await bench.call("GET", "/v1/balance", BANK_A)
        assert status == 401
        listed = {p["bic"]: p for p in (await bench.call("GET", "/admin/participants", None))[1]}
        assert BANK_A not in listed and listed[TAKEN_OVER]["simulated"]
        await bench.register(BANK_B)
        status, _message, body = await bench.pay(BANK_B, simulated_iban("0099", TAKEN_OVER), creditor=TAKEN_OVER)
        assert status == 200 and b"ACSC" in body  # its simulated bank answers again
    finally:
        await bench.close()


async def test_overview_shows_throughput_latency_and_balances(tmp_path):
    bench = await Workbench.open(tmp_path / "data", participants=(BANK_A,))
    try:
        for _ in range(5):
            await bench.pay(BANK_A, simulated_iban("0099"))
        status, view = await bench.call("GET", "/admin/overview", None)
        assert status == 200 and view["serving"] is True
        assert view["payments_per_s"]["10s"] > 0 and view["payments_per_s"]["60s"] > 0
        assert view["finals"]["ACSC"] == 5 and view["in_flight"] == 0 and view["queue_depth"] == 0
        assert view["latency_ms"]["window_s"] == 60
        a = next(p for p in view["participants"] if p["bic"] == BANK_A)
        assert a["posted_paisa"] == 50_000_000 - 5 * 10_000 and a["reserved_paisa"] == 0
        status, _ = await bench.call("GET", "/admin/overview", BANK_A)
        assert status == 401
    finally:
        await bench.close()

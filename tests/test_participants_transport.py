"""The two transports: same interface, HTTP over real loopback sockets against a fake rail, in-process direct."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from test_participants_fakes import FakeRail, JsonCodec, http_app, serve

from participants.bank import BankBehaviour
from participants.harness import LoadConfig, LoadRun, Scenario, http_target
from participants.transport import HttpTransport, InProcessTransport, RailRefused, RailUnreachable


def pacs008(uetr: str, debtor: str, creditor: str, amount: int = 1000) -> bytes:
    return orjson.dumps({"type": "pacs.008", "uetr": uetr, "amount": amount, "dbtr_bic": debtor,
                         "cdtr_bic": creditor, "cdtr_iban": "PK00X"})


async def exercise(admin, make_participant) -> None:
    """One conversation through any transport: token, send, inbox long-poll, ack, payment, balances."""
    token_a = await admin.add_participant("BNK0PKKA", "A")
    token_b = await admin.add_participant("BNK1PKKA", "B")
    a, b = make_participant("BNK0PKKA", token_a), make_participant("BNK1PKKA", token_b)
    status, _, body = await a.send(pacs008("u-1", "BNK0PKKA", "BNK1PKKA"), "application/json")
    assert status == 202 and orjson.loads(body)["status"] == "ACTC"
    got = await b.inbox(wait_s=1.0, max_n=10)
    assert [m["seq"] for m in got["messages"]] == [1]
    assert orjson.loads(got["messages"][0]["message"])["uetr"] == "u-1"
    await b.ack(1)
    assert (await b.inbox(wait_s=0, max_n=10))["messages"] == []
    answer = orjson.dumps({"type": "pacs.002", "uetr": "u-1", "status": "ACSP", "reason": ""})
    status, _, _ = await b.send(answer, "application/json")
    assert status == 202
    assert (await a.payment("u-1"))["status"] == "ACSC"
    balances = await admin.balances()
    assert balances["conserved"] is True
    await admin.liquidity("BNK0PKKA", 500, "in")
    await a.close()
    await b.close()


async def test_http_transport_speaks_the_rail_api_over_sockets():
    rail = FakeRail(n_banks=2)
    runner, url = await serve(http_app(rail, admin_token="s3cret"))
    admin = HttpTransport(url, admin_token="s3cret")
    try:
        assert await admin.healthz()
        await exercise(admin, lambda bic, token: HttpTransport(url, token))
        assert "fake_rail_submits_total" in await admin.metrics()
    finally:
        await admin.close()
        await runner.cleanup()


async def test_inprocess_transport_same_conversation():
    rail = FakeRail(n_banks=2)
    admin = InProcessTransport(rail)
    await exercise(admin, lambda bic, token: InProcessTransport(rail, bic))


async def test_long_poll_returns_as_soon_as_a_message_arrives():
    rail = FakeRail(n_banks=2)
    runner, url = await serve(http_app(rail))
    admin = HttpTransport(url, admin_token="admin")
    b = HttpTransport(url, await admin.add_participant("BNK1PKKA", "B"))
    a = HttpTransport(url, await admin.add_participant("BNK0PKKA", "A"))
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        poll = asyncio.create_task(b.inbox(wait_s=5.0, max_n=100))
        await asyncio.sleep(0.1)
        await a.send(pacs008("u-2", "BNK0PKKA", "BNK1PKKA"), "application/json")
        got = await poll
        assert len(got["messages"]) == 1 and loop.time() - started < 2.0
    finally:
        for t in (a, b, admin):
            await t.close()
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_rail_raises_a_one_line_error():
    port = free_port()
    t = HttpTransport(f"http://127.0.0.1:{port}", "tok")
    with pytest.raises(RailUnreachable) as info:
        await t.send(b"{}", "application/json")
    assert f"127.0.0.1:{port}" in str(info.value) and "\n" not in str(info.value)
    await t.close()


async def test_wrong_admin_token_is_refused_clearly():
    rail = FakeRail(n_banks=2)
    runner, url = await serve(http_app(rail, admin_token="right"))
    admin = HttpTransport(url, admin_token="wrong")
    try:
        with pytest.raises(RailRefused) as info:
            await admin.balances()
        assert info.value.status == 401
    finally:
        await admin.close()
        await runner.cleanup()


@pytest.mark.slow
async def test_rail_restart_during_a_run_is_reported_as_a_gap_and_what_settled_reconciles():
    # The fake rail's state plays the journal: the HTTP server goes away for ~1 s and comes back on the same
    # port with the same state, as `rail serve --data DIR` does after a restart.
    rail = FakeRail(n_banks=3, creditor_timeout_s=2.0)
    port = free_port()
    runner, url = await serve(http_app(rail), port=port)
    behaviour = BankBehaviour(accept_latency_ms_median=2.0, accept_latency_sigma=0.3, reject_rate=0.0,
                              inbox_wait_s=0.2)
    cfg = LoadConfig(rate_per_s=100, duration_s=3.0, seed=5, banks=3, payment_timeout_s=6.0,
                     scenario=Scenario(bank=behaviour), rendering="json")
    target = http_target(url, "admin", scheme=rail.scheme)
    run = LoadRun(target, cfg, JsonCodec)

    async def restart() -> None:
        nonlocal runner
        await asyncio.sleep(1.2)
        await runner.cleanup()
        await asyncio.sleep(1.0)
        runner, _ = await serve(http_app(rail), port=port)

    restarter = asyncio.create_task(restart())
    try:
        result = await run.run()
    finally:
        await restarter
        await target.admin.close()
        await runner.cleanup()
    s = result.summary
    assert s.rail_gaps, "the outage must be reported"
    gap = s.rail_gaps[0]
    assert 0.9 <= gap["start_s"] <= 2.0 and gap["end_s"] - gap["start_s"] >= 0.5
    assert s.payments_sent == s.payments_offered
    assert s.reconciliation.ok, s.reconciliation.mismatches
    assert s.counts_by_status.get("ACSC", 0) + s.counts_by_status.get("RJCT", 0) == s.payments_offered
    settled_at_rail = sum(1 for p in rail.payments.values() if p["state"] == "ACSC")
    assert s.reconciliation.acsc_payments == settled_at_rail

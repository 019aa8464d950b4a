"""A simulated bank's own behaviour: books, exactly-once credits, creditor decisions, the message fast path."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from test_participants_fakes import FakeRail, JsonCodec, serve

from participants.bank import BankBehaviour, Outage, SimulatedBank
from participants.codec import Iso20022Codec
from participants.transport import HttpTransport
from participants.treasury import settlement_balance_paisa
from rail import iso20022
from rail.scheme import default_scheme

SCHEME = default_scheme()
HBL, UBL = SCHEME.banks[0], SCHEME.banks[1]


def bank(rail: FakeRail, bic: str, behaviour: BankBehaviour | None = None, clock=lambda: 0.0) -> SimulatedBank:
    from participants.transport import InProcessTransport

    sb = next(b for b in rail.scheme.banks if b.bic == bic)
    return SimulatedBank(bic, sb.name, sb.customers, InProcessTransport(rail, bic), JsonCodec(),
                         behaviour or BankBehaviour(), seed=1, run_clock=clock)


def final(uetr: str, status: str, reason: str = "", seq: int = 1) -> dict:
    return {"messages": [{"seq": seq, "msg_type": "pacs.002.001.10",
                          "message": orjson.dumps({"type": "pacs.002", "uetr": uetr, "status": status,
                                                   "reason": reason}).decode()}]}


async def test_debtor_books_hold_then_refund_on_rjct_and_creditor_credits_exactly_once():
    rail = FakeRail(n_banks=2)
    a, b = bank(rail, "BNK0PKKA"), bank(rail, "BNK1PKKA", BankBehaviour(accept_latency_ms_median=1))
    result = await a.send_payment("u-1", 5_000, 0, b, 1)
    assert result.status == "ACTC"
    assert a.books[a.customer(0).iban] == -5_000  # held from the customer
    a.handle_batch(final("u-1", "RJCT", "AC04"))
    assert a.books[a.customer(0).iban] == 0  # refunded
    # creditor side: inbound pacs.008 then ACSC delivered twice (at-least-once): credited once
    b.handle_batch({"messages": [{"seq": 1, "msg_type": "pacs.008.001.08", "message": orjson.dumps(
        {"type": "pacs.008", "uetr": "u-2", "amount": 700, "dbtr_bic": "BNK0PKKA", "cdtr_bic": "BNK1PKKA",
         "cdtr_iban": b.customer(1).iban}).decode()}]})
    b.handle_batch(final("u-2", "ACSC", seq=2))
    b.handle_batch(final("u-2", "ACSC", seq=3))
    assert b.books[b.customer(1).iban] == 700 and b.credited_uetrs == {"u-2"}
    await asyncio.sleep(0.05)  # let the scheduled answer go out
    await b.stop()


def test_creditor_decisions_follow_outages_and_rates():
    rail = FakeRail(n_banks=2)
    now = [0.0]
    behaviour = BankBehaviour(reject_rate=0.3, outages=[Outage(start_s=10, end_s=20, bic="BNK1PKKA", mode="no_answer"),
                                                        Outage(start_s=30, end_s=40, mode="reject", reason="AB09")])
    b = bank(rail, "BNK1PKKA", behaviour, clock=lambda: now[0])

    def decide() -> tuple[str, str, float]:
        verdict = b.policy.payment("PK00BNK10000000000000001", now[0])
        return verdict.decision, verdict.reason, verdict.delay_s

    decisions = [decide()[0] for _ in range(2000)]
    assert 0.25 < decisions.count("reject") / 2000 < 0.35 and "silent" not in decisions
    reasons = {decide()[1] for _ in range(500)} - {""}
    assert reasons <= {"AC04", "AC06", "AC01", "BE01", "AG01", "RR04"} and len(reasons) >= 4
    now[0] = 15.0
    assert decide() == ("silent", "", 0.0)
    now[0] = 35.0
    assert decide() == ("reject", "AB09", 0.0)
    now[0] = 50.0
    delays = sorted(decide()[2] for _ in range(2000))
    assert all(0 <= d <= behaviour.accept_latency_ms_max / 1000 for d in delays)
    median_ms = delays[len(delays) // 2] * 1000
    assert 12 < median_ms < 18  # log-normal around the configured 15 ms median


def test_balance_report_is_read_in_the_rails_format():
    report = {"accounts": {"HABBPKKA": {"posted_paisa": 1000, "pending_debits_paisa": 300, "available_paisa": 700}}}
    assert settlement_balance_paisa(report, "HABBPKKA") == 700
    assert settlement_balance_paisa(report, "UNILPKKA") is None


uetrs = st.uuids(version=4).map(str)
amounts = st.integers(min_value=1, max_value=10**13)


@settings(max_examples=40)
@given(uetr=uetrs, amount=amounts, status=st.sampled_from(["ACSP", "RJCT"]),
       reason=st.sampled_from(["AC01", "AC04", "AC06", "AG01", "BE01", "RR04"]))
def test_fast_path_reads_exactly_what_the_full_decoder_reads(uetr, amount, status, reason):
    codec = Iso20022Codec("xml")
    debtor, creditor = HBL.customers[0], UBL.customers[1]
    pacs008 = codec.encode(codec.pacs008(uetr=uetr, msg_id="HABBPKKA" + uetr[:8], amount_paisa=amount,
                                         debtor_bic=HBL.bic, debtor_name=debtor.name, debtor_iban=debtor.iban,
                                         creditor_bic=UBL.bic, creditor_name=creditor.name,
                                         creditor_iban=creditor.iban))
    full = codec.read(pacs008)
    fast = codec.read(pacs008.decode(), msg_type="pacs.008.001.08")
    assert type(fast.original).__name__ == "PeekedPacs008"  # the fast path was taken
    for field in ("uetr", "amount_paisa", "creditor_iban", "debtor_bic", "creditor_bic"):
        assert getattr(fast, field) == getattr(full, field), field
    # the answer built from the peeked ids equals the one built from the full struct, and is profile-valid
    answer_fast = codec.encode(codec.pacs002_answer(fast.original, from_bic=UBL.bic, status=status,
                                                    reason=reason if status == "RJCT" else None))
    decoded = iso20022.decode(answer_fast, "application/xml").message
    assert iso20022.validate(decoded, iso20022.RAAST_PROFILE, {HBL.bic, UBL.bic}) == []
    tx = decoded.tx
    assert (tx.orgnl_uetr, tx.tx_sts, tx.instg_agt_bicfi, tx.instd_agt_bicfi) == (uetr, status, UBL.bic, HBL.bic)
    peeked = codec.read(answer_fast.decode(), msg_type="pacs.002.001.10")
    assert (peeked.uetr, peeked.status) == (uetr, status)
    assert peeked.reason == (reason if status == "RJCT" else "")


def test_fast_path_declines_what_it_does_not_recognise():
    from participants.codec import peek as _peek

    prefixed = '<?xml version="1.0"?><p:Document xmlns:p="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"/>'
    assert _peek(prefixed, "pacs.002.001.10") is None
    assert _peek("<Document xmlns='x'><TxInfAndSts/><TxInfAndSts/></Document>", "pacs.002.001.10") is None
    assert _peek('<Document xmlns="x"><FIToFIPmtStsRpt/></Document>', "pacs.002.001.10") is None


async def test_lean_http_client_reads_chunked_and_closing_responses():
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b'{"messages": [', b'], "n": 1}'):
            await resp.write(part)
        await resp.write_eof()
        return resp

    async def closing(request: web.Request) -> web.Response:
        return web.Response(body=b'{"upto": 3}', content_type="application/json", headers={"Connection": "close"})

    app = web.Application()
    app.router.add_get("/v1/inbox", chunked)
    app.router.add_post("/v1/inbox/ack", closing)
    runner, url = await serve(app)
    t = HttpTransport(url, "tok")
    try:
        for _ in range(3):
            assert await t.inbox(0, 10) == {"messages": [], "n": 1}
            assert await t.ack(3) == {"upto": 3}
    finally:
        await t.close()
        await runner.cleanup()


async def test_lean_http_client_times_out_a_silent_rail_and_bounds_requests_in_flight():
    """No timer per request: the pool's sweep fails a request past its deadline (RailUnreachable, within a sweep
    of it); at most `size` requests are in flight, the others queue (a cancelled one gives its place up)."""
    from participants import http_client
    from participants.transport import RailUnreachable

    release, done = asyncio.Event(), asyncio.Event()
    in_flight = 0
    most = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        return web.Response(status=202)

    async def silent(request: web.Request) -> web.Response:
        await done.wait()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/v1/messages", slow)
    app.router.add_get("/silent", silent)
    runner, url = await serve(app)
    t = HttpTransport(url, "tok", pool_connections_max=3)
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(RailUnreachable, match="timed out"):
            await t._request("GET", "/silent", timeout_s=0.3)
        assert 0.3 <= loop.time() - started < 0.3 + 2 * http_client.TIMEOUT_SWEEP_S + 0.5
        sends = [asyncio.ensure_future(t.send(b"<x/>")) for _ in range(8)]
        await asyncio.sleep(0.3)
        sends[5].cancel()  # queued for a slot: leaves the queue, the others still get theirs
        await asyncio.sleep(0.1)
        assert most == 3
        release.set()
        answers = await asyncio.gather(*sends, return_exceptions=True)
        assert isinstance(answers[5], asyncio.CancelledError)
        assert [a[0] for i, a in enumerate(answers) if i != 5] == [202] * 7
        assert most == 3 and t._lean_pools[0]._free == 3
    finally:
        done.set()
        await t.close()
        await runner.cleanup()


@pytest.mark.parametrize("rendering", ["xml", "json"])
def test_codec_builds_profile_valid_pacs008(rendering):
    codec = Iso20022Codec(rendering)
    c0, c1 = HBL.customers[0], UBL.customers[0]
    body = codec.encode(codec.pacs008(uetr="3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f", msg_id="HABBPKKA0000001",
                                      amount_paisa=250_000, debtor_bic=HBL.bic, debtor_name=c0.name,
                                      debtor_iban=c0.iban, creditor_bic=UBL.bic, creditor_name=c1.name,
                                      creditor_iban=c1.iban))
    decoded = iso20022.decode(body, codec.content_type)
    assert iso20022.validate(decoded.message, iso20022.RAAST_PROFILE, {HBL.bic, UBL.bic}) == []
    assert decoded.message.tx.amount_paisa == 250_000


async def test_a_resend_after_a_connection_failure_is_the_same_message():
    from participants.transport import RailUnreachable

    sent: list[bytes] = []

    class FlakyTransport:
        kind = "http"

        async def send(self, body, content_type, wait_s=None):
            sent.append(body)
            if len(sent) == 1:
                raise RailUnreachable("cannot reach the rail at test: connection reset")
            return 202, "application/xml", b""

    codec = Iso20022Codec("xml")
    a = SimulatedBank(HBL.bic, HBL.name, HBL.customers[:6], FlakyTransport(), codec)
    b = SimulatedBank(UBL.bic, UBL.name, UBL.customers[:6], FlakyTransport(), codec)
    uetr = "3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f"
    with pytest.raises(RailUnreachable):
        await a.send_payment(uetr, 10_000, 0, b, 0)
    assert (await a.send_payment(uetr, 10_000, 0, b, 0)).status == "ACTC"
    assert sent[0] == sent[1]  # byte-identical: the rail answers it as a resend, never AM05
    assert a.books[a.customer(0).iban] == -10_000  # held once, not twice


def test_message_ids_do_not_repeat_across_bank_instances_unless_a_replay_asks_for_it():
    # The rail deduplicates on (InstgAgt, TxId): a second run (or a restarted fleet) reusing ids would be
    # answered RJCT AM05. Only a deliberate replay (--same-uetrs, id_tag="") repeats them.
    def first_id(id_tag):
        sim = SimulatedBank(HBL.bic, HBL.name, HBL.customers, None, JsonCodec(), id_tag=id_tag)
        return sim.next_msg_id()

    assert first_id(None) != first_id(None)
    assert first_id("") == first_id("") == f"{HBL.bic}{1:015d}"
    assert len(first_id(None)) <= 35  # Max35Text

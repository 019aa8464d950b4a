"""Message traces over real sockets (GET /v1/payments/{uetr}/messages, GET /v1/traces/unmatched): an accepted
payment, one refused at the edge (XSD), a rule failure with its element path and a creditor's RJCT, each side
seeing only its own messages; the store's retention bound; and traces surviving a SIGKILLed `rail serve`."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import msgspec
import pytest
from faults import ADMIN, DEBTOR, DEBTOR_IBAN, RailProcess, accept_now_iban
from workbench import BANK_A, BANK_B, CREDITOR, XML, Workbench, pacs008, simulated_iban

from rail import iso20022
from rail.api import trace_store
from rail.api.trace_store import ExchangeEntry, FrameIndex, TraceSettings, TraceStore


async def messages(bench: Workbench, uetr: str, who: str | None) -> tuple[int, dict]:
    return await bench.call("GET", f"/v1/payments/{uetr}/messages", who)


async def test_an_accepted_payment_shows_every_message_and_each_side_only_its_own(bench: Workbench):
    status, message, answer = await bench.pay(BANK_A, simulated_iban("0099"))
    assert status == 200
    status, page = await bench.call("GET", "/v1/inbox", BANK_A, params={"wait": "2"})
    assert [m["msg_type"] for m in page["messages"]] == ["pacs.002.001.10"]
    uetr = message.tx.uetr

    status, view = await messages(bench, uetr, BANK_A)
    assert status == 200 and view["payment"]["status"] == "ACSC" and view["reason_explained"] is None
    kinds = [(m["direction"], m["msg_type"], m["channel"]) for m in view["messages"]]
    assert kinds == [("in", "pacs.008", "request"), ("out", "pacs.002", "request"), ("out", "pacs.002", "inbox")]
    sent, answered, delivered = view["messages"]
    assert sent["body"].encode() == iso20022.encode(message, "xml") and sent["as_sent"]  # the bytes as sent
    assert (sent["sender"], sent["receiver"], sent["http_status"]) == (BANK_A, "SBPPPKKA", 200)
    assert answered["body"].encode() == answer and answered["status"] == "ACSC"
    assert delivered["status"] == "ACSC" and delivered["inbox_seq"] == page["messages"][0]["seq"]
    assert delivered["body"] == page["messages"][0]["message"]
    assert all(m["uetr"] == uetr and m["at"] for m in view["messages"])

    status, view = await messages(bench, uetr, None)  # the admin: the creditor's side too
    creditor_side = [m for m in view["messages"] if CREDITOR in (m["sender"], m["receiver"])]
    forwarded = next(m for m in creditor_side if m["msg_type"] == "pacs.008")
    assert forwarded["direction"] == "out" and forwarded["channel"] == "in-process"
    assert forwarded["body"] == sent["body"] and forwarded["as_sent"]  # forwarded whole, the debtor's bytes
    answer_in = next(m for m in creditor_side if m["direction"] == "in")
    assert answer_in["msg_type"] == "pacs.002" and answer_in["status"] == "ACSP" and answer_in["body"] is None

    for who in (BANK_B,):  # not party to it: 404, as for a payment that does not exist
        status, answer = await messages(bench, uetr, who)
        assert status == 404 and answer["error"] == "not_found"
    status, _ = await messages(bench, str(uuid.uuid4()), BANK_A)
    assert status == 404


async def test_a_message_refused_at_the_edge_is_traced_by_its_uetr_with_the_element_path(bench: Workbench):
    message = pacs008(BANK_A, "PK00TEST0000001234567890", CREDITOR, simulated_iban("0099"))
    body = iso20022.encode(message, "xml").replace(b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>one</NbOfTxs>")
    status, answer = await bench.send(BANK_A, body)
    assert status == 400 and b"admi.002" in answer
    status, view = await messages(bench, message.tx.uetr, BANK_A)
    assert status == 200 and view["payment"] is None
    question, refusal = view["messages"]
    assert question["body"].encode() == body and question["msg_type"] == "pacs.008"
    assert (refusal["msg_type"], refusal["http_status"], refusal["status"]) == ("admi.002", 400, "RJCT")
    assert refusal["reason"] == "FF01" and "NbOfTxs" in refusal["element_path"]
    assert view["reason_explained"].startswith("FF01: ") and "before recording any payment" in view[
        "reason_explained"]
    status, _ = await messages(bench, message.tx.uetr, BANK_B)
    assert status == 404


async def test_rule_failures_and_a_creditor_reject_are_explained(bench: Workbench):
    status, message, answer = await bench.pay(BANK_A, simulated_iban("0099"), amount_paisa=10**15 + 1)
    assert status == 422 and b"AM02" in answer
    status, view = await messages(bench, message.tx.uetr, BANK_A)
    refusal = view["messages"][-1]
    assert refusal["status"] == "RJCT" and refusal["reason"] == "AM02"
    assert refusal["element_path"] and "IntrBkSttlmAmt" in refusal["element_path"]
    assert "AM02" in view["reason_explained"] and refusal["element_path"] in view["reason_explained"]

    status, message, answer = await bench.pay(BANK_A, simulated_iban("0004"))
    assert b"<Cd>AC04</Cd>" in answer
    status, view = await messages(bench, message.tx.uetr, BANK_A)
    assert view["payment"]["status"] == "RJCT" and view["payment"]["reason"] == "AC04"
    assert view["reason_explained"].startswith("AC04: ") and f"creditor agent {CREDITOR} rejected" in view[
        "reason_explained"]


async def test_unreadable_messages_are_kept_per_participant(bench: Workbench):
    for index in range(3):
        status, _ = await bench.send(BANK_A, f"not a message {index}".encode(), XML)
        assert status == 400
    status, _ = await bench.send(BANK_B, b"<Document>B's</Document>", XML)
    status, listed = await bench.call("GET", "/v1/traces/unmatched", BANK_A)
    bodies = [m["body"] for m in listed["messages"] if m["direction"] == "in"]
    assert bodies == ["not a message 2", "not a message 1", "not a message 0"]  # newest first
    assert listed["messages"][1]["msg_type"] == "admi.002" and listed["messages"][1]["reason"] == "FF01"
    status, listed = await bench.call("GET", "/v1/traces/unmatched", None, params={"bic": BANK_B})
    assert [m["body"] for m in listed["messages"] if m["direction"] == "in"] == ["<Document>B's</Document>"]
    status, listed = await bench.call("GET", "/v1/traces/unmatched", None)
    assert len([m for m in listed["messages"] if m["direction"] == "in"]) == 4
    status, _ = await bench.call("GET", "/v1/traces/unmatched", None, params={"bic": "NOSUCHXX"})
    assert status == 400


def test_the_store_keeps_within_its_bounds_and_its_index_follows(tmp_path, monkeypatch):
    monkeypatch.setattr(trace_store, "SEGMENT_BYTES_MIN", 4_096)
    settings = TraceSettings(bytes_max=40_000, age_s=3_600)
    store = TraceStore(tmp_path / "traces", settings)
    body = b"x" * 900
    uetrs = [str(uuid.uuid4()) for _ in range(200)]
    now = time.time_ns()
    def entry(uetr: str) -> bytes:
        return msgspec.msgpack.encode([ExchangeEntry(now, now, BANK_A, "request", uetr, "pacs.008", "xml", 202,
                                                     body, None, None, None)])  # fmt: skip

    for uetr in uetrs:
        where = store.append(entry(uetr), FrameIndex(1, [uetr], []), now)
        store.indexed(where, FrameIndex(1, [uetr], []), now)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "traces").iterdir())
    assert on_disk <= settings.bytes_max + store.segment_bytes  # the segment being written may overshoot
    assert uetrs[-1] in store.by_uetr and uetrs[0] not in store.by_uetr
    assert store.records_of(uetrs[-1], store.locations(uetrs[-1]))[0][1].body == body
    kept = set(store.by_uetr)
    store.close()
    reopened = TraceStore(tmp_path / "traces", settings)  # a restart rebuilds the same index
    assert set(reopened.by_uetr) == kept and reopened.next_seq == store.next_seq
    where = reopened.append(entry("u"), FrameIndex(1, ["u"], []), now)
    reopened.indexed(where, FrameIndex(1, ["u"], []), now + int(7_200e9))  # two hours on: past the age bound
    assert set(reopened.by_uetr) <= {"u"} and len(reopened.segments) == 1
    reopened.close()


@pytest.mark.slow
async def test_traces_survive_a_sigkilled_rail_serve(tmp_path):
    rail = RailProcess(tmp_path / "data", "--creditor-timeout-ms", "2000").start()
    try:
        async with aiohttp.ClientSession() as session:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            async with session.post(f"{rail.url}/admin/participants", json={"bic": DEBTOR, "name": "D"},
                                    headers=admin) as response:
                token = (await response.json())["token"]
            await session.post(f"{rail.url}/admin/liquidity", headers=admin,
                               json={"bic": DEBTOR, "amount": 10_000_000, "direction": "in"})
            message = pacs008(DEBTOR, DEBTOR_IBAN, CREDITOR, accept_now_iban())
            body = iso20022.encode(message, "xml")
            async with session.post(f"{rail.url}/v1/messages", data=body, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": XML, "Prefer": "wait=5"}) as response:
                assert response.status == 200
            await asyncio.sleep(0.6)  # the writer's flush interval, and more
            rail.kill()
            rail = RailProcess(tmp_path / "data").start()
            async with session.get(f"{rail.url}/v1/payments/{message.tx.uetr}/messages", headers=admin) as response:
                assert response.status == 200
                view = await response.json()
            sent = next(m for m in view["messages"] if m["direction"] == "in" and m["sender"] == DEBTOR)
            assert sent["body"].encode() == body
            assert {m["msg_type"] for m in view["messages"]} >= {"pacs.008", "pacs.002"}
    finally:
        rail.stop()


def test_a_torn_tail_is_cut_and_a_damaged_frame_ends_its_segment(tmp_path, caplog):
    settings = TraceSettings()
    store = TraceStore(tmp_path / "traces", settings)
    now = time.time_ns()
    uetrs = [str(uuid.uuid4()) for _ in range(3)]
    for uetr in uetrs:
        entry = msgspec.msgpack.encode([ExchangeEntry(now, now, BANK_A, "request", uetr, "pacs.008", "xml", 202,
                                                      b"<Document/>", None, None, None)])  # fmt: skip
        store.indexed(store.append(entry, FrameIndex(1, [uetr], []), now), FrameIndex(1, [uetr], []), now)
    store.close()
    (segment,) = (tmp_path / "traces").iterdir()
    whole = segment.read_bytes()
    segment.write_bytes(whole[:-5])  # the process died while writing the last frame
    reopened = TraceStore(tmp_path / "traces", settings)
    assert set(reopened.by_uetr) == set(uetrs[:2]) and segment.stat().st_size < len(whole) - 5
    reopened.close()
    damaged = bytearray(whole)
    second = reopened.locations(uetrs[1])[0][1]
    damaged[second + 24] ^= 0xFF  # a bit flipped in the second frame's index part
    segment.write_bytes(bytes(damaged))
    again = TraceStore(tmp_path / "traces", settings)
    assert set(again.by_uetr) == {uetrs[0]} and "fails its checksum" in caplog.text
    assert again.records_of(uetrs[0], again.locations(uetrs[0]))[0][1].body == b"<Document/>"
    again.close()

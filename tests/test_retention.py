"""The duplicate check holds for the whole retention window, in bounded memory (rail/settlement/payment_book.py).

A resend gets its original answer however long ago the payment was packed, across restarts; a payment leaves
only when its window has passed, never to make room (beyond the limit new payments are refused); replay rebuilds
the same book; and a retained payment costs well under 1 KB of memory.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
import uuid

import msgspec
from test_rail_e2e import A_IBAN, B_IBAN, BANK_A, BANK_B, credit_transfer, creditor_answer, payment_return

from rail import iso20022
from rail.api.service import RailService
from rail.scheme import default_scheme
from rail.settlement import payment_book
from rail.settlement.core import replay_batch
from rail.settlement.journal import FileJournal
from rail.settlement.payments import CreditTransfer, Settlement

XML = "application/xml"
MEMORY_PAYMENTS = 100_000
MEMORY_BYTES_PER_PAYMENT_MAX = 1_024


async def open_rail(data, **params) -> RailService:
    service = await RailService.open(data, fsync=False, **params)
    for bic in (BANK_A, BANK_B):
        await service.add_participant(bic, bic)
    await service.liquidity(BANK_A, 1_000_000, "in")
    return service


async def send(service: RailService, bic: str, message):
    reply = await service.submit(bic, iso20022.encode(message, "xml"), XML)
    return reply.status, iso20022.decode(reply.body, reply.content_type).message.tx


async def settle(service: RailService, amount_paisa: int = 10_000):
    payment = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, amount_paisa)
    await send(service, BANK_A, payment)
    status, tx = await send(service, BANK_B, creditor_answer(payment, BANK_B, "ACSP"))
    assert (status, tx.tx_sts) == (200, "ACSC")
    return payment


async def next_batch(service: RailService) -> None:
    """One more journaled batch: the book packs and ages at the start of each."""
    await service.ack(BANK_A, 0)


def answer_fields(tx) -> tuple:
    return (tx.tx_sts, tx.sts_rsn_cd, tx.orgnl_uetr, tx.orgnl_tx_id, tx.accptnc_dt_tm, tx.clr_sys_ref,
            tx.fctv_intr_bk_sttlm_dt)  # fmt: skip


async def test_a_packed_payment_still_gets_its_original_answer_across_a_restart(tmp_path, monkeypatch):
    monkeypatch.setattr(payment_book, "COMPACT_AFTER_S", 0.0)
    service = await open_rail(tmp_path)
    try:
        settled = await settle(service)
        _, first_answer = await send(service, BANK_A, settled)
        # Rejected for want of funds: a resend must get AM04 again, even once the funds are there.
        poor = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 10**9)
        status, rejected = await send(service, BANK_A, poor)
        assert (status, rejected.sts_rsn_cd) == (422, "AM04")
        await next_batch(service)
        book = service.core._settlement.payments
        assert {settled.tx.uetr, poor.tx.uetr} <= set(book.final) and not book.live
    finally:
        await service.close()
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.liquidity(BANK_A, 10**10, "in")
        status, again = await send(service, BANK_A, settled)
        assert status == 200 and answer_fields(again) == answer_fields(first_answer)
        status, again = await send(service, BANK_A, poor)
        assert (status, again.tx_sts, again.sts_rsn_cd) == (422, "RJCT", "AM04")  # never paid on a resend
        view = await service.payment(BANK_B, settled.tx.uetr)
        assert view["status"] == "ACSC" and [e["event"] for e in view["history"]][-1] == "ACSC"
        # A return unpacks it, changes it, and it is packed again later: nothing is lost on the way.
        status, returned = await send(service, BANK_B, payment_return(settled, BANK_B, 4_000))
        assert (status, returned.tx_sts) == (200, "ACSC")
        await next_batch(service)
        assert (await service.payment(BANK_A, settled.tx.uetr))["returned_paisa"] == 4_000
        assert settled.tx.uetr in service.core._settlement.payments.final
    finally:
        await service.close()


async def test_a_payment_leaves_only_when_its_window_has_passed(tmp_path, monkeypatch):
    monkeypatch.setattr(payment_book, "COMPACT_AFTER_S", 0.0)
    service = await open_rail(tmp_path, retention_days=1.5 / 86_400, return_window_s=0)
    try:
        settled = await settle(service)
        book = service.core._settlement.payments
        await next_batch(service)
        assert settled.tx.uetr in book and book.forgotten == 0
        await asyncio.sleep(1.6)  # past the window
        await next_batch(service)
        await next_batch(service)
        assert settled.tx.uetr not in book and book.forgotten == 1
        assert book.uetr_of(BANK_A, settled.tx.tx_id) is None
    finally:
        await service.close()


async def test_beyond_the_retention_limit_new_payments_are_refused_not_old_ones_forgotten(tmp_path):
    service = await open_rail(tmp_path, payments_retained_max=3)
    try:
        kept = [await settle(service) for _ in range(3)]
        refused = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 10_000)
        reply = await service.submit(BANK_A, iso20022.encode(refused, "xml"), XML)
        answer = iso20022.decode(reply.body, reply.content_type).message
        assert (
            reply.status == 503
            and reply.headers["Retry-After"]
            and "duplicate-check window" in answer.rsn_desc
        )
        for payment in kept:  # every one of them still answers as itself
            status, tx = await send(service, BANK_A, payment)
            assert (status, tx.tx_sts) == (200, "ACSC")
    finally:
        await service.close()


async def test_replay_rebuilds_exactly_the_book_the_live_rail_had(tmp_path, monkeypatch):
    """Packing and forgetting happen at the start of journaled batches, with the batch's time: replaying the
    journal from the first batch gives the same book, byte for byte."""
    monkeypatch.setattr(payment_book, "COMPACT_AFTER_S", 0.0)
    service = await open_rail(tmp_path, retention_days=0.5 / 86_400, return_window_s=0)
    try:
        for _ in range(3):
            await settle(service)
        await asyncio.sleep(0.6)
        await next_batch(service)  # the first three are forgotten here
        for _ in range(2):
            await settle(service)
        await next_batch(service)
        book = service.core._settlement.payments
        assert book.forgotten == 3 and len(book.final) == 2
        live = msgspec.msgpack.encode(book.to_state())
    finally:
        await service.close()
    settlement = Settlement(default_scheme())
    with FileJournal.open(tmp_path / "journal") as journal:
        for _seq, records in journal.replay(0):
            replay_batch(settlement, records)
    assert msgspec.msgpack.encode(settlement.payments.to_state()) == live


def test_a_retained_payment_costs_well_under_1_kb_of_memory():
    """RSS of a fresh process over 100,000 settled payments (3 KB messages each), measured after they were
    packed; a generous bound on what tracemalloc and bench/soak.py put at about 0.65 KB."""
    result = subprocess.run(
        [sys.executable, __file__, str(MEMORY_PAYMENTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    bytes_per_payment = float(result.stdout.split()[0])
    assert 0 < bytes_per_payment < MEMORY_BYTES_PER_PAYMENT_MAX, result.stdout


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def _measure(payments: int) -> float:
    """Bytes of RSS per retained payment, driving the state machine as the core does."""
    settlement = Settlement(default_scheme())
    clock = time.time_ns()
    settlement.apply_genesis(clock)
    debtor, creditor = (bank.bic for bank in settlement.scheme.banks[:2])
    message = b"<Document>" + b"x" * 3_000

    def run(count: int, start: int) -> None:
        nonlocal clock
        for i in range(start, start + count):
            uetr = str(uuid.uuid4())
            ct = CreditTransfer(uetr, f"TX{i:020d}", f"MSG{i:020d}", f"E2E{i:020d}", debtor, debtor, creditor,
                                10_000 + i, A_IBAN, B_IBAN, 0)  # fmt: skip
            clock += 1_000_000
            settlement.begin_batch(clock)
            settlement.apply_credit_transfer(debtor, "xml", ct, bytes(message), clock)
            settlement.apply_creditor_status(creditor, uetr, "ACSP", None, None, clock)
            settlement.finalised.clear()
            settlement.armed.clear()
            for inbox in (settlement.inboxes[debtor], settlement.inboxes[creditor]):
                inbox.ack(inbox.next_seq)
                inbox.publish()
        clock += int((payment_book.COMPACT_AFTER_S + 1) * 1e9)
        settlement.begin_batch(clock)

    run(20_000, 0)  # warm up: allocator arenas, dict tables
    gc.collect()
    before = _rss_bytes()
    run(payments, 20_000)
    gc.collect()
    assert not settlement.payments.live
    return (_rss_bytes() - before) / payments


if __name__ == "__main__":
    print(_measure(int(sys.argv[1])))

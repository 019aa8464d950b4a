"""No answer says more than the disk knows, even when pipelined batches race; a failing disk answers 503.

A gated journal lets each test decide when a batch becomes durable, so the race the pipeline allows (batch N+1
applied in memory while batch N syncs) happens every time, not by luck. At the moment an answer is released, a
copy of the data directory is recovered as a restart would: the answer must be what that restart shows.
"""

from __future__ import annotations

import asyncio
import errno
import shutil
from pathlib import Path

import aiohttp
from test_rail_e2e import A_IBAN, B_IBAN, BANK_A, BANK_B, credit_transfer, creditor_answer

from rail import iso20022
from rail.api.listener import Listener
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.iso20022 import Pacs028, StsReqTxInf
from rail.scheme import default_scheme
from rail.settlement.commands import Ack
from rail.settlement.core import load_settlement
from rail.settlement.journal import FileJournal

ROUNDS = 10
FUNDS_PAISA = 100_000_000


class GatedJournal(FileJournal):
    """A file journal whose batches wait for the test's permission before they are written."""

    calls = 0  # appends asked for (= batches applied by the core)
    allowed = 10**9  # appends allowed to proceed; open until `close_gate`
    _condition: asyncio.Condition | None = None

    async def append(self, records: list) -> int:
        index = self.calls
        self.calls += 1
        seq, payload = self._prepare(records)  # the sequence is taken in call order, as the core needs
        if self._condition is None:
            self._condition = asyncio.Condition()
        async with self._condition:
            await self._condition.wait_for(lambda: self.allowed > index)
        await self._writer.run_async(self._write, seq, payload)
        return seq

    def close_gate(self) -> None:
        self.allowed = self.calls

    async def open_gate(self) -> None:
        await self.release(10**9 - self.allowed)

    async def release(self, batches: int = 1) -> None:
        self.allowed += batches
        if self._condition is not None:
            async with self._condition:
                self._condition.notify_all()

    async def applied(self, batches: int) -> None:
        """Wait until the core has applied (and asked to journal) `batches` more batches than allowed."""
        for _ in range(500):
            if self.calls >= self.allowed + batches:
                return
            await asyncio.sleep(0.002)
        raise AssertionError(f"core applied {self.calls - self.allowed} of {batches} batches")


async def close_rail(service: RailService, journal: GatedJournal) -> None:
    await journal.open_gate()  # a test that failed mid-race must not leave batches waiting at the gate
    await service.close()


async def open_rail(data: Path) -> tuple[RailService, GatedJournal]:
    journal = GatedJournal.open(data / "journal", identity_file=data / "journal.id")
    service = await RailService.open(data, journal=journal, creditor_timeout_ms=60_000)
    for bic in (BANK_A, BANK_B):
        await service.add_participant(bic, bic)
        await service.liquidity(bic, FUNDS_PAISA, "in")
    return service, journal


def status_at_restart(data: Path, tmp: Path, uetr: str) -> str:
    """What a restart from the disk as it is now would show for `uetr` (a copy, recovered)."""
    copy = tmp / "restart"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(data, copy)
    (copy / "journal" / "LOCK").unlink()
    with FileJournal.open(copy / "journal", identity_file=copy / "journal.id") as journal:
        settlement, _, _ = load_settlement(journal, default_scheme())
    return settlement.payments[uetr].status


def tx_status(reply) -> str:
    return iso20022.decode(reply.body, reply.content_type).message.tx.tx_sts


async def test_acwp_answers_never_carry_a_status_that_is_not_durable(tmp_path):
    """The issue's race: ACWP answered when its batch is durable, while ACSP's batch is applied but not yet:
    7 of 150 answers came back 202 with an ACSC body. 0 of ROUNDS may."""
    service, journal = await open_rail(tmp_path)
    try:
        for _ in range(ROUNDS):
            payment = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 10_000)
            reply = await service.submit(BANK_A, iso20022.encode(payment, "xml"), "application/xml")
            assert (reply.status, tx_status(reply)) == (202, "ACTC")
            journal.close_gate()
            acwp = asyncio.create_task(service.submit(BANK_B, iso20022.encode(creditor_answer(payment, BANK_B, "ACWP"), "xml"), "application/xml"))  # fmt: skip
            await journal.applied(1)
            acsp = asyncio.create_task(service.submit(BANK_B, iso20022.encode(creditor_answer(payment, BANK_B, "ACSP"), "xml"), "application/xml"))  # fmt: skip
            await journal.applied(2)  # ACSP settled it in memory; its batch waits at the gate
            await journal.release(1)
            reply = await asyncio.wait_for(acwp, 5)
            assert (reply.status, tx_status(reply)) == (202, "PDNG")  # rendered now, with ACSC in memory
            assert status_at_restart(tmp_path, tmp_path, payment.tx.uetr) == "ACTC"
            await journal.release(1)
            reply = await asyncio.wait_for(acsp, 5)
            assert (reply.status, tx_status(reply)) == (200, "ACSC")
            assert status_at_restart(tmp_path, tmp_path, payment.tx.uetr) == "ACSC"
            await journal.open_gate()
    finally:
        await close_rail(service, journal)


def status_request(payment) -> Pacs028:
    return Pacs028(
        msg_id="STS" + payment.tx.tx_id,
        cre_dt_tm=payment.cre_dt_tm,
        tx_inf=[
            StsReqTxInf(
                orgnl_msg_id=payment.msg_id,
                orgnl_msg_nm_id="pacs.008.001.08",
                orgnl_end_to_end_id=payment.tx.end_to_end_id,
                orgnl_tx_id=payment.tx.tx_id,
                orgnl_uetr=payment.tx.uetr,
            )
        ],
    )


async def test_status_query_and_balances_answer_only_durable_state(tmp_path):
    service, journal = await open_rail(tmp_path)
    try:
        payment = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 10_000)
        await service.submit(BANK_A, iso20022.encode(payment, "xml"), "application/xml")
        journal.close_gate()
        query = asyncio.create_task(service.submit(BANK_A, iso20022.encode(status_request(payment), "xml"), "application/xml"))  # fmt: skip
        await asyncio.sleep(0)  # the status query is queued; an acknowledgement joins it in the same batch
        service.core.execute(Ack(bic=BANK_A, upto=0))
        await journal.applied(1)
        acsp = asyncio.create_task(service.submit(BANK_B, iso20022.encode(creditor_answer(payment, BANK_B, "ACSP"), "xml"), "application/xml"))  # fmt: skip
        await journal.applied(2)
        await journal.release(1)
        reply = await asyncio.wait_for(query, 5)
        assert (reply.status, tx_status(reply)) == (200, "PDNG")
        assert status_at_restart(tmp_path, tmp_path, payment.tx.uetr) == "ACTC"
        # A balance is read in the core's order too: not before the liquidity ahead of it is durable.
        liquidity = asyncio.create_task(service.liquidity(BANK_A, 5_000, "in"))
        await journal.applied(2)
        balances = asyncio.create_task(service.balances())
        await asyncio.sleep(0.05)
        assert not balances.done() and not liquidity.done()
        await journal.release(2)
        assert (await acsp).status == 200
        posted = (await asyncio.wait_for(balances, 5))["accounts"][BANK_A]["posted_paisa"]
        assert posted == (await liquidity)["posted_paisa"] == FUNDS_PAISA - 10_000 + 5_000
        await journal.open_gate()
    finally:
        await close_rail(service, journal)


async def test_journal_failure_answers_503_everywhere_and_loses_nothing_acknowledged(tmp_path):
    """An injected ENOSPC halfway through a frame (the disk filled up): the partial frame is taken back, the
    failed batch is answered 503, every route then answers 503 (never 500), and after a restart every
    acknowledged payment is there."""
    service, journal = await open_rail(tmp_path)
    server = Listener(RailApi(service))
    await server.start()
    url = server.url
    tokens = {bic: await service.add_participant(bic, bic) for bic in (BANK_A, BANK_B)}
    write_all = journal._write_all
    writes = []

    def disk_fills_up(parts: list[bytes]) -> None:
        writes.append(1)
        if len(writes) <= 3:
            return write_all(parts)
        raw = b"".join(parts)
        write_all([raw[: len(raw) // 2]])
        raise OSError(errno.ENOSPC, "No space left on device")

    journal._write_all = disk_fills_up
    acknowledged = []
    try:
        async with aiohttp.ClientSession() as session:
            auth = {"Authorization": f"Bearer {tokens[BANK_A]}", "Content-Type": "application/xml"}
            for _ in range(5):
                payment = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 10_000)
                async with session.post(
                    f"{url}/v1/messages", data=iso20022.encode(payment, "xml"), headers=auth
                ) as r:
                    if r.status == 202:
                        acknowledged.append(payment.tx.uetr)
                    else:
                        assert r.status == 503 and r.headers["Retry-After"]
            assert 1 <= len(acknowledged) < 5
            admin = {"Authorization": f"Bearer {service.admin_token}"}
            for method, path, body, headers in (
                ("GET", "/admin/balances", None, admin),
                ("POST", "/admin/liquidity", {"bic": BANK_A, "amount": 1, "direction": "in"}, admin),
                ("POST", "/admin/participants", {"bic": "LATEPKKA", "name": "late"}, admin),
                ("GET", f"/v1/payments/{acknowledged[0]}", None, auth),
                ("POST", "/v1/aliases", {"alias": "03001234567", "iban": A_IBAN, "name": "x"}, auth),
                ("POST", "/v1/inbox/ack", {"upto": 1}, auth),
                ("GET", "/v1/inbox?ack=1", None, auth),
                ("GET", "/healthz", None, None),
            ):
                async with session.request(method, url + path, json=body, headers=headers) as r:
                    assert r.status == 503, (method, path, r.status, await r.text())
    finally:
        await server.close()
        await service.close()
    reopened = FileJournal.open(tmp_path / "journal", identity_file=tmp_path / "journal.id")
    assert reopened.truncated_bytes == 0  # the half-written frame was taken back at once
    service = await RailService.open(tmp_path, journal=reopened)
    try:
        for uetr in acknowledged:
            assert (await service.payment(BANK_A, uetr))["status"] == "ACTC"
    finally:
        await service.close()

"""The sandbox's built-in counterparties are the one simulated bank (participants/bank.py) over the in-process
transport. Their messages reach the rail as structs (RailService.dispatch: only the wire half is skipped), so
every message they build must be exactly what the RAAST profile accepts from any bank; and the payment must
settle."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from test_iso_codec import assert_xsd_valid
from test_rail_e2e import A_IBAN, BANK_A, credit_transfer

from participants.bank import Acknowledge, BankBehaviour, SimulatedBank
from participants.codec import Iso20022Codec, PeekedPacs008
from participants.creditor import TestAccountTable
from participants.sandbox import start_sandbox_banks
from participants.transport import InProcessTransport
from rail import iso20022
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.scheme import TEST_ACCOUNTS, default_scheme

REASONS = sorted({t.reason for t in TEST_ACCOUNTS if t.kind == "reject"})
CODEC = Iso20022Codec("json")


@pytest.mark.parametrize(("status", "reason"), [("ACSP", None)] + [("RJCT", reason) for reason in REASONS])
def test_a_simulated_creditor_answer_passes_the_raast_profile(status, reason):
    scheme = default_scheme()
    creditor = scheme.banks[1]
    payment = credit_transfer(BANK_A, creditor.bic, A_IBAN, creditor.customers[0].iban, 12_345)
    tx = payment.tx
    peeked = PeekedPacs008(payment.msg_id, tx.instr_id or "", tx.end_to_end_id, tx.tx_id or "", tx.uetr,
                           tx.dbtr_agt_bicfi)
    known = {bank.bic for bank in scheme.banks} | {BANK_A}
    for original in (payment, peeked):  # from the in-process struct, and from ids peeked out of XML
        report = CODEC.pacs002_answer(original, from_bic=creditor.bic, status=status, reason=reason)
        assert iso20022.validate(report, iso20022.RAAST_PROFILE, known) == []
        # ...and it reads back from its JSON rendering the same as a bank's bytes would.
        decoded = iso20022.decode(iso20022.encode(report, "json"), "application/json").message
        assert (decoded.tx.tx_sts, decoded.tx.sts_rsn_cd, decoded.tx.orgnl_uetr) == (status, reason, tx.uetr)


async def test_a_payment_to_a_simulated_bank_settles_through_its_dispatched_answer(tmp_path):
    service = await RailService.open(tmp_path, sandbox_accept_delay_ms_min=1, sandbox_accept_delay_ms_max=2)
    try:
        await start_sandbox_banks(service)
        await service.add_participant(BANK_A, "A")
        await service.liquidity(BANK_A, 1_000_000, "in")
        creditor = service.scheme.bank("MEZNPKKA")
        payment = credit_transfer(BANK_A, creditor.bic, A_IBAN, creditor.customers[0].iban, 4_321)
        reply = await service.submit(BANK_A, iso20022.encode(payment, "json"), "application/json", wait_s=5)
        answer = iso20022.decode(reply.body, reply.content_type).message
        assert (reply.status, answer.tx.tx_sts) == (200, "ACSC")
        assert (await service.balances())["conserved"] is True
    finally:
        await service.close()


def _view(payment) -> dict:
    """The rail's view of a settled payment, as GET /v1/payments/{uetr} shows it to its creditor agent."""
    tx = payment.tx
    return {"uetr": tx.uetr, "msg_id": payment.msg_id, "end_to_end_id": tx.end_to_end_id, "tx_id": tx.tx_id,
            "amount_paisa": tx.amount_paisa, "returned_paisa": 0, "debtor_agent": tx.dbtr_agt_bicfi,
            "debtor_iban": tx.dbtr_acct_iban, "creditor_iban": tx.cdtr_acct_iban}


def test_every_message_the_simulated_bank_builds_passes_the_profile_and_the_xsd():
    """Handed to the rail as structs in process (no profile check on the way in), so each must be valid."""
    scheme = default_scheme()
    creditor = scheme.banks[1]
    known = {bank.bic for bank in scheme.banks} | {BANK_A}
    payment = credit_transfer(BANK_A, creditor.bic, A_IBAN, creditor.customers[0].iban, 12_345)
    recall = CODEC.recall(payment, msg_id="TESTPKKA0000000000000001")
    request = CODEC.request_to_pay(msg_id="TESTPKKA0000000000000002", end_to_end_id="INV-1", uetr=payment.tx.uetr,
                                   amount_paisa=4_500, payee_bic=BANK_A, payee_name="Shop", payee_iban=A_IBAN,
                                   payer_bic=creditor.bic, payer_name="Payer", payer_iban=creditor.customers[1].iban)
    messages = {
        "pacs.004.001.09": CODEC.payment_return(_view(payment), msg_id="M1", from_bic=creditor.bic,
                                                amount_paisa=12_345),
        "camt.029.001.09": CODEC.recall_refusal(recall, msg_id="M2", from_bic=creditor.bic, reason="CUST"),
        "pain.014.001.07": CODEC.request_to_pay_answer(request, msg_id="M3", from_bic=creditor.bic, reason=None),
        "pacs.008.001.08": CODEC.payment_for_request(request, msg_id="M4", uetr=str(uuid.uuid4()),
                                                     from_bic=creditor.bic),
        "pacs.028.001.03": CODEC.status_request(payment, msg_id="M5", from_bic=BANK_A),
        "camt.056.001.08": recall,
        "pain.013.001.07": request,
    }
    for msg_type, message in messages.items():
        assert iso20022.validate(message, iso20022.RAAST_PROFILE, known) == [], msg_type
        assert_xsd_valid(iso20022.encode(message, "xml"), msg_type)
    rejected = CODEC.request_to_pay_answer(request, msg_id="M6", from_bic=creditor.bic, reason="AC04")
    assert (rejected.tx.tx_sts, rejected.tx.sts_rsn_cd) == ("RJCT", "AC04")


async def test_a_default_bank_registered_from_outside_stops_being_simulated_for_good(tmp_path):
    service = await RailService.open(tmp_path, fsync=False)
    try:
        sandbox = await start_sandbox_banks(service)
        assert set(sandbox.banks) == {bank.bic for bank in service.scheme.banks}
        await service.add_participant("MEZNPKKA", "Meezan, driven by its own client")
        assert "MEZNPKKA" not in sandbox.banks  # stood down before the token was returned
    finally:
        await service.close()
    reopened = await RailService.open(tmp_path, fsync=False)
    try:
        assert "MEZNPKKA" not in (await start_sandbox_banks(reopened)).banks  # journaled: still an outside client
    finally:
        await reopened.close()


async def test_a_bank_asks_the_rail_pacs028_about_a_payment_whose_final_status_never_reached_it(tmp_path):
    """Its inbox is not read here (webhook delivery, no hook): the status request is how it learns the outcome."""
    service = await RailService.open(tmp_path, fsync=False, sandbox_accept_delay_ms_min=1,
                                     sandbox_accept_delay_ms_max=2)
    finals: dict[str, str] = {}
    debtor = service.scheme.bank("HABBPKKA")
    try:
        await start_sandbox_banks(service)
        await service.add_participant(debtor.bic, debtor.name)
        bank = SimulatedBank(debtor.bic, debtor.name, debtor.customers, InProcessTransport(RailApi(service), debtor.bic),
                             Iso20022Codec("xml"), BankBehaviour(delivery="webhook", status_request_after_s=0.2),
                             on_final=lambda uetr, status, reason: finals.__setitem__(uetr, status))
        bank.start()
        creditor = service.scheme.bank("MEZNPKKA").customers[0]
        uetr = str(uuid.uuid4())
        assert (await bank.pay(uetr, 7_000, 0, "MEZNPKKA", creditor.name, creditor.iban)).status == "ACTC"
        for _ in range(60):
            if finals:
                break
            await asyncio.sleep(0.05)
        assert finals == {uetr: "ACSC"} and bank.outgoing[uetr].status_requests >= 1
        await bank.stop()
    finally:
        await service.close()


async def test_a_bank_acknowledging_after_answering_loses_nothing_when_it_crashes(tmp_path):
    """Killed between fetching a payment and answering it, the next instance gets it again and answers."""
    service = await RailService.open(tmp_path, fsync=False, creditor_timeout_ms=5_000)
    creditor = service.scheme.bank("MEZNPKKA")
    behaviour = BankBehaviour(acknowledge=Acknowledge.AFTER_ANSWER, inbox_wait_s=0.2)
    slow = TestAccountTable(accept_delay_ms_min=400, accept_delay_ms_max=400)

    def instance() -> SimulatedBank:
        return SimulatedBank(creditor.bic, creditor.name, creditor.customers,
                             InProcessTransport(RailApi(service), creditor.bic), Iso20022Codec("json"), behaviour,
                             policy=slow)

    try:
        await service.add_participant(creditor.bic, creditor.name)
        await service.add_participant(BANK_A, "A")
        await service.liquidity(BANK_A, 1_000_000, "in")
        first = instance()
        first.start()
        payment = credit_transfer(BANK_A, creditor.bic, A_IBAN, creditor.customers[0].iban, 3_000)
        await service.submit(BANK_A, iso20022.encode(payment, "json"), "application/json")
        for _ in range(40):
            if first.inbound:
                break
            await asyncio.sleep(0.02)
        assert first.inbound and first.counters["answered_accept"] == 0
        await first.stop(graceful=False)  # a crash: no answer, no acknowledgement
        second = instance()
        second.start()
        reply = await service.submit(BANK_A, iso20022.encode(payment, "json"), "application/json", wait_s=3)
        assert iso20022.decode(reply.body, reply.content_type).message.tx.tx_sts == "ACSC"
        assert second.counters["answered_accept"] == 1
        await second.stop()
    finally:
        await service.close()

"""The in-rail simulated banks' answer to a payment skips only the wire half (it is handed to RailService.dispatch
as a struct): it must be exactly what the RAAST profile accepts from any bank, and the payment must settle."""

from __future__ import annotations

import pytest
from test_rail_e2e import A_IBAN, BANK_A, credit_transfer

from rail import iso20022
from rail.sandbox_banks import creditor_status_report
from rail.scheme import TEST_ACCOUNTS, default_scheme
from rail.service import RailService

REASONS = sorted({t.reason for t in TEST_ACCOUNTS if t.kind == "reject"})


@pytest.mark.parametrize(("status", "reason"), [("ACSP", None)] + [("RJCT", reason) for reason in REASONS])
def test_a_simulated_creditor_answer_passes_the_raast_profile(status, reason):
    scheme = default_scheme()
    creditor = scheme.banks[1]
    payment = credit_transfer(BANK_A, creditor.bic, A_IBAN, creditor.customers[0].iban, 12_345)
    report = creditor_status_report(creditor.bic, payment, status, reason)
    known = {bank.bic for bank in scheme.banks} | {BANK_A}
    assert iso20022.validate(report, iso20022.RAAST_PROFILE, known) == []
    # ...and it reads back from its JSON rendering the same as a bank's bytes would.
    decoded = iso20022.decode(iso20022.encode(report, "json"), "application/json").message
    assert (decoded.tx.tx_sts, decoded.tx.sts_rsn_cd, decoded.tx.orgnl_uetr) == (
        status,
        reason,
        payment.tx.uetr,
    )


async def test_a_payment_to_a_simulated_bank_settles_through_its_dispatched_answer(tmp_path):
    service = await RailService.open(tmp_path, sandbox_accept_delay_ms_min=1, sandbox_accept_delay_ms_max=2)
    try:
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

"""Amounts at and past the rail's one maximum, at every entry: a 4xx with a reason, never a 500, never applied.

The maximum is rail.money.AMOUNT_MAX_PAISA; balances stay signed 64-bit integers because issuance is bounded by
MONEY_ISSUED_MAX_PAISA. Before this, a liquidity of 2**63 answered 200 and /admin/balances answered 500 for
ever after; 2**64-1 answered 500 with the credit applied.
"""

from __future__ import annotations

import msgspec
import pytest
from test_rail_e2e import (  # noqa: F401 - `rail` is the fixture
    A_IBAN,
    B_IBAN,
    BANK_A,
    BANK_B,
    PREFUND_PAISA,
    Rail,
    _settled_a_to_b,
    credit_transfer,
    payment_return,
    rail,
    recall,
    request_to_pay,
)

from rail import iso20022
from rail.api.service import RailService
from rail.money import AMOUNT_MAX_PAISA, MONEY_ISSUED_MAX_PAISA
from rail.scheme import default_scheme
from rail.settlement.payments import Settlement

OVER = [AMOUNT_MAX_PAISA + 1, 2**63, 2**64 - 1, 2**64, 10**30]


async def liquidity(env: Rail, amount, bic: str = BANK_A) -> tuple[int, dict]:
    async with env.session.post(
        f"{env.url}/admin/liquidity",
        json={"bic": bic, "amount": amount, "direction": "in"},
        headers=env.admin(),
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_liquidity_at_the_maximum_is_taken_and_past_it_refused_with_a_reason(rail: Rail, tmp_path):  # noqa: F811 - the fixture
    status, body = await liquidity(rail, AMOUNT_MAX_PAISA)
    assert status == 200 and body["posted_paisa"] == PREFUND_PAISA + AMOUNT_MAX_PAISA
    for amount in [*OVER, 0, -5, 1.5, "100", True, None]:
        status, body = await liquidity(rail, amount)
        assert 400 <= status < 500, (amount, status, body)
        if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
            # (a JSON number past 64 bits reaches the rail as a float: "must be an integer")
            assert "exceeds the rail's maximum" in body["detail"] or "integer" in body["detail"], body
    balances = await rail.balances()
    assert (
        balances["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA + AMOUNT_MAX_PAISA
    )  # nothing else applied
    assert balances["conserved"] is True


def test_issuance_is_bounded_so_every_balance_stays_a_signed_64_bit_integer():
    scheme = default_scheme()
    settlement = Settlement(scheme)
    settlement.apply_genesis(1)
    issued = sum(bank.prefund_paisa for bank in scheme.banks)
    taken = 0
    while settlement.apply_liquidity("HABBPKKA", AMOUNT_MAX_PAISA, "in", 2).kind == "done":
        taken += 1
    refused = settlement.apply_liquidity("HABBPKKA", AMOUNT_MAX_PAISA, "in", 3)
    assert (refused.reason, taken) == ("AM02", (MONEY_ISSUED_MAX_PAISA - issued) // AMOUNT_MAX_PAISA)
    balances = settlement.balances()
    assert balances["conserved"] is True
    assert -MONEY_ISSUED_MAX_PAISA <= sum(a["posted_paisa"] for a in balances["accounts"].values()) <= 0
    assert max(a["posted_paisa"] for a in balances["accounts"].values()) <= MONEY_ISSUED_MAX_PAISA < 2**63


@pytest.mark.parametrize("rendering", ["xml", "json"])
async def test_payment_amounts_past_the_maximum_are_refused_am02_and_never_applied(rail: Rail, rendering):  # noqa: F811 - the fixture
    before = await rail.balances()
    for amount in OVER:
        message = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, amount)
        status, answer, _ = await rail.send(BANK_A, message, rendering)
        # Refused by the decoder (its lexical rules) or by the profile (AM02, with the element path); never 5xx.
        assert status in (400, 422), (amount, status)
        if status == 422:
            assert answer.tx.sts_rsn_cd == "AM02" and "IntrBkSttlmAmt" in answer.tx.sts_rsn_addtl_inf
        assert (await rail.payment(BANK_A, message.tx.uetr))[0] == 404
    assert await rail.balances() == before


async def test_return_recall_and_request_to_pay_amounts_past_the_maximum_are_refused(rail: Rail):  # noqa: F811 - the fixture
    original = await _settled_a_to_b(rail, 40_000)
    too_much = payment_return(original, BANK_B, 10**25)
    status, answer, _ = await rail.send(BANK_B, too_much)
    assert status in (400, 422) and (status == 400 or answer.tx.sts_rsn_cd == "AM02")
    quoted = recall(original, BANK_A, BANK_B)
    quoted = msgspec.structs.replace(
        quoted, tx_inf=[msgspec.structs.replace(quoted.tx, orgnl_amount_paisa=10**25)]
    )
    status, _, _ = await rail.send(BANK_A, quoted)
    assert status in (400, 422)
    status, _, _ = await rail.send(BANK_A, request_to_pay(BANK_A, BANK_B, 10**25))
    assert status in (400, 422)
    accounts = (await rail.balances())["accounts"]
    assert accounts[BANK_B]["posted_paisa"] == PREFUND_PAISA + 40_000  # no return moved money


def test_profile_refuses_every_amount_field_past_the_maximum_whatever_the_decoder_gives():
    """The codec's lexical rules may change (totalDigits 18 allows amounts above the maximum); the profile
    holds the line for each amount field on its own."""
    original = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 1_000)
    known = {BANK_A, BANK_B}
    over = AMOUNT_MAX_PAISA + 1
    cases = {
        "CdtTrfTxInf/IntrBkSttlmAmt": msgspec.structs.replace(
            original, cdt_trf_tx_inf=[msgspec.structs.replace(original.tx, amount_paisa=over)]
        ),
        "TxInf/OrgnlIntrBkSttlmAmt": _with_tx(payment_return(original, BANK_B, 500), orgnl_amount_paisa=over),
        "TxInf/RtrdIntrBkSttlmAmt": _with_tx(payment_return(original, BANK_B, over)),
        "Undrlyg/TxInf/OrgnlIntrBkSttlmAmt": _with_tx(
            recall(original, BANK_A, BANK_B), orgnl_amount_paisa=over
        ),
        "PmtInf/CdtTrfTx/Amt/InstdAmt": request_to_pay(BANK_A, BANK_B, over),
    }
    for path, message in cases.items():
        codes = {(v.code, v.path) for v in iso20022.validate(message, iso20022.RAAST_PROFILE, known)}
        assert any(code == "AM02" and p.endswith(path.split("/", 1)[-1]) for code, p in codes), (path, codes)


def _with_tx(message, **fields):
    return msgspec.structs.replace(message, tx_inf=[msgspec.structs.replace(message.tx_inf[0], **fields)])


async def test_balances_answer_after_a_restart_too(tmp_path):
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.add_participant(BANK_A, "A")
        with pytest.raises(ValueError, match="maximum"):
            await service.liquidity(BANK_A, 2**64 - 1, "in")
        assert (await service.liquidity(BANK_A, AMOUNT_MAX_PAISA, "in"))["ok"] is True
    finally:
        await service.close()
    service = await RailService.open(tmp_path, fsync=False)
    try:
        balances = await service.balances()
        assert balances["accounts"][BANK_A]["posted_paisa"] == AMOUNT_MAX_PAISA and balances["conserved"]
    finally:
        await service.close()

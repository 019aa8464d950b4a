"""The corridor lab's domestic leg: real RAAST payments through a rail in this process.

A rail (rail.api.service.RailService) opens in a temporary directory with the default scheme's banks plus the
participants the routes pay out from (an instant link's FX provider, an exchange off-ramp), each run as the one
simulated bank (participants/bank.py) over the in-process transport, answering as creditor by the scheme's
test-account table. A route's domestic leg is a pacs.008 from its payer bank to the beneficiary's bank: the
rail settles or rejects it exactly as it would any participant's payment, and its own record of the payment
(received -> final) is the leg's time. A beneficiary whose account its bank rejects is one of the scheme's
test accounts (AC01, AC04, AC06), so the RJCT comes from the rail and the bank, not from the lab.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import defaultdict

from analytics.corridor.model import DomesticResult, RailCheck, Remittance
from participants.bank import SimulatedBank
from participants.codec import Iso20022Codec
from participants.creditor import TestAccountTable
from participants.remittance import REMITTANCE_DEBTOR_EXPONENT, bank_weights
from participants.sandbox import SANDBOX_BEHAVIOUR
from participants.transport import InProcessTransport
from participants.treasury import posted_balance_paisa
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.scheme import (
    DEFAULT_BANKS,
    DEFAULT_PREFUND_PAISA,
    REGULAR_CUSTOMERS_PER_BANK,
    TEST_ACCOUNTS,
    Bank,
    Scheme,
    bank_customers,
    default_scheme,
)

FINAL_WAIT_S = 30.0  # the scheme's hard stop is 20 s: every payment is final well before this
_SUFFIX_OF = {t.reason: t.suffix for t in TEST_ACCOUNTS if t.kind == "reject"}


def lab_scheme(extra: list[tuple[str, str]]) -> Scheme:
    """The default scheme plus the routes' own payout participants (prefunded like a bank, so the run measures
    their need instead of running dry)."""
    scheme = default_scheme()
    banks = list(scheme.banks)
    for index, (bic, name) in enumerate(extra, start=len(banks)):
        banks.append(Bank(bic=bic, name=name, bank_code=bic[:4], prefund_paisa=DEFAULT_PREFUND_PAISA,
                          customers=bank_customers(index, bic[:4])))
    return Scheme(scheme.central_bank_bic, scheme.central_bank_name, scheme.currency, banks, scheme.params)


class RaastLeg:
    """The routes' DomesticLeg over a real rail. Open with ``await RaastLeg.open(extra)``; ``close()`` after."""

    def __init__(self, service: RailService, balances_before: dict) -> None:
        self.service = service
        self.api = RailApi(service)
        self.balances_before = balances_before
        self.domestic = [b.bic for b in service.scheme.banks if b.bic in dict(DEFAULT_BANKS)]
        self._weights = bank_weights(len(self.domestic), REMITTANCE_DEBTOR_EXPONENT)
        self._finals: dict[str, asyncio.Future] = {}
        self._moved: dict[str, int] = defaultdict(int)
        self.counts = {"payments": 0, "settled": 0, "rejected": 0, "settled_paisa": 0}
        policy = TestAccountTable.for_scheme(service.scheme.params)
        self.banks = {
            spec.bic: SimulatedBank(spec.bic, spec.name, spec.customers, InProcessTransport(self.api, spec.bic),
                                    Iso20022Codec("json"), SANDBOX_BEHAVIOUR, policy=policy, on_final=self._on_final)
            for spec in service.scheme.banks
        }
        for bank in self.banks.values():
            bank.start()

    @classmethod
    async def open(cls, extra: list[tuple[str, str]]) -> RaastLeg:
        service = await RailService.open(None, scheme=lab_scheme(extra), fsync=True)
        return cls(service, await service.balances())

    async def close(self) -> None:
        for bank in self.banks.values():
            await bank.stop()
        await self.service.close()

    def payout_bank(self, remittance: Remittance, rng: random.Random) -> str:
        """A Pakistani bank that pays remittances out (the larger banks more often), not the beneficiary's."""
        beneficiary = self.domestic[remittance.beneficiary_bank % len(self.domestic)]
        while True:
            bic = rng.choices(self.domestic, self._weights)[0]
            if bic != beneficiary:
                return bic

    def beneficiary(self, remittance: Remittance) -> tuple[str, str, str]:
        """(bank BIC, name, IBAN) of the remittance's beneficiary: the same on every route."""
        bank = self.banks[self.domestic[remittance.beneficiary_bank % len(self.domestic)]]
        if remittance.beneficiary_account == "ok":
            customer = bank.customers[remittance.seq % REGULAR_CUSTOMERS_PER_BANK]
        else:
            suffix = _SUFFIX_OF[remittance.beneficiary_account]
            customer = next(c for c in bank.customers if c.iban.endswith(suffix))
        return bank.bic, customer.name, customer.iban

    def _on_final(self, uetr: str, status: str, reason: str) -> None:
        future = self._finals.get(uetr)
        if future is not None and not future.done():
            future.set_result((status, reason))

    async def pay(self, payer_bic: str, remittance: Remittance, amount_paisa: int, uetr: str) -> DomesticResult:
        creditor_bic, name, iban = self.beneficiary(remittance)
        payer = self.banks[payer_bic]
        final = self._finals[uetr] = asyncio.get_running_loop().create_future()
        try:
            sent = await payer.pay(uetr, amount_paisa, 0, creditor_bic, name, iban)
            if sent.status in ("RJCT", "ACSC"):
                self._on_final(uetr, sent.status, sent.reason)
            status, reason = await asyncio.wait_for(final, FINAL_WAIT_S)
        finally:
            self._finals.pop(uetr, None)
        view = await payer.transport.payment(uetr)
        latency_s = _latency_s(view)
        self._count(payer_bic, creditor_bic, amount_paisa, status)
        return DomesticResult(status, reason, latency_s, uetr)

    def _count(self, payer_bic: str, creditor_bic: str, amount_paisa: int, status: str) -> None:
        self.counts["payments"] += 1
        if status == "ACSC":
            self.counts["settled"] += 1
            self.counts["settled_paisa"] += amount_paisa
            self._moved[payer_bic] -= amount_paisa
            self._moved[creditor_bic] += amount_paisa
        else:
            self.counts["rejected"] += 1

    async def check(self) -> RailCheck:
        """The rail's books against what the lab saw settle (read once everything is final)."""
        await self.service.wait_idle()
        after = await self.service.balances()
        moved, mismatches = {}, []
        for bic in self.banks:
            before_paisa = posted_balance_paisa(self.balances_before, bic)
            after_paisa = posted_balance_paisa(after, bic)
            moved[bic] = (after_paisa or 0) - (before_paisa or 0)
            if moved[bic] != self._moved.get(bic, 0):
                mismatches.append(f"{bic}: the rail moved {moved[bic]} paisa, the lab saw {self._moved.get(bic, 0)}")
        conserved = bool(after.get("conserved"))
        if not conserved:
            mismatches.append("the rail's conservation check is FALSE")
        return RailCheck(conserved, not mismatches, self.counts["payments"], self.counts["settled"],
                         self.counts["rejected"], self.counts["settled_paisa"], moved, mismatches)


def _latency_s(view: dict) -> float:
    """The rail's own time for a payment, from its record: received -> final status."""
    received, final = view.get("received_at"), view.get("final_at")
    if not received or not final:
        return 0.0
    return (dt.datetime.fromisoformat(final) - dt.datetime.fromisoformat(received)).total_seconds()

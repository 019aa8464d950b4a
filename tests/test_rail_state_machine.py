"""The payment state machine against a deliberately simple model, under random interleavings (hypothesis).

Random sequences of payments (some resent, some reusing ids), creditor answers (accept, reject, 'more time',
late), timeouts and returns, applied to `Settlement` exactly as the core applies them. After every step:
the ledger conserves, every settlement account holds what the model says (posted and reserved), a final
status never changes, and every inbox's sequence numbers increase by one.
"""

from __future__ import annotations

import uuid

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rail.scheme import Bank, Scheme, SchemeParams
from rail.settlement.payments import IN_FLIGHT, NS_PER_MS, CreditTransfer, Settlement

BANKS = ("AAAAPKKA", "BBBBPKKA", "CCCCPKKA")
PREFUND_PAISA = 1_000_000


class PaymentModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        banks = [
            Bank(bic=b, name=b, bank_code=b[:4], prefund_paisa=PREFUND_PAISA, customers=[]) for b in BANKS
        ]
        scheme = Scheme(
            central_bank_bic="SBPPPKKA",
            central_bank_name="SBP",
            currency="PKR",
            banks=banks,
            params=SchemeParams(creditor_timeout_ms=100, hard_stop_ms=300),
        )
        self.s = Settlement(scheme)
        self.now_ns = 1_000_000_000
        self.s.apply_genesis(self.now_ns)
        self.posted = {b: PREFUND_PAISA for b in BANKS}
        self.reserved = {b: 0 for b in BANKS}
        self.final: dict[str, str] = {}
        self.uetrs: list[str] = []
        self.tx_counter = 0

    def _tick(self, ms: int = 1) -> int:
        self.now_ns += ms * NS_PER_MS
        return self.now_ns

    @rule(
        debtor=st.sampled_from(BANKS),
        creditor=st.sampled_from(BANKS),
        amount=st.integers(1, 400_000),
        reuse=st.booleans(),
    )
    def pay(self, debtor, creditor, amount, reuse):
        if reuse and self.uetrs:
            payment = self.s.payments[self.uetrs[-1]]
            ct = CreditTransfer(
                payment.uetr,
                payment.tx_id,
                payment.msg_id,
                payment.end_to_end_id,
                payment.instructing_agent,
                payment.debtor_agent,
                payment.creditor_agent,
                payment.amount_paisa,
                payment.debtor_iban,
                payment.creditor_iban,
                0,
            )
            if debtor != payment.debtor_agent:
                return
        else:
            self.tx_counter += 1
            ct = CreditTransfer(
                str(uuid.uuid4()),
                f"TX{self.tx_counter}",
                "M",
                "E",
                debtor,
                debtor,
                creditor,
                amount,
                "PKD",
                "PKC",
                0,
            )
        outcome = self.s.apply_credit_transfer(debtor, "xml", ct, b"", self._tick())
        if outcome.kind == "accepted":
            assert creditor != "SBPPPKKA"
            self.reserved[debtor] += amount
            self.uetrs.append(ct.uetr)
        elif outcome.kind == "duplicate":
            assert reuse
        elif outcome.kind == "rejected" and outcome.payment is not None:
            self.final[ct.uetr] = outcome.status
            if outcome.reason == "AM04":
                assert self.posted[debtor] - self.reserved[debtor] < amount

    @precondition(lambda self: self.uetrs)
    @rule(index=st.integers(0, 10_000), status=st.sampled_from(["ACSP", "ACCP", "RJCT", "ACWP"]))
    def creditor_answers(self, index, status):
        payment = self.s.payments[self.uetrs[index % len(self.uetrs)]]
        was_in_flight = payment.status == IN_FLIGHT
        outcome = self.s.apply_creditor_status(
            payment.creditor_agent, payment.uetr, status, "AC04", None, self._tick()
        )
        if not was_in_flight:
            assert outcome.status == self.final[payment.uetr]  # a late answer changes nothing
            return
        if status in ("ACSP", "ACCP"):
            self.reserved[payment.debtor_agent] -= payment.amount_paisa
            self.posted[payment.debtor_agent] -= payment.amount_paisa
            self.posted[payment.creditor_agent] += payment.amount_paisa
            self.final[payment.uetr] = "ACSC"
        elif status == "RJCT":
            self.reserved[payment.debtor_agent] -= payment.amount_paisa
            self.final[payment.uetr] = "RJCT"

    @precondition(lambda self: self.uetrs)
    @rule(ms=st.integers(1, 400))
    def time_passes(self, ms):
        now_ns = self._tick(ms)
        for uetr in self.uetrs:
            payment = self.s.payments[uetr]
            if payment.status == IN_FLIGHT and payment.deadline_ns <= now_ns:
                outcome = self.s.apply_timeout(uetr, now_ns)
                assert outcome.reason == "AB05"
                self.reserved[payment.debtor_agent] -= payment.amount_paisa
                self.final[uetr] = "RJCT"

    @precondition(lambda self: self.uetrs)
    @rule(index=st.integers(0, 10_000), amount=st.integers(1, 400_000))
    def creditor_returns(self, index, amount):
        payment = self.s.payments[self.uetrs[index % len(self.uetrs)]]
        self.tx_counter += 1
        outcome = self.s.apply_return(
            payment.creditor_agent,
            "xml",
            f"R{self.tx_counter}",
            payment.uetr,
            amount,
            "AC04",
            b"",
            self._tick(),
        )
        if outcome.kind == "final":
            assert payment.status == "ACSC" and payment.returned_paisa <= payment.amount_paisa
            self.posted[payment.creditor_agent] -= amount
            self.posted[payment.debtor_agent] += amount

    @invariant()
    def books_match_the_model(self):
        assert self.s.ledger.check_conservation()
        balances = self.s.balances()["accounts"]
        for bic in BANKS:
            assert balances[bic]["posted_paisa"] == self.posted[bic], bic
            assert balances[bic]["pending_debits_paisa"] == self.reserved[bic], bic
            assert balances[bic]["available_paisa"] >= 0

    @invariant()
    def final_statuses_never_change(self):
        for uetr, status in self.final.items():
            assert self.s.payments[uetr].status == status

    @invariant()
    def inbox_sequences_increase_by_one(self):
        for inbox in self.s.inboxes.values():
            seqs = [seq for seq, _ in inbox.entries]
            assert seqs == list(range(inbox.acked_upto + 1, inbox.next_seq))


TestPaymentStateMachine = PaymentModel.TestCase

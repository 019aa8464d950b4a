"""Messages the rail relays between participants, as state changes: returns (pacs.004: money back to the debtor
agent, within the return window), recalls (camt.056 and its answer camt.029), and requests to pay (pain.013 and
its answer pain.014). Part of the books (rail/settlement/payments.py's Settlement, which these methods are part
of), called only by the core, one command at a time, with the command's own timestamp.
"""

from __future__ import annotations

from rail.scheme import Scheme, SchemeParams
from rail.settlement.delivery import RelayedMessage
from rail.settlement.ledger import CreateTransferResult, Transfer
from rail.settlement.payment_book import PaymentBook
from rail.settlement.payment_records import (
    CODE_RETURN,
    HISTORY_EVENTS_MAX,
    NS_PER_S,
    REJECTED,
    RTPS_MAX,
    SETTLED,
    MessageFormat,
    Outcome,
    OutcomeKind,
    Participant,
    Payment,
    RecallRecord,
    RequestToPay,
    ReturnRecord,
)


class Relays:
    """The returns, recalls and requests to pay of the books (a part of Settlement, whose parts they use: the
    payment book, the participants, the requests to pay, the ledger and the inboxes)."""

    payments: PaymentBook
    participants: dict[str, Participant]
    rtps: dict[tuple[str, str], RequestToPay]
    _rtp_payees: dict[tuple[str, str], str | None]
    params: SchemeParams
    scheme: Scheme

    # ---- returns and recalls

    def apply_return(
        self,
        sender: str,
        rendering: str,
        return_id: str,
        uetr: str,
        amount_paisa: int,
        reason: str,
        message: bytes,
        now_ns: int,
        message_format: MessageFormat = MessageFormat.MSGPACK,
    ) -> Outcome:
        """pacs.004 from the creditor agent: a new transfer back to the debtor agent, within the window."""
        payment = self.payments.get(uetr)
        refusal = self._return_refused(payment, sender, return_id, uetr, amount_paisa, now_ns)
        if refusal is not None:
            return refusal
        transfer_id = self._transfer_id()
        result = self._ledger_one(
            Transfer(
                id=transfer_id,
                debit_account_id=self.participants[sender].account_id,
                credit_account_id=self.participants[payment.debtor_agent].account_id,
                amount=amount_paisa,
                code=CODE_RETURN,
            ),
            now_ns,
        )
        if result is CreateTransferResult.exceeds_credits:
            return Outcome(
                OutcomeKind.REJECTED,
                status=REJECTED,
                reason="AM04",
                text="creditor agent's settlement account cannot cover the return",
            )
        if result is not CreateTransferResult.ok:
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="AM12", text=f"ledger refused: {result.name}"
            )
        payment = self.payments.for_update(uetr)
        record = ReturnRecord(
            return_id=return_id,
            sender=sender,
            amount_paisa=amount_paisa,
            reason=reason,
            at_ns=now_ns,
            transfer_id=transfer_id,
            message=message,
            rendering=rendering,
        )
        payment.returns.append(record)
        payment.returned_paisa += amount_paisa
        payment.note(now_ns, "returned", f"{amount_paisa} {reason}")
        self.payments.returns_by_id[(sender, return_id)] = uetr
        if reason == "FOCR":
            for recall in payment.recalls:
                if recall.state == "PDCR":
                    recall.state = "ACCR"
        self._push(payment.debtor_agent, RelayedMessage("pacs.004", uetr, message, message_format, now_ns))
        return Outcome(OutcomeKind.FINAL, status=SETTLED, payment=payment, detail=record)

    def _return_refused(
        self, payment: Payment | None, sender: str, return_id: str, uetr: str, amount_paisa: int, now_ns: int
    ) -> Outcome | None:
        """Why a pacs.004 moves no money (or the answer to its resend), or None."""
        if payment is None:
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="NOOR", text=f"no payment with UETR {uetr}"
            )
        if sender != payment.creditor_agent:
            return Outcome(
                OutcomeKind.FORBIDDEN, text="only the original creditor agent may return a payment"
            )
        seen = self.payments.returns_by_id.get((sender, return_id))
        if seen is not None:
            record = next((r for r in payment.returns if r.return_id == return_id), None)
            if seen == uetr and record is not None and record.amount_paisa == amount_paisa:
                return Outcome(OutcomeKind.DUPLICATE, status=SETTLED, payment=payment, detail=record)
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="AM05", text=f"RtrId {return_id} already used"
            )
        if payment.status != SETTLED:
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="NOOR", text="the payment was never settled"
            )
        if now_ns - payment.final_ns > self.params.return_window_s * NS_PER_S:
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="TM01", text="outside the return window"
            )
        if amount_paisa <= 0 or payment.returned_paisa + amount_paisa > payment.amount_paisa:
            return Outcome(
                OutcomeKind.REJECTED,
                status=REJECTED,
                reason="AM09",
                text="return exceeds what remains of the original amount",
            )
        return None

    def apply_recall(
        self,
        sender: str,
        rendering: str,
        cancellation_id: str,
        uetr: str,
        reason: str,
        message: bytes,
        now_ns: int,
        message_format: MessageFormat = MessageFormat.MSGPACK,
    ) -> Outcome:
        """camt.056 from the debtor agent, relayed to the creditor agent, who answers camt.029 or pacs.004."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome(
                OutcomeKind.REJECTED, status="RJCR", reason="NOOR", text=f"no payment with UETR {uetr}"
            )
        if sender != payment.debtor_agent:
            return Outcome(OutcomeKind.FORBIDDEN, text="only the original debtor agent may recall a payment")
        if any(r.cancellation_id == cancellation_id for r in payment.recalls):
            return Outcome(OutcomeKind.DUPLICATE, status="PDCR", payment=payment)
        if payment.status != SETTLED:
            return Outcome(
                OutcomeKind.REJECTED, status="RJCR", reason="NOOR", text="the payment was never settled"
            )
        if payment.returned_paisa >= payment.amount_paisa:
            return Outcome(
                OutcomeKind.REJECTED, status="RJCR", reason="ARDT", text="the payment was already returned"
            )
        if len(payment.recalls) >= HISTORY_EVENTS_MAX:
            return Outcome(
                OutcomeKind.REJECTED, status="RJCR", reason="AGNT", text="too many recalls for one payment"
            )
        payment = self.payments.for_update(uetr)
        payment.recalls.append(
            RecallRecord(
                cancellation_id=cancellation_id,
                reason=reason,
                at_ns=now_ns,
                message=message,
                rendering=rendering,
            )
        )
        payment.note(now_ns, "recall requested", reason)
        self._push(payment.creditor_agent, RelayedMessage("camt.056", uetr, message, message_format, now_ns))
        return Outcome(OutcomeKind.RELAYED, status="PDCR", payment=payment)

    def apply_resolution(
        self,
        sender: str,
        rendering: str,
        uetr: str,
        status: str,
        reason: str | None,
        message: bytes,
        now_ns: int,
        message_format: MessageFormat = MessageFormat.MSGPACK,
    ) -> Outcome:
        """camt.029 from the creditor agent: the recall is refused (or pending); relayed to the debtor agent."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome(OutcomeKind.NOT_FOUND, reason="NOOR", text=f"no payment with UETR {uetr}")
        if sender != payment.creditor_agent:
            return Outcome(
                OutcomeKind.FORBIDDEN, text="only the creditor agent may answer a recall of this payment"
            )
        index = next(
            (i for i in reversed(range(len(payment.recalls))) if payment.recalls[i].state == "PDCR"), None
        )
        if index is None:
            return Outcome(OutcomeKind.REJECTED, reason="NOOR", text="no open recall for this payment")
        payment = self.payments.for_update(uetr)
        recall = payment.recalls[index]
        recall.state = status if status in ("RJCR", "PDCR", "ACCR") else "RJCR"
        recall.resolution = message
        recall.resolution_rendering = rendering
        payment.note(now_ns, f"recall {recall.state}", reason or "")
        self._push(payment.debtor_agent, RelayedMessage("camt.029", uetr, message, message_format, now_ns))
        return Outcome(OutcomeKind.RELAYED, status=recall.state, payment=payment)

    # ---- request to pay

    def apply_request_to_pay(
        self,
        sender: str,
        rendering: str,
        msg_id: str,
        payer_agent: str,
        message: bytes,
        now_ns: int,
        message_format: MessageFormat = MessageFormat.MSGPACK,
    ) -> Outcome:
        """pain.013 from the payee's agent, relayed to the payer's agent. Its MsgId is the payee's agent's own:
        unique per sender, never a key another participant could learn of or squat."""
        existing = self.rtps.get((sender, msg_id))
        if existing is not None:
            if existing.payer_agent == payer_agent:
                return Outcome(OutcomeKind.DUPLICATE, status=existing.status, detail=existing)
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="AM05", text=f"MsgId {msg_id} already used"
            )
        if payer_agent not in self.participants or payer_agent == self.scheme.central_bank_bic:
            return Outcome(
                OutcomeKind.REJECTED,
                status=REJECTED,
                reason="RC03",
                text=f"payer's agent {payer_agent} is not a participant",
            )
        if len(self.rtps) >= RTPS_MAX:
            oldest = self.rtps.pop(next(iter(self.rtps)))
            self._rtp_payees.pop((oldest.payer_agent, oldest.msg_id), None)
        rtp = RequestToPay(
            msg_id=msg_id,
            payee_agent=sender,
            payer_agent=payer_agent,
            message=message,
            rendering=rendering,
            at_ns=now_ns,
        )
        self.rtps[(sender, msg_id)] = rtp
        payer_key = (payer_agent, msg_id)
        self._rtp_payees[payer_key] = sender if self._rtp_payees.get(payer_key, sender) == sender else None
        self._push(payer_agent, RelayedMessage("pain.013", msg_id, message, message_format, now_ns))
        return Outcome(OutcomeKind.RELAYED, status="PDNG", detail=rtp)

    def apply_request_to_pay_status(
        self,
        sender: str,
        rendering: str,
        original_msg_id: str,
        status: str,
        reason: str | None,
        message: bytes,
        now_ns: int,
        payee_agent: str | None = None,
        message_format: MessageFormat = MessageFormat.MSGPACK,
    ) -> Outcome:
        """pain.014 from the payer's agent, relayed to the payee's agent (named by its CdtrAgt, or the one payee
        that sent this payer a request with that MsgId)."""
        if payee_agent is None:
            payee_agent = self._rtp_payees.get((sender, original_msg_id))
            if payee_agent is None and (sender, original_msg_id) in self._rtp_payees:
                return Outcome(
                    OutcomeKind.REJECTED,
                    reason="NOOR",
                    text=f"several requests to pay with MsgId {original_msg_id}: name the payee's agent (CdtrAgt)",
                )
        rtp = self.rtps.get((payee_agent or "", original_msg_id))
        if rtp is None:
            return Outcome(
                OutcomeKind.NOT_FOUND, reason="NOOR", text=f"no request to pay with MsgId {original_msg_id}"
            )
        if sender != rtp.payer_agent:
            return Outcome(
                OutcomeKind.FORBIDDEN, text="only the payer's agent may answer this request to pay"
            )
        rtp.status = status
        rtp.reason = reason
        rtp.answer = message
        rtp.answer_rendering = rendering
        self._push(
            rtp.payee_agent, RelayedMessage("pain.014", original_msg_id, message, message_format, now_ns)
        )
        return Outcome(OutcomeKind.RELAYED, status=status, detail=rtp)


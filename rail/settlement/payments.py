"""The payment state machine: what a payment, return, recall or request to pay does, as pure state changes.

`Settlement` owns the books of one rail: the ledger, the payment table, the alias directory, the participant
inboxes and the duplicate-check indexes. Its `apply_*` methods are called only by the settlement core
(rail/settlement/core.py, the single writer), one command at a time, with the command's own timestamp: they never read a
clock, never do I/O and never render a message, so replaying the journal reproduces exactly the same state.

Each method returns an `Outcome` (what the submitter is told) and may push message *references* into inboxes
(rail/settlement/delivery.py): the outbound ISO 20022 message is built later, in the recipient's rendering.

Lifecycle of a credit transfer (ISO20022.md §2, the '5-step' model: the rail owns the timer and the final status):
    pacs.008 -> [dup check] -> pending ledger transfer debtor -> creditor settlement account (AM04 if not covered)
             -> status ACTC, pacs.008 forwarded to the creditor agent, timer armed
    creditor pacs.002 ACSP/ACCP -> post -> ACSC to both agents
    creditor pacs.002 RJCT      -> void -> RJCT (creditor's reason) to the debtor agent
    creditor pacs.002 ACWP      -> 'needs more time': deadline moves to the hard stop (acceptance + 20 s)
    deadline passes             -> void -> RJCT AB05 to both agents (the creditor must not credit)
"""

from __future__ import annotations

import msgspec

from rail.money import AMOUNT_MAX_PAISA, MONEY_ISSUED_MAX_PAISA, amount_problem
from rail.scheme import Scheme
from rail.settlement.delivery import (
    ForwardedPayment,
    Inbox,
    InboxRef,
    InboxState,
    StatusReport,
)
from rail.settlement.directory import AliasDirectory, AliasEntry, DirectoryError
from rail.settlement.ledger import (
    Account,
    AccountFlags,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)
from rail.settlement.payment_book import BookState, PaymentBook
from rail.settlement.payment_records import (  # noqa: F401 - re-exported: the state machine's vocabulary
    CODE_LIQUIDITY,
    CODE_PAYMENT,
    CODE_RETURN,
    HISTORY_EVENTS_MAX,
    IN_FLIGHT,
    INTERIM_CREDITOR_STATUSES,
    MORE_TIME_STATUSES,
    NS_PER_MS,
    NS_PER_S,
    POSITIVE_CREDITOR_STATUSES,
    REJECTED,
    RTPS_MAX,
    SETTLED,
    CreditTransfer,
    MessageFormat,
    Outcome,
    OutcomeKind,
    Participant,
    Payment,
    PaymentStatus,
    RecallRecord,
    RequestToPay,
    ReturnRecord,
    business_key,
)
from rail.settlement.relays import Relays

CENTRAL_ACCOUNT_ID = 1  # participants' settlement accounts follow: 2, 3, ... in order of admission


# ---- the books -----------------------------------------------------------------------------------------------


class Settlement(Relays):
    """All state of the rail that the journal makes durable. Single writer: only the core calls apply_*."""

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.params = scheme.params
        # The rail's transfer ids are a journaled counter, never resubmitted: the ledger keeps balances, not
        # every finished transfer (the payment book is the record of each payment).
        self.ledger = Ledger(scheme.currency, history=False)
        self.directory = AliasDirectory()
        self.participants: dict[str, Participant] = {}
        self.inboxes: dict[str, Inbox] = {}
        self.payments = PaymentBook(self.params.retention_days * 86_400, self.params.payments_retained_max)
        self.rtps: dict[tuple[str, str], RequestToPay] = {}  # (payee's agent, MsgId) -> request
        self._rtp_payees: dict[
            tuple[str, str], str | None
        ] = {}  # (payer's agent, MsgId) -> payee (None: several)
        self.next_transfer_id = 1
        self.central_account_id = CENTRAL_ACCOUNT_ID
        self.touched_inboxes: set[str] = set()  # inboxes pushed to in the current batch (the core publishes)
        self.finalised: list[Payment] = []  # payments that reached a final status in the current batch
        self.armed: list[Payment] = []  # payments whose deadline was (re)armed in the current batch
        self.genesis_done = False
        self.admin_token_hash: str | None = (
            None  # SHA-256 of the operator's token (journaled, never the token)
        )

    # ---- helpers

    def _transfer_id(self) -> int:
        transfer_id = self.next_transfer_id
        self.next_transfer_id = transfer_id + 1
        return transfer_id

    def _push(self, bic: str, ref: InboxRef) -> None:
        """An inbox entry: a reference the service renders on delivery. One carrying a message carries the
        message's bytes too, so it delivers even after the payment is packed (rail/settlement/payment_book.py)."""
        inbox = self.inboxes.get(bic)
        if inbox is None:
            return
        inbox.push(ref)
        self.touched_inboxes.add(bic)

    def configure(self, params) -> None:
        """The scheme parameters in force from now on (journaled: Genesis, SetParams)."""
        self.params = params
        self.scheme = msgspec.structs.replace(self.scheme, params=params)
        self.payments.configure(params.retention_days * 86_400, params.payments_retained_max)

    def begin_batch(self, now_ns: int) -> None:
        """Called by the core before the first command of every journaled batch (and by replay alike)."""
        self.payments.begin_batch(now_ns)

    def _finalise(
        self, payment: Payment, status: str, reason: str | None, text: str | None, now_ns: int
    ) -> None:
        payment.status = status
        payment.reason = reason
        payment.reason_text = text
        payment.final_ns = now_ns
        payment.note(now_ns, status, reason or "")
        self.finalised.append(payment)
        self.payments.finalised(payment)

    def _ledger_one(self, transfer: Transfer, now_ns: int) -> CreateTransferResult:
        return self.ledger.create_transfers([transfer], now_ns)[0]

    # ---- scheme and participants

    def apply_genesis(self, now_ns: int) -> Outcome:
        """Open the central bank's account and the default banks with their prefunding and Raast IDs."""
        assert not self.genesis_done
        self.genesis_done = True
        self.ledger.create_accounts([Account(id=self.central_account_id, code=1)], now_ns)
        self.participants[self.scheme.central_bank_bic] = Participant(
            bic=self.scheme.central_bank_bic,
            name=self.scheme.central_bank_name,
            account_id=self.central_account_id,
            token_hash=None,
            callback_url=None,
        )
        for bank in self.scheme.banks:
            self.apply_add_participant(bank.bic, bank.name, None, None, now_ns, simulated=True)
            if bank.prefund_paisa:
                self.apply_liquidity(bank.bic, bank.prefund_paisa, "in", now_ns)
            for customer in bank.customers:
                if customer.raast_id:
                    self.directory.register(bank.bic, customer.raast_id, customer.iban, customer.name)
        return Outcome(OutcomeKind.DONE)

    def apply_add_participant(
        self,
        bic: str,
        name: str,
        token_hash: str | None,
        callback_url: str | None,
        now_ns: int,
        simulated: bool = False,
        rate_limit: tuple[float | None, float | None] = (None, None),
        webhook_secret: str | None = None,
    ) -> Outcome:
        existing = self.participants.get(bic)
        if existing is not None and rate_limit != (None, None):
            existing.requests_per_s, existing.requests_burst = rate_limit
        if existing is not None:
            # A fresh token for an existing participant (e.g. a load harness taking over a default bank):
            # from now on the bank is driven from outside, so the in-process simulator stands down.
            existing.token_hash = token_hash
            existing.callback_url = callback_url
            existing.name = name or existing.name
            existing.simulated = simulated
            if webhook_secret is not None:  # a fresh registration: a fresh signing key, the old one retired
                existing.webhook_secret = webhook_secret
                existing.webhook_previous_secret, existing.webhook_previous_until_ns = None, 0
            return Outcome(OutcomeKind.DONE, detail=existing)
        # Ids in order of admission: deterministic under replay, and small (msgpack-friendly, < 2**63).
        account_id = CENTRAL_ACCOUNT_ID + len(self.participants)
        result = self.ledger.create_accounts(
            [Account(id=account_id, code=2, flags=int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS))], now_ns
        )[0]
        assert result.name in ("ok", "exists"), result
        participant = Participant(
            bic=bic,
            name=name,
            account_id=account_id,
            token_hash=token_hash,
            callback_url=callback_url,
            simulated=simulated,
            requests_per_s=rate_limit[0],
            requests_burst=rate_limit[1],
            webhook_secret=webhook_secret,
        )
        self.participants[bic] = participant
        self.inboxes[bic] = Inbox(bic)
        return Outcome(OutcomeKind.DONE, detail=participant)

    def apply_liquidity(self, bic: str, amount_paisa: int, direction: str, now_ns: int) -> Outcome:
        """The central bank funds (in) or defunds (out) a participant; detail: its posted balance after."""
        participant = self.participants.get(bic)
        if participant is None or bic == self.scheme.central_bank_bic:
            return Outcome(OutcomeKind.NOT_FOUND, reason="RC01", text=f"{bic} is not a participant")
        problem = amount_problem(amount_paisa)
        if problem is not None:
            return Outcome(OutcomeKind.REJECTED, reason="AM01" if amount_paisa <= 0 else "AM02", text=problem)
        if direction == "in":
            debit, credit = self.central_account_id, participant.account_id
            issued = self.ledger.account(self.central_account_id)
            if issued.debits_posted - issued.credits_posted + amount_paisa > MONEY_ISSUED_MAX_PAISA:
                return Outcome(
                    OutcomeKind.REJECTED,
                    reason="AM02",
                    text=f"the money issued into the rail would exceed {MONEY_ISSUED_MAX_PAISA} paisa",
                )
        elif direction == "out":
            debit, credit = participant.account_id, self.central_account_id
        else:
            return Outcome(OutcomeKind.REJECTED, reason="FF01", text="direction must be 'in' or 'out'")
        result = self._ledger_one(
            Transfer(
                id=self._transfer_id(),
                debit_account_id=debit,
                credit_account_id=credit,
                amount=amount_paisa,
                code=CODE_LIQUIDITY,
            ),
            now_ns,
        )
        if result is CreateTransferResult.exceeds_credits:
            return Outcome(
                OutcomeKind.REJECTED, reason="AM04", text="settlement account cannot cover the withdrawal"
            )
        if result is not CreateTransferResult.ok:
            return Outcome(OutcomeKind.REJECTED, reason="AM12", text=f"ledger refused: {result.name}")
        account = self.ledger.account(participant.account_id)
        return Outcome(OutcomeKind.DONE, detail=account.credits_posted - account.debits_posted)

    def apply_webhook_secret(self, bic: str, secret: str, previous_until_ns: int) -> Outcome:
        """A new webhook signing key; the current one keeps signing until `previous_until_ns`."""
        participant = self.participants.get(bic)
        if participant is None:
            return Outcome(OutcomeKind.NOT_FOUND, reason="RC01", text=f"{bic} is not a participant")
        participant.webhook_previous_secret = participant.webhook_secret if previous_until_ns else None
        participant.webhook_previous_until_ns = previous_until_ns if participant.webhook_previous_secret else 0
        participant.webhook_secret = secret
        return Outcome(OutcomeKind.DONE, detail=participant)

    def apply_ack(self, bic: str, upto: int) -> Outcome:
        """Outcome.detail: the inbox's acknowledged sequence afterwards (an ack beyond the last message
        acknowledges up to it; an ack below an earlier one changes nothing)."""
        inbox = self.inboxes.get(bic)
        if inbox is not None:
            inbox.ack(upto)
            self.touched_inboxes.add(bic)  # the acknowledged entries leave the inbox once this is durable
        return Outcome(OutcomeKind.DONE, detail=inbox.acked_upto if inbox is not None else 0)

    def apply_alias_register(self, bic: str, alias: str, iban: str, name: str) -> Outcome:
        try:
            entry = self.directory.register(bic, alias, iban, name)
        except DirectoryError as exc:
            return Outcome(OutcomeKind.REJECTED, reason=exc.code, text=exc.text)
        return Outcome(OutcomeKind.DONE, detail=entry)

    def apply_alias_delete(self, bic: str, alias: str) -> Outcome:
        try:
            entry = self.directory.delete(bic, alias)
        except DirectoryError as exc:
            return Outcome(OutcomeKind.REJECTED, reason=exc.code, text=exc.text)
        return Outcome(OutcomeKind.DONE, detail=entry)

    def resolve_alias(self, alias: str) -> AliasEntry | None:
        return self.directory.resolve(alias)

    # ---- credit transfer

    def apply_credit_transfer(
        self,
        sender: str,
        rendering: str,
        ct: CreditTransfer,
        message: bytes,
        now_ns: int,
        message_format: MessageFormat = MessageFormat.MSGPACK,
    ) -> Outcome:
        # Authorisation is checked at the edge (403, nothing enqueued); the core asserts it (a bug otherwise).
        assert sender == ct.debtor_agent and sender == ct.instructing_agent, (sender, ct.debtor_agent)
        refusal = self._not_recorded(ct)
        if refusal is not None:
            return refusal
        participant = self.participants.get(sender)
        if participant is not None:
            participant.rendering = rendering
        payment = self._new_payment(ct, message, rendering, message_format, now_ns)
        self.payments.add(payment)
        refusal = self._refused_early(payment, ct, now_ns)
        if refusal is not None:
            return refusal
        transfer_id = self._transfer_id()
        result = self._ledger_one(
            Transfer(
                id=transfer_id,
                debit_account_id=self.participants[sender].account_id,
                credit_account_id=self.participants[ct.creditor_agent].account_id,
                amount=ct.amount_paisa,
                code=CODE_PAYMENT,
                flags=int(TransferFlags.PENDING),
            ),
            now_ns,
        )
        if result is not CreateTransferResult.ok:
            if result is CreateTransferResult.exceeds_credits:
                return self._reject_early(
                    payment, "AM04", "debtor agent's settlement account cannot cover it", now_ns
                )
            return self._reject_early(
                payment, "AM12", f"ledger refused the reservation: {result.name}", now_ns
            )
        payment.transfer_id = transfer_id
        payment.note(now_ns, "reserved", str(ct.amount_paisa))
        self._push(ct.creditor_agent, ForwardedPayment(ct.uetr, message, message_format, now_ns))
        self.armed.append(payment)
        return Outcome(OutcomeKind.ACCEPTED, status=IN_FLIGHT, payment=payment)

    def _not_recorded(self, ct: CreditTransfer) -> Outcome | None:
        """The answer to a pacs.008 the rail does not record (a resend, a used id, an impossible amount, a
        full payment book), or None."""
        existing_uetr = self.payments.uetr_of(ct.instructing_agent, ct.tx_id)
        existing = self.payments.get(existing_uetr or ct.uetr)
        if existing is not None:
            if existing.business_key() == ct.business_key():
                return Outcome(
                    OutcomeKind.DUPLICATE,
                    status=existing.status,
                    reason=existing.reason,
                    text=existing.reason_text,
                    payment=existing,
                )
            used = "TxId" if existing_uetr is not None else "UETR"
            text = f"duplicate: {used} already used by another payment"
            return Outcome(OutcomeKind.REJECTED, status=REJECTED, reason="AM05", text=text)
        if ct.amount_paisa > AMOUNT_MAX_PAISA:  # the edge refuses it first (profile AM02); never journaled
            return Outcome(
                OutcomeKind.REJECTED, status=REJECTED, reason="AM02", text=amount_problem(ct.amount_paisa)
            )
        if self.payments.full():
            # Never forget a payment inside the retention window to make room: refuse the new one instead.
            return Outcome(
                OutcomeKind.UNAVAILABLE,
                reason="AB10",
                text=f"duplicate-check window full ({self.params.payments_retained_max} payments); retry later",
            )
        return None

    def _new_payment(
        self, ct: CreditTransfer, message: bytes, rendering: str, message_format: MessageFormat, now_ns: int
    ) -> Payment:
        accepted_ns = ct.acceptance_ns if 0 < ct.acceptance_ns <= now_ns else now_ns
        hard_stop_ns = accepted_ns + self.params.hard_stop_ms * NS_PER_MS
        return Payment(
            uetr=ct.uetr,
            tx_id=ct.tx_id,
            msg_id=ct.msg_id,
            end_to_end_id=ct.end_to_end_id,
            instructing_agent=ct.instructing_agent,
            debtor_agent=ct.debtor_agent,
            creditor_agent=ct.creditor_agent,
            amount_paisa=ct.amount_paisa,
            debtor_iban=ct.debtor_iban,
            creditor_iban=ct.creditor_iban,
            message=message,
            rendering=rendering,
            transfer_id=0,
            status=IN_FLIGHT,
            reason=None,
            reason_text=None,
            received_ns=now_ns,
            accepted_ns=accepted_ns,
            deadline_ns=min(now_ns + self.params.creditor_timeout_ms * NS_PER_MS, hard_stop_ns),
            history=[(now_ns, "received", "pacs.008")],
            message_format=message_format,
        )

    def _refused_early(self, payment: Payment, ct: CreditTransfer, now_ns: int) -> Outcome | None:
        """A recorded payment refused before any money is reserved (its rejection is its final status)."""
        creditor = self.participants.get(ct.creditor_agent)
        if creditor is None or ct.creditor_agent == self.scheme.central_bank_bic:
            text = f"creditor agent {ct.creditor_agent} is not a participant"
            return self._reject_early(payment, "CNOR", text, now_ns)
        if ct.creditor_agent == ct.debtor_agent:
            text = "debtor and creditor agent are the same participant: book it on-us"
            return self._reject_early(payment, "AGNT", text, now_ns)
        if now_ns >= payment.accepted_ns + self.params.hard_stop_ms * NS_PER_MS:
            return self._reject_early(
                payment, "AB06", "arrived after the hard time-out from AccptncDtTm", now_ns
            )
        if len(self.inboxes[ct.creditor_agent]) >= self.params.inbox_messages_max:
            # Shed load with a clear answer rather than grow the creditor agent's backlog without limit.
            return self._reject_early(payment, "AB08", "creditor agent is not taking its messages", now_ns)
        return None

    def _reject_early(self, payment: Payment, reason: str, text: str, now_ns: int) -> Outcome:
        """Rejected before reaching the creditor: recorded so that a resend gets the same answer."""
        self._finalise(payment, REJECTED, reason, text, now_ns)
        return Outcome(OutcomeKind.REJECTED, status=REJECTED, reason=reason, text=text, payment=payment)

    def apply_creditor_status(
        self, sender: str, uetr: str, status: str, reason: str | None, text: str | None, now_ns: int
    ) -> Outcome:
        """The creditor agent's pacs.002 for a forwarded pacs.008."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome(OutcomeKind.NOT_FOUND, reason="NOOR", text=f"no payment with UETR {uetr}")
        if sender != payment.creditor_agent:
            return Outcome(OutcomeKind.FORBIDDEN, text="only the creditor agent may answer this payment")
        if payment.status != IN_FLIGHT:
            # Late or repeated answer: the payment's final status stands and is what the creditor is told. It
            # is noted, so that the payment's history shows a creditor answering twice or after the timeout.
            payment = self.payments.for_update(uetr)  # a packed payment is a copy: note on the kept one
            payment.note(now_ns, f"creditor {status} after final", reason or "")
            return Outcome(
                OutcomeKind.FINAL,
                status=payment.status,
                reason=payment.reason,
                text=payment.reason_text,
                payment=payment,
            )
        payment.creditor_status = status
        payment.note(now_ns, f"creditor {status}", reason or "")
        if status in POSITIVE_CREDITOR_STATUSES:
            result = self._resolve_pending(payment, TransferFlags.POST_PENDING_TRANSFER, now_ns)
            assert result is CreateTransferResult.ok, result
            self._finalise(payment, SETTLED, None, None, now_ns)
            report = StatusReport(uetr, SETTLED, None, None)  # one frozen reference in both agents' inboxes
            self._push(payment.debtor_agent, report)
            self._push(payment.creditor_agent, report)
        elif status == REJECTED:
            result = self._resolve_pending(payment, TransferFlags.VOID_PENDING_TRANSFER, now_ns)
            assert result is CreateTransferResult.ok, result
            reason = reason or "MS03"
            text = text or "rejected by the creditor agent"
            self._finalise(payment, REJECTED, reason, text, now_ns)
            self._push(payment.debtor_agent, StatusReport(uetr, REJECTED, reason, text))
        elif status in MORE_TIME_STATUSES:
            # 'Needs more time' (FedNow ACWP): wait up to the hard stop, never beyond it.
            payment.deadline_ns = payment.accepted_ns + self.params.hard_stop_ms * NS_PER_MS
            self.armed.append(payment)
            return Outcome(OutcomeKind.ACCEPTED, status=IN_FLIGHT, payment=payment)
        elif status in INTERIM_CREDITOR_STATUSES:
            return Outcome(
                OutcomeKind.ACCEPTED,
                status=IN_FLIGHT,
                payment=payment,
                text=f"{status} is interim: before the deadline send ACSP/ACCP, ACWP or RJCT+reason",
            )
        else:
            return Outcome(
                OutcomeKind.REJECTED,
                reason="FF01",
                text=f"TxSts {status} does not answer a pacs.008: send ACSP/ACCP, ACWP or RJCT",
            )
        return Outcome(
            OutcomeKind.FINAL,
            status=payment.status,
            reason=payment.reason,
            text=payment.reason_text,
            payment=payment,
        )

    def _resolve_pending(self, payment: Payment, flag: TransferFlags, now_ns: int) -> CreateTransferResult:
        debtor = self.participants[payment.debtor_agent]
        creditor = self.participants[payment.creditor_agent]
        return self._ledger_one(
            Transfer(
                id=self._transfer_id(),
                debit_account_id=debtor.account_id,
                credit_account_id=creditor.account_id,
                amount=payment.amount_paisa,
                pending_id=payment.transfer_id,
                code=CODE_PAYMENT,
                flags=int(flag),
            ),
            now_ns,
        )

    def apply_timeout(self, uetr: str, now_ns: int) -> Outcome:
        """The deadline passed with no final answer from the creditor agent: void, AB05 to both agents."""
        payment = self.payments.in_flight(uetr)
        if payment is None or now_ns < payment.deadline_ns:
            return Outcome(OutcomeKind.DONE)  # answered meanwhile, or the deadline was extended (ACWP)
        result = self._resolve_pending(payment, TransferFlags.VOID_PENDING_TRANSFER, now_ns)
        assert result is CreateTransferResult.ok, result
        text = "no answer from the creditor agent within the scheme timeout"
        self._finalise(payment, REJECTED, "AB05", text, now_ns)
        report = StatusReport(uetr, REJECTED, "AB05", text)
        self._push(payment.debtor_agent, report)
        self._push(payment.creditor_agent, report)
        return Outcome(OutcomeKind.FINAL, status=REJECTED, reason="AB05", text=text, payment=payment)

    def apply_redeliver(self, uetr: str, now_ns: int) -> Outcome:
        """A forwarded pacs.008 delivered to its creditor agent once more (the operator's Redeliver)."""
        payment = self.payments.get(uetr)
        if payment is None or payment.transfer_id == 0:
            return Outcome(OutcomeKind.NOT_FOUND, reason="NOOR", text=f"no payment with UETR {uetr} was forwarded")
        if not payment.message:  # packed for the retention window: its messages are no longer kept
            return Outcome(OutcomeKind.NOT_FOUND, reason="NOOR", text=f"payment {uetr} is too old to redeliver")
        creditor = payment.creditor_agent
        if len(self.inboxes[creditor]) >= self.params.inbox_messages_max:
            return Outcome(OutcomeKind.REJECTED, reason="AB08", text="the creditor agent is not taking its messages")
        payment = self.payments.for_update(uetr)
        payment.note(now_ns, "redelivered", "pacs.008")
        self._push(creditor, ForwardedPayment(uetr, payment.message, payment.message_format, payment.received_ns))
        return Outcome(OutcomeKind.DONE, payment=payment)

    def in_flight(self) -> list[Payment]:
        return [p for p in self.payments.live_payments() if p.status == IN_FLIGHT]

    # ---- views

    def balances(self) -> dict:
        """Every settlement account's posted and pending amounts by BIC, and the conservation check."""
        accounts = {}
        by_id = self.ledger.balances()
        for bic, participant in self.participants.items():
            b = by_id.get(participant.account_id)
            if b is None:
                continue
            accounts[bic] = {
                "posted_paisa": b.credits_posted - b.debits_posted,
                "pending_debits_paisa": b.debits_pending,
                "pending_credits_paisa": b.credits_pending,
                "available_paisa": b.credits_posted - b.debits_posted - b.debits_pending,
            }
        try:
            conserved = bool(self.ledger.check_conservation())
        except AssertionError:
            conserved = False
        return {"currency": self.scheme.currency, "accounts": accounts, "conserved": conserved}


class SettlementState(msgspec.Struct, array_like=True):
    """Everything in `Settlement` except the ledger (which has its own snapshot), for the core's snapshots."""

    scheme: Scheme
    ledger: bytes
    participants: list[Participant]
    inboxes: list[tuple[str, InboxState]]
    payments: BookState
    rtps: list[RequestToPay]
    aliases: list[AliasEntry]
    next_transfer_id: int
    genesis_done: bool
    admin_token_hash: str | None = None


def settlement_to_state(s: Settlement) -> SettlementState:
    return SettlementState(
        scheme=s.scheme,
        ledger=s.ledger.to_snapshot(),
        participants=list(s.participants.values()),
        inboxes=[(bic, inbox.to_state()) for bic, inbox in s.inboxes.items()],
        payments=s.payments.to_state(),
        rtps=list(s.rtps.values()),
        aliases=s.directory.entries(),
        next_transfer_id=s.next_transfer_id,
        genesis_done=s.genesis_done,
        admin_token_hash=s.admin_token_hash,
    )


def settlement_from_state(state: SettlementState, scheme: Scheme | None = None) -> Settlement:
    s = Settlement(scheme or state.scheme)
    s.ledger = Ledger.from_snapshot(state.ledger)
    s.ledger.history = False
    s.participants = {p.bic: p for p in state.participants}
    s.inboxes = {bic: Inbox.from_state(bic, inbox_state) for bic, inbox_state in state.inboxes}
    s.payments.load(state.payments)
    s.rtps = {(r.payee_agent, r.msg_id): r for r in state.rtps}
    for r in state.rtps:
        key = (r.payer_agent, r.msg_id)
        s._rtp_payees[key] = r.payee_agent if s._rtp_payees.get(key, r.payee_agent) == r.payee_agent else None
    s.directory.load(state.aliases)
    s.next_transfer_id = state.next_transfer_id
    s.genesis_done = state.genesis_done
    s.admin_token_hash = state.admin_token_hash
    return s

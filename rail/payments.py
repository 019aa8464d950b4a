"""The payment state machine: what a payment, return, recall or request to pay does, as pure state changes.

`Settlement` owns the books of one rail: the ledger, the payment table, the alias directory, the participant
inboxes and the duplicate-check indexes. Its `apply_*` methods are called only by the settlement core
(rail/core.py, the single writer), one command at a time, with the command's own timestamp: they never read a
clock, never do I/O and never render a message, so replaying the journal reproduces exactly the same state.

Each method returns an `Outcome` (what the submitter is told) and may push message *references* into inboxes
(rail/delivery.py): the outbound ISO 20022 message is built later, in the recipient's rendering.

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

from rail.delivery import Inbox
from rail.directory import AliasDirectory, AliasEntry, DirectoryError
from rail.ledger import Account, AccountFlags, CreateTransferResult, Ledger, Transfer, TransferFlags
from rail.scheme import Scheme

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# Ledger transfer codes: what kind of business event moved the money (shown by the ledger to auditors).
CODE_PAYMENT = 1
CODE_RETURN = 2
CODE_LIQUIDITY = 3

# Payments held in memory, with their messages (~3-4 KB each); the oldest final ones are forgotten beyond it.
PAYMENTS_MAX = 1_000_000
HISTORY_EVENTS_MAX = 32  # per payment: a payment has a handful of events, a bound stops a chatty client
RTPS_MAX = 500_000

IN_FLIGHT = "ACTC"  # accepted by the rail, waiting for the creditor agent
SETTLED = "ACSC"
REJECTED = "RJCT"
POSITIVE_CREDITOR_STATUSES = frozenset({"ACSP", "ACCP", "ACSC", "ACCC"})
MORE_TIME_STATUSES = frozenset({"ACWP", "PDNG"})


# ---- compact views the edge extracts from decoded messages ---------------------------------------------------
# The rail keeps up to millions of these alive: gc=False keeps them out of the cyclic garbage collector, whose
# rescans of long-lived objects otherwise cost more than the payments themselves (none of them forms a cycle).


class CreditTransfer(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """The ~dozen fields of a pacs.008 the core needs; the full message travels as msgpack bytes."""

    uetr: str
    tx_id: str
    msg_id: str
    end_to_end_id: str
    instructing_agent: str
    debtor_agent: str
    creditor_agent: str
    amount_paisa: int
    debtor_iban: str
    creditor_iban: str
    acceptance_ns: int  # AccptncDtTm, 0 when absent

    def business_key(self) -> tuple:
        """What makes two pacs.008 'the same payment' for the duplicate check (MsgId may differ on resend)."""
        return business_key(self)


def business_key(p: CreditTransfer | Payment) -> tuple:
    """One definition for both sides of the duplicate check: an incoming transfer and a stored payment must
    be compared on exactly the same fields."""
    return (
        p.uetr,
        p.tx_id,
        p.end_to_end_id,
        p.instructing_agent,
        p.debtor_agent,
        p.creditor_agent,
        p.amount_paisa,
        p.debtor_iban,
        p.creditor_iban,
    )


class ReturnRecord(msgspec.Struct, array_like=True, gc=False):
    return_id: str
    sender: str
    amount_paisa: int
    reason: str
    at_ns: int
    transfer_id: int
    message: bytes
    rendering: str


class RecallRecord(msgspec.Struct, array_like=True, gc=False):
    cancellation_id: str
    reason: str
    at_ns: int
    message: bytes  # the camt.056
    rendering: str
    state: str = "PDCR"  # PDCR pending | RJCR refused | ACCR accepted (returned)
    resolution: bytes = b""  # the camt.029, when refused
    resolution_rendering: str = ""


class Payment(msgspec.Struct, array_like=True, gc=False):
    uetr: str
    tx_id: str
    msg_id: str
    end_to_end_id: str
    instructing_agent: str
    debtor_agent: str
    creditor_agent: str
    amount_paisa: int
    debtor_iban: str
    creditor_iban: str
    message: (
        bytes  # the pacs.008: the inbound bytes (xml/json) or msgpack of the codec struct, see message_format
    )
    rendering: str  # the debtor agent's rendering of the original
    transfer_id: int  # the pending ledger transfer (0: rejected before any money was reserved)
    status: str
    reason: str | None
    reason_text: str | None
    received_ns: int
    accepted_ns: int  # AccptncDtTm, or arrival
    deadline_ns: int
    final_ns: int = 0
    creditor_status: str | None = None
    returned_paisa: int = 0
    returns: list[ReturnRecord] = []
    recalls: list[RecallRecord] = []
    history: list[tuple[int, str, str]] = []
    # 'xml' or 'json': `message` is the debtor agent's own bytes, forwarded as they are to a creditor agent using
    # the same rendering (ISO20022.md §6.4: re-emit the inbound bytes); 'msgpack': the decoded struct.
    message_format: str = "msgpack"

    def business_key(self) -> tuple:
        return business_key(self)

    def note(self, at_ns: int, event: str, detail: str = "") -> None:
        if len(self.history) < HISTORY_EVENTS_MAX:
            self.history.append((at_ns, event, detail))


class RequestToPay(msgspec.Struct, array_like=True, gc=False):
    msg_id: str  # the pain.013 MsgId: the key pain.014 refers to
    payee_agent: str
    payer_agent: str
    message: bytes
    rendering: str
    at_ns: int
    status: str = "PDNG"
    reason: str | None = None
    answer: bytes = b""
    answer_rendering: str = ""


class Participant(msgspec.Struct, array_like=True, gc=False):
    bic: str
    name: str
    account_id: int
    token_hash: str | None
    callback_url: str | None
    rendering: str = "xml"
    simulated: bool = False  # a default-scheme bank answered by the rail's in-process simulator
    requests_per_s: float | None = None  # its own request rate limit (None: the scheme's default)
    requests_burst: float | None = None


class Outcome(msgspec.Struct, gc=False):
    """What the submitter of a command is told. `kind` drives the HTTP status; codes are ISO reasons."""

    kind: str  # accepted | final | rejected | duplicate | forbidden | not_found | relayed | done
    status: str | None = None
    reason: str | None = None
    text: str | None = None
    payment: Payment | None = None
    detail: object = None


CENTRAL_ACCOUNT_ID = 1  # participants' settlement accounts follow: 2, 3, ... in order of admission


# ---- the books -----------------------------------------------------------------------------------------------


class Settlement:
    """All state of the rail that the journal makes durable. Single writer: only the core calls apply_*."""

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.params = scheme.params
        self.ledger = Ledger(scheme.currency)
        self.directory = AliasDirectory()
        self.participants: dict[str, Participant] = {}
        self.inboxes: dict[str, Inbox] = {}
        self.payments: dict[str, Payment] = {}
        self.by_tx_id: dict[tuple[str, str], str] = {}  # (instructing agent, TxId) -> UETR
        self.returns_by_id: dict[tuple[str, str], str] = {}  # (sender, RtrId) -> UETR
        self.rtps: dict[str, RequestToPay] = {}
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

    def _push(self, bic: str, ref: tuple) -> None:
        inbox = self.inboxes.get(bic)
        if inbox is None:
            return
        inbox.push(ref)
        self.touched_inboxes.add(bic)

    def _finalise(
        self, payment: Payment, status: str, reason: str | None, text: str | None, now_ns: int
    ) -> None:
        payment.status = status
        payment.reason = reason
        payment.reason_text = text
        payment.final_ns = now_ns
        payment.note(now_ns, status, reason or "")
        self.finalised.append(payment)

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
        return Outcome("done")

    def apply_add_participant(
        self,
        bic: str,
        name: str,
        token_hash: str | None,
        callback_url: str | None,
        now_ns: int,
        simulated: bool = False,
        rate_limit: tuple[float | None, float | None] = (None, None),
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
            return Outcome("done", detail=existing)
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
        )
        self.participants[bic] = participant
        self.inboxes[bic] = Inbox(bic)
        return Outcome("done", detail=participant)

    def apply_liquidity(self, bic: str, amount_paisa: int, direction: str, now_ns: int) -> Outcome:
        participant = self.participants.get(bic)
        if participant is None or bic == self.scheme.central_bank_bic:
            return Outcome("not_found", reason="RC01", text=f"{bic} is not a participant")
        if amount_paisa <= 0:
            return Outcome("rejected", reason="AM01", text="amount must be positive")
        if direction == "in":
            debit, credit = self.central_account_id, participant.account_id
        elif direction == "out":
            debit, credit = participant.account_id, self.central_account_id
        else:
            return Outcome("rejected", reason="FF01", text="direction must be 'in' or 'out'")
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
            return Outcome("rejected", reason="AM04", text="settlement account cannot cover the withdrawal")
        if result is not CreateTransferResult.ok:
            return Outcome("rejected", reason="AM12", text=f"ledger refused: {result.name}")
        return Outcome("done")

    def apply_ack(self, bic: str, upto: int) -> Outcome:
        """Outcome.detail: the inbox's acknowledged sequence afterwards (an ack beyond the last message
        acknowledges up to it; an ack below an earlier one changes nothing)."""
        inbox = self.inboxes.get(bic)
        if inbox is not None:
            inbox.ack(upto)
        return Outcome("done", detail=inbox.acked_upto if inbox is not None else 0)

    def apply_alias_register(self, bic: str, alias: str, iban: str, name: str) -> Outcome:
        try:
            entry = self.directory.register(bic, alias, iban, name)
        except DirectoryError as exc:
            return Outcome("rejected", reason=exc.code, text=exc.text)
        return Outcome("done", detail=entry)

    def apply_alias_delete(self, bic: str, alias: str) -> Outcome:
        try:
            entry = self.directory.delete(bic, alias)
        except DirectoryError as exc:
            return Outcome("rejected", reason=exc.code, text=exc.text)
        return Outcome("done", detail=entry)

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
        message_format: str = "msgpack",
    ) -> Outcome:
        # Authorisation is checked at the edge (403, nothing enqueued); the core asserts it (a bug otherwise).
        assert sender == ct.debtor_agent and sender == ct.instructing_agent, (sender, ct.debtor_agent)
        existing_uetr = self.by_tx_id.get((ct.instructing_agent, ct.tx_id))
        existing = self.payments.get(existing_uetr or ct.uetr)
        if existing is not None:
            if existing.business_key() == ct.business_key():
                return Outcome(
                    "duplicate",
                    status=existing.status,
                    reason=existing.reason,
                    text=existing.reason_text,
                    payment=existing,
                )
            used = "TxId" if existing_uetr is not None else "UETR"
            return Outcome(
                "rejected",
                status=REJECTED,
                reason="AM05",
                text=f"duplicate: {used} already used by another payment",
            )
        participant = self.participants.get(sender)
        if participant is not None:
            participant.rendering = rendering
        accepted_ns = ct.acceptance_ns if 0 < ct.acceptance_ns <= now_ns else now_ns
        hard_stop_ns = accepted_ns + self.params.hard_stop_ms * NS_PER_MS
        payment = Payment(
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
        self._remember(payment)
        creditor = self.participants.get(ct.creditor_agent)
        if creditor is None or ct.creditor_agent == self.scheme.central_bank_bic:
            return self._reject_early(
                payment, "CNOR", f"creditor agent {ct.creditor_agent} is not a participant", now_ns
            )
        if ct.creditor_agent == ct.debtor_agent:
            return self._reject_early(
                payment, "AGNT", "debtor and creditor agent are the same participant: book it on-us", now_ns
            )
        if now_ns >= hard_stop_ns:
            return self._reject_early(
                payment, "AB06", "arrived after the hard time-out from AccptncDtTm", now_ns
            )
        if len(self.inboxes[ct.creditor_agent]) >= self.params.inbox_messages_max:
            # Shed load with a clear answer rather than grow the creditor agent's backlog without limit.
            return self._reject_early(payment, "AB08", "creditor agent is not taking its messages", now_ns)
        debtor = self.participants[sender]
        transfer_id = self._transfer_id()
        result = self._ledger_one(
            Transfer(
                id=transfer_id,
                debit_account_id=debtor.account_id,
                credit_account_id=creditor.account_id,
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
        self._push(ct.creditor_agent, ("pacs.008", ct.uetr))
        self.armed.append(payment)
        return Outcome("accepted", status=IN_FLIGHT, payment=payment)

    def _remember(self, payment: Payment) -> None:
        if len(self.payments) >= PAYMENTS_MAX:
            self._forget_oldest_final()
        self.payments[payment.uetr] = payment
        self.by_tx_id[(payment.instructing_agent, payment.tx_id)] = payment.uetr

    def _forget_oldest_final(self) -> None:
        for uetr, old in self.payments.items():
            if old.status != IN_FLIGHT:
                del self.payments[uetr]
                self.by_tx_id.pop((old.instructing_agent, old.tx_id), None)
                return

    def _reject_early(self, payment: Payment, reason: str, text: str, now_ns: int) -> Outcome:
        """Rejected before reaching the creditor: recorded so that a resend gets the same answer."""
        self._finalise(payment, REJECTED, reason, text, now_ns)
        return Outcome("rejected", status=REJECTED, reason=reason, text=text, payment=payment)

    def apply_creditor_status(
        self, sender: str, uetr: str, status: str, reason: str | None, text: str | None, now_ns: int
    ) -> Outcome:
        """The creditor agent's pacs.002 for a forwarded pacs.008."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome("not_found", reason="NOOR", text=f"no payment with UETR {uetr}")
        if sender != payment.creditor_agent:
            return Outcome("forbidden", text="only the creditor agent may answer this payment")
        if payment.status != IN_FLIGHT:
            # Late or repeated answer: the payment's final status stands and is what the creditor is told. It
            # is noted, so that the payment's history shows a creditor answering twice or after the timeout.
            payment.note(now_ns, f"creditor {status} after final", reason or "")
            return Outcome(
                "final",
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
            self._push(payment.debtor_agent, ("pacs.002", uetr, SETTLED, None, None))
            self._push(payment.creditor_agent, ("pacs.002", uetr, SETTLED, None, None))
        elif status == REJECTED:
            result = self._resolve_pending(payment, TransferFlags.VOID_PENDING_TRANSFER, now_ns)
            assert result is CreateTransferResult.ok, result
            reason = reason or "MS03"
            text = text or "rejected by the creditor agent"
            self._finalise(payment, REJECTED, reason, text, now_ns)
            self._push(payment.debtor_agent, ("pacs.002", uetr, REJECTED, reason, text))
        elif status in MORE_TIME_STATUSES:
            # 'Needs more time' (FedNow ACWP): wait up to the hard stop, never beyond it.
            payment.deadline_ns = payment.accepted_ns + self.params.hard_stop_ms * NS_PER_MS
            self.armed.append(payment)
            return Outcome("accepted", status=IN_FLIGHT, payment=payment)
        else:
            return Outcome("rejected", reason="FF01", text=f"TxSts {status} is not an answer to a pacs.008")
        return Outcome(
            "final", status=payment.status, reason=payment.reason, text=payment.reason_text, payment=payment
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
        payment = self.payments.get(uetr)
        if payment is None or payment.status != IN_FLIGHT or now_ns < payment.deadline_ns:
            return Outcome("done")  # answered meanwhile, or the deadline was extended (ACWP)
        result = self._resolve_pending(payment, TransferFlags.VOID_PENDING_TRANSFER, now_ns)
        assert result is CreateTransferResult.ok, result
        text = "no answer from the creditor agent within the scheme timeout"
        self._finalise(payment, REJECTED, "AB05", text, now_ns)
        self._push(payment.debtor_agent, ("pacs.002", uetr, REJECTED, "AB05", text))
        self._push(payment.creditor_agent, ("pacs.002", uetr, REJECTED, "AB05", text))
        return Outcome("final", status=REJECTED, reason="AB05", text=text, payment=payment)

    def apply_redeliver(self, uetr: str, now_ns: int) -> Outcome:
        """A forwarded pacs.008 delivered to its creditor agent once more (the operator's Redeliver)."""
        payment = self.payments.get(uetr)
        if payment is None or payment.transfer_id == 0:
            return Outcome("not_found", reason="NOOR", text=f"no payment with UETR {uetr} was forwarded")
        creditor = payment.creditor_agent
        if len(self.inboxes[creditor]) >= self.params.inbox_messages_max:
            return Outcome("rejected", reason="AB08", text="the creditor agent is not taking its messages")
        payment.note(now_ns, "redelivered", "pacs.008")
        self._push(creditor, ("pacs.008", uetr))
        return Outcome("done", payment=payment)

    def in_flight(self) -> list[Payment]:
        return [p for p in self.payments.values() if p.status == IN_FLIGHT]

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
    ) -> Outcome:
        """pacs.004 from the creditor agent: a new transfer back to the debtor agent, within the window."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome("rejected", status=REJECTED, reason="NOOR", text=f"no payment with UETR {uetr}")
        if sender != payment.creditor_agent:
            return Outcome("forbidden", text="only the original creditor agent may return a payment")
        seen = self.returns_by_id.get((sender, return_id))
        if seen is not None:
            record = next((r for r in payment.returns if r.return_id == return_id), None)
            if seen == uetr and record is not None and record.amount_paisa == amount_paisa:
                return Outcome("duplicate", status=SETTLED, payment=payment, detail=record)
            return Outcome("rejected", status=REJECTED, reason="AM05", text=f"RtrId {return_id} already used")
        if payment.status != SETTLED:
            return Outcome("rejected", status=REJECTED, reason="NOOR", text="the payment was never settled")
        if now_ns - payment.final_ns > self.params.return_window_s * NS_PER_S:
            return Outcome("rejected", status=REJECTED, reason="TM01", text="outside the return window")
        if amount_paisa <= 0 or payment.returned_paisa + amount_paisa > payment.amount_paisa:
            return Outcome(
                "rejected",
                status=REJECTED,
                reason="AM09",
                text="return exceeds what remains of the original amount",
            )
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
                "rejected",
                status=REJECTED,
                reason="AM04",
                text="creditor agent's settlement account cannot cover the return",
            )
        if result is not CreateTransferResult.ok:
            return Outcome("rejected", status=REJECTED, reason="AM12", text=f"ledger refused: {result.name}")
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
        self.returns_by_id[(sender, return_id)] = uetr
        if reason == "FOCR":
            for recall in payment.recalls:
                if recall.state == "PDCR":
                    recall.state = "ACCR"
        self._push(payment.debtor_agent, ("pacs.004", uetr, len(payment.returns) - 1))
        return Outcome("final", status=SETTLED, payment=payment, detail=record)

    def apply_recall(
        self,
        sender: str,
        rendering: str,
        cancellation_id: str,
        uetr: str,
        reason: str,
        message: bytes,
        now_ns: int,
    ) -> Outcome:
        """camt.056 from the debtor agent, relayed to the creditor agent, who answers camt.029 or pacs.004."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome("rejected", status="RJCR", reason="NOOR", text=f"no payment with UETR {uetr}")
        if sender != payment.debtor_agent:
            return Outcome("forbidden", text="only the original debtor agent may recall a payment")
        if any(r.cancellation_id == cancellation_id for r in payment.recalls):
            return Outcome("duplicate", status="PDCR", payment=payment)
        if payment.status != SETTLED:
            return Outcome("rejected", status="RJCR", reason="NOOR", text="the payment was never settled")
        if payment.returned_paisa >= payment.amount_paisa:
            return Outcome("rejected", status="RJCR", reason="ARDT", text="the payment was already returned")
        if len(payment.recalls) >= HISTORY_EVENTS_MAX:
            return Outcome("rejected", status="RJCR", reason="AGNT", text="too many recalls for one payment")
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
        self._push(payment.creditor_agent, ("camt.056", uetr, len(payment.recalls) - 1))
        return Outcome("relayed", status="PDCR", payment=payment)

    def apply_resolution(
        self,
        sender: str,
        rendering: str,
        uetr: str,
        status: str,
        reason: str | None,
        message: bytes,
        now_ns: int,
    ) -> Outcome:
        """camt.029 from the creditor agent: the recall is refused (or pending); relayed to the debtor agent."""
        payment = self.payments.get(uetr)
        if payment is None:
            return Outcome("not_found", reason="NOOR", text=f"no payment with UETR {uetr}")
        if sender != payment.creditor_agent:
            return Outcome("forbidden", text="only the creditor agent may answer a recall of this payment")
        recall = next((r for r in reversed(payment.recalls) if r.state == "PDCR"), None)
        if recall is None:
            return Outcome("rejected", reason="NOOR", text="no open recall for this payment")
        recall.state = status if status in ("RJCR", "PDCR", "ACCR") else "RJCR"
        recall.resolution = message
        recall.resolution_rendering = rendering
        payment.note(now_ns, f"recall {recall.state}", reason or "")
        self._push(payment.debtor_agent, ("camt.029", uetr, payment.recalls.index(recall)))
        return Outcome("relayed", status=recall.state, payment=payment)

    # ---- request to pay

    def apply_request_to_pay(
        self, sender: str, rendering: str, msg_id: str, payer_agent: str, message: bytes, now_ns: int
    ) -> Outcome:
        """pain.013 from the payee's agent, relayed to the payer's agent."""
        existing = self.rtps.get(msg_id)
        if existing is not None:
            if existing.payee_agent == sender and existing.payer_agent == payer_agent:
                return Outcome("duplicate", status=existing.status, detail=existing)
            return Outcome("rejected", status=REJECTED, reason="AM05", text=f"MsgId {msg_id} already used")
        if payer_agent not in self.participants or payer_agent == self.scheme.central_bank_bic:
            return Outcome(
                "rejected",
                status=REJECTED,
                reason="RC03",
                text=f"payer's agent {payer_agent} is not a participant",
            )
        if len(self.rtps) >= RTPS_MAX:
            oldest = next(iter(self.rtps))
            del self.rtps[oldest]
        rtp = RequestToPay(
            msg_id=msg_id,
            payee_agent=sender,
            payer_agent=payer_agent,
            message=message,
            rendering=rendering,
            at_ns=now_ns,
        )
        self.rtps[msg_id] = rtp
        self._push(payer_agent, ("pain.013", msg_id))
        return Outcome("relayed", status="PDNG", detail=rtp)

    def apply_request_to_pay_status(
        self,
        sender: str,
        rendering: str,
        original_msg_id: str,
        status: str,
        reason: str | None,
        message: bytes,
        now_ns: int,
    ) -> Outcome:
        """pain.014 from the payer's agent, relayed to the payee's agent."""
        rtp = self.rtps.get(original_msg_id)
        if rtp is None:
            return Outcome("not_found", reason="NOOR", text=f"no request to pay with MsgId {original_msg_id}")
        if sender != rtp.payer_agent:
            return Outcome("forbidden", text="only the payer's agent may answer this request to pay")
        rtp.status = status
        rtp.reason = reason
        rtp.answer = message
        rtp.answer_rendering = rendering
        self._push(rtp.payee_agent, ("pain.014", original_msg_id))
        return Outcome("relayed", status=status, detail=rtp)

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
    inboxes: list[tuple[str, list]]
    payments: list[Payment]
    returns_by_id: list[tuple[str, str, str]]
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
        payments=list(s.payments.values()),
        returns_by_id=[(a, b, u) for (a, b), u in s.returns_by_id.items()],
        rtps=list(s.rtps.values()),
        aliases=s.directory.entries(),
        next_transfer_id=s.next_transfer_id,
        genesis_done=s.genesis_done,
        admin_token_hash=s.admin_token_hash,
    )


def settlement_from_state(state: SettlementState, scheme: Scheme | None = None) -> Settlement:
    s = Settlement(scheme or state.scheme)
    s.ledger = Ledger.from_snapshot(state.ledger)
    s.participants = {p.bic: p for p in state.participants}
    s.inboxes = {bic: Inbox.from_state(bic, inbox_state) for bic, inbox_state in state.inboxes}
    s.payments = {p.uetr: p for p in state.payments}
    s.by_tx_id = {(p.instructing_agent, p.tx_id): p.uetr for p in state.payments}
    s.returns_by_id = {(a, b): u for a, b, u in state.returns_by_id}
    s.rtps = {r.msg_id: r for r in state.rtps}
    s.directory.load(state.aliases)
    s.next_transfer_id = state.next_transfer_id
    s.genesis_done = state.genesis_done
    s.admin_token_hash = state.admin_token_hash
    return s

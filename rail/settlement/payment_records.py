"""What the rail records of a payment: the compact view of a pacs.008 and the payment with its returns and recalls.

Plain msgspec structs, shared by the state machine (rail/settlement/payments.py) and the payment book that keeps them for the
retention window (rail/settlement/payment_book.py).
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

HISTORY_EVENTS_MAX = 32  # per payment: a payment has a handful of events, a bound stops a chatty client


class PaymentStatus(StrEnum):
    """A payment's status at the rail, as pacs.002 TxSts spells it."""

    IN_FLIGHT = "ACTC"  # accepted by the rail, waiting for the creditor agent
    SETTLED = "ACSC"
    REJECTED = "RJCT"


IN_FLIGHT = PaymentStatus.IN_FLIGHT
SETTLED = PaymentStatus.SETTLED
REJECTED = PaymentStatus.REJECTED


class MessageFormat(StrEnum):
    """How the rail keeps a message it forwards: the sender's own text (XML or JSON, forwarded whole), or, for a
    message a participant in this process handed over as a struct, msgpack of that struct."""

    XML = "xml"
    JSON = "json"
    MSGPACK = "msgpack"

POSITIVE_CREDITOR_STATUSES = frozenset({"ACSP", "ACCP", "ACSC", "ACCC"})
MORE_TIME_STATUSES = frozenset({"ACWP", "PDNG"})
# Interim answers a creditor agent may send before its final one (ACTC: its technical validation passed;
# RCVD: received): noted, and the payment keeps waiting for the final answer within the same deadline.
INTERIM_CREDITOR_STATUSES = frozenset({"ACTC", "RCVD"})


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
    status: PaymentStatus
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
    message_format: MessageFormat = MessageFormat.MSGPACK

    def business_key(self) -> tuple:
        return business_key(self)

    def note(self, at_ns: int, event: str, detail: str = "") -> None:
        if len(self.history) < HISTORY_EVENTS_MAX:
            self.history.append((at_ns, event, detail))


# ---- what the state machine keeps beside payments, and what it answers

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# Ledger transfer codes: what kind of business event moved the money (shown by the ledger to auditors).
CODE_PAYMENT = 1
CODE_RETURN = 2
CODE_LIQUIDITY = 3
RTPS_MAX = 500_000


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
    # The key its webhook pushes are signed with (HMAC-SHA256, rail/api/webhook_signature.py), and the one it
    # replaced, still signing until previous_until_ns (a rotation's grace period). Kept as they are: the rail
    # must sign with them, so the data directory holds them (protect it as the bank's own secrets).
    webhook_secret: str | None = None
    webhook_previous_secret: str | None = None
    webhook_previous_until_ns: int = 0


class OutcomeKind(StrEnum):
    """What became of a command: the API layer answers by it (rail/api/dispatch.py)."""

    ACCEPTED = "accepted"  # taken, in flight (a payment waiting for its creditor agent)
    FINAL = "final"  # reached a final status now
    REJECTED = "rejected"  # refused by a rule (reason code); a payment may be recorded as RJCT
    DUPLICATE = "duplicate"  # the same message again: the original answer
    FORBIDDEN = "forbidden"  # the sender may not do this to this payment
    NOT_FOUND = "not_found"  # no such payment or request
    RELAYED = "relayed"  # passed on to the counterparty
    DONE = "done"  # an operation without a payment (admin, alias, acknowledgement)
    UNAVAILABLE = "unavailable"  # not recorded, retry later (the payment book is at its retention limit)


class Outcome(msgspec.Struct, gc=False):
    """What the submitter of a command is told. `kind` drives the HTTP status; codes are ISO reasons.
    status/reason/text are the payment's as of the command (not as read later: the live payment may have moved
    on in a batch that is not durable yet)."""

    kind: OutcomeKind
    status: str | None = None
    reason: str | None = None
    text: str | None = None
    payment: Payment | None = None
    detail: object = None

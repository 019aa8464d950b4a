"""The journaled commands: everything that changes the books is one of these, tagged and compact (msgpack arrays),
and `apply_command` is the one dispatch from a command to the state machine (rail/settlement/payments.py), used live
by the core and by replay alike. A command carries everything its effect depends on, the time excepted: the
batch's timestamp is journaled once beside its commands.
"""

from __future__ import annotations

import msgspec

from rail.scheme import Scheme, SchemeParams
from rail.settlement.payments import CreditTransfer, MessageFormat, Outcome, OutcomeKind, Settlement
from rail.settlement.reset import reset_books


class Command(msgspec.Struct, tag=True, array_like=True, frozen=True, gc=False):
    """Base of everything the core journals. The batch's timestamp is journaled once, beside them."""


class Genesis(Command, tag="gen"):
    """The scheme the rail was born with (banks, prefunding, customers' Raast IDs): journaled, so that a replay
    rebuilds the same books even if the code's default scheme changes later."""

    scheme: Scheme | None = None


class AddParticipant(Command, tag="par"):
    bic: str
    name: str
    token_hash: str | None
    callback_url: str | None
    # Its own request rate limit (admin's choice; None: the scheme default). Journaled: it survives restarts.
    requests_per_s: float | None = None
    requests_burst: float | None = None
    webhook_secret: str | None = None  # issued with the token (None in journals from before webhook signing)


class SetWebhookSecret(Command, tag="whs"):
    """A participant's new webhook signing key; the current one keeps signing until previous_until_ns."""

    bic: str
    secret: str
    previous_until_ns: int


class Reset(Command, tag="rst"):
    """The sandbox back to the default scheme (rail/settlement/reset.py): what it discards, what it keeps."""

    keep_tokens: bool


class SetParams(Command, tag="prm"):
    """The scheme parameters in force from this batch on (timers, windows, limits). Journaled whenever a start
    brings different ones: replay applies each command under the parameters it was applied with, whatever
    the replaying process was started with."""

    params: SchemeParams


class SetAdminToken(Command, tag="adm"):
    """The operator's token, as its SHA-256 (never the token): set at a start with --admin-token, or generated
    at the first start without one; a restart without one keeps the last."""

    token_hash: str


class Liquidity(Command, tag="liq"):
    bic: str
    amount_paisa: int
    direction: str


class SubmitCreditTransfer(Command, tag="p8"):
    sender: str
    rendering: str
    ct: CreditTransfer
    message: bytes
    message_format: MessageFormat = MessageFormat.MSGPACK  # xml | json: the inbound bytes themselves


class CreditorStatus(Command, tag="p2"):
    sender: str
    uetr: str
    status: str
    reason: str | None
    text: str | None


class Timeout(Command, tag="to"):
    uetr: str


class SubmitReturn(Command, tag="p4"):
    sender: str
    rendering: str
    return_id: str
    uetr: str
    amount_paisa: int
    reason: str
    message: bytes
    message_format: MessageFormat = MessageFormat.MSGPACK


class SubmitRecall(Command, tag="c56"):
    sender: str
    rendering: str
    cancellation_id: str
    uetr: str
    reason: str
    message: bytes
    message_format: MessageFormat = MessageFormat.MSGPACK


class SubmitResolution(Command, tag="c29"):
    sender: str
    rendering: str
    uetr: str
    status: str
    reason: str | None
    message: bytes
    message_format: MessageFormat = MessageFormat.MSGPACK


class SubmitRequestToPay(Command, tag="p13"):
    sender: str
    rendering: str
    msg_id: str
    payer_agent: str
    message: bytes
    message_format: MessageFormat = MessageFormat.MSGPACK


class SubmitRequestToPayStatus(Command, tag="p14"):
    sender: str
    rendering: str
    original_msg_id: str
    status: str
    reason: str | None
    message: bytes
    payee_agent: str | None = None  # the pain.014's CdtrAgt: whose MsgId it answers
    message_format: MessageFormat = MessageFormat.MSGPACK


class AliasRegister(Command, tag="ar"):
    sender: str
    alias: str
    iban: str
    name: str


class AliasDelete(Command, tag="ad"):
    sender: str
    alias: str


class Ack(Command, tag="ack"):
    bic: str
    upto: int


class Redeliver(Command, tag="rdl"):
    """The operator puts a forwarded pacs.008 in its creditor agent's inbox once more (sandbox testing of
    duplicate handling: an at-least-once transport may deliver a message twice)."""

    uetr: str


AnyCommand = (
    Genesis
    | AddParticipant
    | Liquidity
    | SubmitCreditTransfer
    | CreditorStatus
    | Timeout
    | SubmitReturn
    | SubmitRecall
    | SubmitResolution
    | SubmitRequestToPay
    | SubmitRequestToPayStatus
    | AliasRegister
    | AliasDelete
    | Ack
    | SetAdminToken
    | SetParams
    | Redeliver
    | SetWebhookSecret
    | Reset
)

_ENCODER = msgspec.msgpack.Encoder()
COMMAND_DECODER = msgspec.msgpack.Decoder(AnyCommand)


def encode_command(command: Command) -> bytes:
    return _ENCODER.encode(command)


def apply_command(s: Settlement, c: Command, now_ns: int) -> Outcome:
    """The one dispatch from a command to the state machine: used live and by replay alike."""
    kind = type(c)
    if kind is SubmitCreditTransfer:
        return s.apply_credit_transfer(c.sender, c.rendering, c.ct, c.message, now_ns, c.message_format)
    if kind is CreditorStatus:
        return s.apply_creditor_status(c.sender, c.uetr, c.status, c.reason, c.text, now_ns)
    if kind is Ack:
        return s.apply_ack(c.bic, c.upto)
    if kind is Timeout:
        return s.apply_timeout(c.uetr, now_ns)
    if kind is SubmitReturn:
        return s.apply_return(
            c.sender, c.rendering, c.return_id, c.uetr, c.amount_paisa, c.reason, c.message, now_ns,
            c.message_format,
        )  # fmt: skip
    if kind is SubmitRecall:
        return s.apply_recall(
            c.sender, c.rendering, c.cancellation_id, c.uetr, c.reason, c.message, now_ns, c.message_format
        )
    if kind is SubmitResolution:
        return s.apply_resolution(
            c.sender, c.rendering, c.uetr, c.status, c.reason, c.message, now_ns, c.message_format
        )
    if kind is SubmitRequestToPay:
        return s.apply_request_to_pay(
            c.sender, c.rendering, c.msg_id, c.payer_agent, c.message, now_ns, c.message_format
        )
    if kind is SubmitRequestToPayStatus:
        return s.apply_request_to_pay_status(
            c.sender, c.rendering, c.original_msg_id, c.status, c.reason, c.message, now_ns, c.payee_agent,
            c.message_format,
        )  # fmt: skip
    if kind is AliasRegister:
        return s.apply_alias_register(c.sender, c.alias, c.iban, c.name)
    if kind is AliasDelete:
        return s.apply_alias_delete(c.sender, c.alias)
    if kind is AddParticipant:
        return s.apply_add_participant(
            c.bic,
            c.name,
            c.token_hash,
            c.callback_url,
            now_ns,
            rate_limit=(c.requests_per_s, c.requests_burst),
            webhook_secret=c.webhook_secret,
        )
    if kind is Liquidity:
        return s.apply_liquidity(c.bic, c.amount_paisa, c.direction, now_ns)
    if kind is Redeliver:
        return s.apply_redeliver(c.uetr, now_ns)
    if kind is SetWebhookSecret:
        return s.apply_webhook_secret(c.bic, c.secret, c.previous_until_ns)
    if kind is Reset:
        return reset_books(s, c.keep_tokens, now_ns)
    if kind is SetAdminToken:
        s.admin_token_hash = c.token_hash
        return Outcome(OutcomeKind.DONE)
    if kind is SetParams:
        s.configure(c.params)
        return Outcome(OutcomeKind.DONE)
    if kind is Genesis:
        if c.scheme is not None:  # the journaled scheme, parameters included (SetParams changes them later)
            s.scheme = c.scheme
            s.configure(c.scheme.params)
        return s.apply_genesis(now_ns)
    raise AssertionError(f"unknown command {kind.__name__}")



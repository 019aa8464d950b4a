"""The outbox: what a participant's inbox references stand for, as messages, and inbox pages.

The settlement core puts references in inboxes (rail/settlement/delivery.py's InboxRef: a forwarded pacs.008,
a final status report, a relayed message); here each becomes its message when read, in the reader's rendering:
a forwarded message whole, as its sender wrote it (its own bytes when the renderings match and no header is
involved), a final pacs.002 from the report cache (rail/api/replies.py), with business application headers when
the payment came with one. Readers see only entries whose batch is durable (the inbox's `visible`).
"""

from __future__ import annotations

import hashlib

import msgspec
import orjson

from rail import iso20022
from rail.api.metrics import RailMetrics
from rail.api.replies import CONTENT_TYPES, MSG_NAMES, InboundMessage, Replies, utc
from rail.api.traces import IN_PROCESS, INBOX, Tracer
from rail.iso20022 import bah, forward
from rail.iso20022.structs import AppHdr, Camt029, Camt056, Pacs004, Pacs008, Pain013, Pain014
from rail.recent import RecentDict
from rail.settlement.commands import Ack
from rail.settlement.core import SettlementCore
from rail.settlement.delivery import (
    INBOX_FETCH_MAX,
    ForwardedPayment,
    InboxRef,
    StatusReport,
)
from rail.settlement.payments import MessageFormat, Payment

WAIT_S_MAX = 30.0  # Prefer: wait=N and long-poll ceiling
# Decoded pacs.008 kept from the edge until the creditor reads it, so in-process participants (inbox_structs)
# get the struct without a second parse of the debtor's bytes. ~3 KB each: a creditor reads within seconds,
# so 20,000 (20 s at 1,000 payments/s) is plenty and keeps them out of the memory per retained payment.
FORWARDED_STRUCTS_CACHED_MAX = 20_000
UNPACKERS = {
    "pacs.008": msgspec.msgpack.Decoder(Pacs008),
    "pacs.004": msgspec.msgpack.Decoder(Pacs004),
    "camt.056": msgspec.msgpack.Decoder(Camt056),
    "camt.029": msgspec.msgpack.Decoder(Camt029),
    "pain.013": msgspec.msgpack.Decoder(Pain013),
    "pain.014": msgspec.msgpack.Decoder(Pain014),
}

InboxItem = tuple[int, str, InboundMessage]  # (seq, msg_type, message struct): an in-process inbox read


class ForwardedStructs(RecentDict):
    """pacs.008 structs by UETR, from the debtor's submit to the creditor's read (bounded, oldest out first). A
    dict, so that `in` and `get` on the hot path are the dict's own."""

    def __init__(self) -> None:
        super().__init__(FORWARDED_STRUCTS_CACHED_MAX)

    def keep(self, uetr: str, message: Pacs008) -> None:
        self.remember(uetr, message)

    def drop(self, uetr: str) -> None:
        self.pop(uetr, None)


def _identity(ref: InboxRef) -> tuple:
    """What makes an inbox message this message: a forwarded pacs.008 is known by its UETR alone (the final
    reports name it in their Rltd header); a payment may see several returns or recalls."""
    if isinstance(ref, ForwardedPayment):
        return ("pacs.008", ref.uetr)
    if isinstance(ref, StatusReport):
        return ("pacs.002", ref.uetr, str(ref.status), ref.reason, ref.text)
    return (ref.msg_type, ref.key, ref.at_ns, hashlib.blake2b(ref.message, digest_size=16).digest())


def inbox_id(bic: str, identity: tuple) -> str:
    """BizMsgIdr of the header on an inbox message: the same each time the message is read (it may be read
    again before it is acknowledged), different for every message and recipient (Max35Text)."""
    return "RAAST" + hashlib.blake2b(repr((bic, identity)).encode(), digest_size=15).hexdigest()


class Outbox:
    """Inbox pages of one rail: rendered (HTTP, webhooks) or as structs (in-process participants)."""

    def __init__(
        self,
        core: SettlementCore,
        rail_bic: str,
        replies: Replies,
        metrics: RailMetrics,
        forwarded: ForwardedStructs,
        tracer: Tracer,
    ) -> None:
        self.core = core
        self.rail_bic = rail_bic
        self.replies = replies
        self.metrics = metrics
        self.forwarded = forwarded
        self.tracer = tracer

    # ---- reading

    async def inbox_structs(self, bic: str, wait_s: float, max_n: int) -> list[InboxItem]:
        """In-process inbox read: (seq, msg_type, message struct), no rendering at all."""
        inbox = self.core.inbox(bic)
        if inbox is None:
            return []
        await inbox.wait(min(max(wait_s, 0.0), WAIT_S_MAX))
        out = []
        entries = inbox.visible(min(max_n, INBOX_FETCH_MAX))
        for seq, ref in entries:
            message = self._build(bic, ref)
            if message is not None:
                out.append((seq, MSG_NAMES[ref.msg_type], message))
        self.tracer.delivered(bic, IN_PROCESS, entries, None)
        return out

    async def inbox(self, bic: str, wait_s: float, max_n: int, rendering: str | None = None) -> dict:
        """GET /v1/inbox: the waiting messages in order, in the participant's rendering (XML as a string)."""
        inbox = self.core.inbox(bic)
        if inbox is None:
            return {"messages": [], "acked_upto": 0}
        await inbox.wait(min(max(wait_s, 0.0), WAIT_S_MAX))
        return self.inbox_page(bic, max_n, rendering)

    def inbox_page(
        self, bic: str, max_n: int, rendering: str | None = None, delivered: list | None = None
    ) -> dict:
        """The visible messages of `bic`'s inbox now (default rendering: that of its last payment). They are
        traced as read from the inbox, or, given `delivered`, appended to it as (seq, InboxRef, bytes) for the
        caller to trace (a webhook, once it knows how its push went)."""
        inbox = self.core.inbox(bic)
        assert inbox is not None, f"{bic} has no inbox"
        rendering = rendering or self.core.rendering_of(bic)
        messages = []
        traced = [] if delivered is None else delivered
        for seq, ref in inbox.visible(max(1, min(max_n, INBOX_FETCH_MAX))):
            body = self._render(bic, ref, rendering)
            if body is None:
                continue
            traced.append((seq, ref, body))
            messages.append(
                {
                    "seq": seq,
                    "msg_type": MSG_NAMES[ref.msg_type],
                    "message": body.decode("utf-8", "replace") if rendering == "xml" else orjson.loads(body),
                }
            )
        self.metrics.inbox_depth.labels(bic).set(len(inbox))
        if delivered is None:
            self.tracer.delivered(bic, INBOX, traced, rendering)
        return {"messages": messages, "acked_upto": inbox.durable_acked_upto, "rendering": rendering}

    async def ack(self, bic: str, upto: int) -> int:
        """Acknowledge inbox messages up to ``upto``; returns the sequence actually acknowledged (once durable)."""
        if not isinstance(upto, int) or isinstance(upto, bool) or upto < 0:
            raise ValueError("upto must be a non-negative integer sequence number")
        outcome = await self.core.execute(Ack(bic=bic, upto=upto))
        return outcome.detail

    # ---- a reference as a message

    def _build(self, bic: str, ref: InboxRef) -> InboundMessage | None:
        """The message an inbox reference stands for, as a struct."""
        if isinstance(ref, StatusReport):
            payment = self.core.payment_record(ref.uetr)
            if payment is None:
                return None
            return self.replies.final_report_struct(payment, ref.status, ref.reason, ref.text, bic)
        if isinstance(ref, ForwardedPayment):
            cached = self.forwarded.get(ref.uetr)
            if cached is not None:
                return cached
        if ref.message_format == MessageFormat.MSGPACK:
            return UNPACKERS[ref.msg_type].decode(ref.message)
        return iso20022.decode(ref.message, CONTENT_TYPES[ref.message_format]).message

    def _render(self, bic: str, ref: InboxRef, rendering: str) -> bytes | None:
        """The message an inbox reference stands for, in `rendering`: a forwarded message whole, as its sender
        wrote it (the bytes themselves when the renderings match and no header is involved)."""
        if isinstance(ref, StatusReport):
            payment = self.core.payment_record(ref.uetr)
            if payment is None:
                return None
            body = self.replies.final_report(payment, ref.status, ref.reason, ref.text, rendering, bic)
            header = self._report_header(payment, bic, ref)
            return body if header is None else forward.with_header(body, rendering, header)
        message, fmt = ref.message, ref.message_format
        if fmt == MessageFormat.MSGPACK:
            return iso20022.encode(UNPACKERS[ref.msg_type].decode(message), rendering)
        sender = forward.sender_header(message, fmt)
        if sender is None and fmt == rendering:
            return message
        header = None
        if sender is not None:
            header = bah.forward_header(
                sender,
                rail_bic=self.rail_bic,
                to_bic=bic,
                biz_msg_idr=inbox_id(bic, _identity(ref)),
                cre_dt=utc(ref.at_ns),
            )
        return forward.forwarded(message, fmt, rendering, header)

    def _report_header(self, payment: Payment, bic: str, ref: StatusReport) -> AppHdr | None:
        """The header of an agent's final pacs.002 when the payment came with one: Rltd is, for the debtor
        agent, its pacs.008's header; for the creditor agent, the header of the pacs.008 the rail sent it."""
        if payment.message_format == MessageFormat.MSGPACK:
            return None
        sender = forward.sender_header(payment.message, payment.message_format)
        if sender is None:
            return None
        about = sender
        if bic != payment.debtor_agent:
            about = bah.forward_header(
                sender,
                rail_bic=self.rail_bic,
                to_bic=bic,
                biz_msg_idr=inbox_id(bic, ("pacs.008", payment.uetr)),
                cre_dt=utc(payment.received_ns),
            )
        return bah.rail_header(
            rail_bic=self.rail_bic,
            to=sender if bic == payment.debtor_agent else bic,
            msg_def_idr=MSG_NAMES["pacs.002"],
            biz_msg_idr=inbox_id(bic, _identity(ref)),
            cre_dt=utc(payment.final_ns or payment.received_ns),
            about=about,
        )

"""What `GET /v1/payments/{uetr}/messages` and `GET /v1/traces/unmatched` answer: the kept messages
(rail/api/trace_store.py) as the caller may see them (a participant its own side, the operator all), each with
what it says (status, reason, the element a rule failure names) read from the message itself, and a payment's
rejection explained in words (the ISO definition of its reason code, who decided it, and why).
"""

from __future__ import annotations

import asyncio
import re

import msgspec

from rail import iso20022
from rail.api.outbox import UNPACKERS
from rail.api.payment_list import iso_time, payment_summary
from rail.api.trace_store import TraceRecord
from rail.api.traces import Tracer
from rail.iso20022 import MessageRejected, codes
from rail.iso20022.structs import Admi002, Camt029, Pacs002
from rail.settlement.core import SettlementCore
from rail.settlement.payments import REJECTED, Payment, Settlement

# What a rule failure's AddtlInf starts with: the element path (rail/iso20022/profile_checks.py reason_text).
_PATH = re.compile(r"[A-Z][A-Za-z0-9]*(?:\[\d+\])?(?:/[A-Z][A-Za-z0-9]*(?:\[\d+\])?)+")
_READABLE = {"pacs.002", "admi.002", "camt.029"}  # messages whose status and reason a trace shows


def _says(record: TraceRecord) -> tuple[str | None, str | None, str | None]:
    """(status, reason, element path) a message states: read from its body, else as recorded."""
    if record.body is None or record.msg_type not in _READABLE or record.rendering not in ("xml", "json"):
        return record.status, record.reason, None
    try:
        message = iso20022.decode(record.body, iso20022.CONTENT_TYPES[record.rendering]).message
    except (MessageRejected, ValueError, KeyError):
        return record.status, record.reason, None
    if isinstance(message, Admi002):
        return "RJCT", message.rjctg_pty_rsn, message.err_lctn
    if isinstance(message, Pacs002) and message.tx_inf_and_sts:
        tx = message.tx
        found = _PATH.match(tx.sts_rsn_addtl_inf or "") if tx.tx_sts == "RJCT" else None
        return tx.tx_sts, tx.sts_rsn_cd or tx.sts_rsn_prtry, found.group(0) if found else None
    if isinstance(message, Camt029) and message.tx_inf_and_sts:
        tx = message.tx
        return tx.tx_cxl_sts, tx.cxl_sts_rsn_cd or tx.cxl_sts_rsn_prtry, None
    return record.status, record.reason, None


def _body_text(record: TraceRecord) -> tuple[str | None, str | None, bool]:
    """(body as text, its rendering, exactly as sent?): a struct the sender handed over (msgpack) is shown in
    JSON, rendered now."""
    body = record.body
    if body is None:
        return None, None, False
    if record.rendering == "msgpack":
        unpacker = UNPACKERS.get(record.msg_type)
        if unpacker is None:
            return None, None, False
        try:
            return iso20022.encode(unpacker.decode(body), "json").decode(), "json", False
        except (msgspec.DecodeError, ValueError):
            return None, None, False
    return body.decode("utf-8", "replace"), record.rendering or None, True


def message_view(seq: int, record: TraceRecord, rail_bic: str) -> dict:
    status, reason, element_path = _says(record)
    body, rendering, as_sent = _body_text(record)
    incoming = record.direction == "in"
    return {
        "seq": seq,
        "at": iso_time(record.at_ns),
        "uetr": record.uetr or None,
        "direction": record.direction,
        "sender": record.participant if incoming else rail_bic,
        "receiver": rail_bic if incoming else record.participant,
        "msg_type": record.msg_type,
        "rendering": rendering,
        "http_status": record.http_status or None,
        "status": status,
        "reason": reason,
        "element_path": element_path,
        "duration_ms": record.duration_us / 1000 if record.duration_us >= 0 else None,
        "channel": record.channel,
        "as_sent": as_sent,
        "body": body,
        "error": record.error,
        "inbox_seq": record.inbox_seq or None,
    }


def _definition(code: str | None) -> str:
    """The code and its ISO definition, as one sentence without its full stop (the caller adds it: some
    definitions end with one)."""
    text = codes.STATUS_REASONS.get(code or "", "").rstrip(".")
    return f"{code}: {text}" if text else f"{code}"


def payment_explained(p: Payment) -> str | None:
    """Why a rejected payment was rejected, in words."""
    if p.status != REJECTED:
        return None
    if p.creditor_status == "RJCT":
        who = f"The creditor agent {p.creditor_agent} rejected the payment."
    elif p.reason == "AB05":
        who = (f"The creditor agent {p.creditor_agent} did not answer within the scheme's creditor timeout, so "
               "the rail rejected the payment and released the reserved funds.")
    elif p.transfer_id == 0:
        who = "The rail rejected the payment before reserving any money."
    else:
        who = "The rail rejected the payment and released the reserved funds."
    said = f" Reason text: {p.reason_text}" if p.reason_text else ""
    return f"{_definition(p.reason)}. {who}{said}"


def refusal_explained(views: list[dict]) -> str | None:
    """Why the last refused message was refused (a payment the rail never recorded: refused at the edge)."""
    for view in reversed(views):
        if view["direction"] == "out" and view["status"] == "RJCT" and view["reason"]:
            where = f" The element at fault: {view['element_path']}." if view["element_path"] else ""
            return (f"{_definition(view['reason'])}. The rail refused the {_question_of(views, view)} before "
                    f"recording any payment.{where}")
    return None


def _question_of(views: list[dict], answer: dict) -> str:
    before = [v for v in views if v["seq"] < answer["seq"] and v["direction"] == "in"]
    return f"{before[-1]['msg_type']} from {before[-1]['sender']}" if before else "message"


class TraceViews:
    """The two reads of the message traces."""

    def __init__(self, tracer: Tracer, core: SettlementCore, currency: str, rail_bic: str) -> None:
        self.tracer = tracer
        self.core = core
        self.currency = currency
        self.rail_bic = rail_bic

    async def payment(self, uetr: str, viewer: str | None) -> dict | None:
        """None when the caller can see neither the payment nor any message about it (404, not 403)."""
        await self.tracer.flush()
        store = self.tracer.store
        records = []
        if store is not None:
            records = await asyncio.to_thread(store.records_of, uetr, store.locations(uetr))
        # In time order: an exchange is written when it ends (after a Prefer: wait, say), its question is dated
        # when it arrived, before what the rail did about it meanwhile.
        records.sort(key=lambda item: (item[1].at_ns, item[0]))
        views = [message_view(seq, r, self.rail_bic) for seq, r in records
                 if viewer is None or r.participant == viewer]  # fmt: skip

        def read(s: Settlement) -> tuple[dict, str | None] | None:
            p = s.payments.get(uetr)
            if p is None or (viewer is not None and viewer not in (p.debtor_agent, p.creditor_agent)):
                return None
            return payment_summary(p, self.currency), payment_explained(p)

        found = await self.core.query(read)
        if found is None and not views:
            return None
        summary, explained = found if found is not None else (None, None)
        if explained and views:
            paths = [v["element_path"] for v in views if v["element_path"]]
            explained += f" The element at fault: {paths[-1]}." if paths else ""
        return {"uetr": uetr, "payment": summary, "reason_explained": explained or refusal_explained(views),
                "messages": views}  # fmt: skip

    async def unmatched(self, bics: list[str]) -> dict:
        """The refusals of `bics` no UETR could be read from, newest first, each with its answer after it."""
        await self.tracer.flush()
        store = self.tracer.store
        if store is None:
            return {"messages": []}
        out: list[tuple[int, TraceRecord]] = []
        for bic in bics:
            out += await asyncio.to_thread(store.unmatched_of, store.unmatched_locations(bic))
        pairs: dict[int, list[dict]] = {}
        for seq, record in sorted(out, key=lambda item: item[0]):
            key = seq if record.direction == "in" else seq - 1
            pairs.setdefault(key, []).append(message_view(seq, record, self.rail_bic))
        return {"messages": [view for key in sorted(pairs, reverse=True) for view in pairs[key]]}

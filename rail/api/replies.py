"""The rail's answers: a transport-neutral Reply, and the ISO 20022 messages the rail writes (admi.002 refusals,
pacs.002 status reports, business application headers on answers), with the caches that make the final pacs.002
of a payment cost one encoding for both of its agents and every resend.

A status report says only what was durable when it was decided: the status a reply carries is the one captured
when its batch was applied (an Outcome, an inbox reference), never read from the live payment later.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import msgspec

from rail import iso20022
from rail.api.metrics import RailMetrics
from rail.clock import REAL_CLOCK, Clock
from rail.iso20022 import bah, forward
from rail.iso20022.structs import (
    Acmt023,
    Admi002,
    AppHdr,
    Camt029,
    Camt056,
    Pacs002,
    Pacs004,
    Pacs008,
    Pacs028,
    Pain013,
    Pain014,
    TxInfAndSts,
)
from rail.recent import RecentDict
from rail.settlement.core import CoreStopped, Overloaded
from rail.settlement.payments import IN_FLIGHT, REJECTED, SETTLED, Outcome, Payment

# Final pacs.002 kept (as a struct and encoded per rendering) for the debtor, the creditor and resends: both
# agents read it within seconds, so 20,000 (20 s at 1,000 payments/s; ~3 KB each with its struct) is plenty.
FINAL_REPORTS_CACHED_MAX = 20_000
ADDTL_INF_MAX = 105  # StsRsnInf/AddtlInf is Max105Text
CONTENT_TYPES = iso20022.CONTENT_TYPES
# "pacs.008" -> "pacs.008.001.08": the message versions the rail speaks, from the codec's one table.
MSG_NAMES = {msg_type[:8]: msg_type for msg_type in iso20022.MSG_TYPES}

InboundMessage = Pacs008 | Pacs002 | Pacs004 | Pacs028 | Camt056 | Camt029 | Pain013 | Pain014 | Acmt023
# The status a report states, as captured when its batch was applied: (status, reason, text).
StatusTuple = tuple[str, str | None, str | None]


class Reply:
    """One answer of the rail, transport-neutral: HTTP status, content type, body, extra headers.

    The body is rendered on first read: an HTTP edge always reads it, while an in-process participant that
    only needs the status (202 ACTC) never pays for rendering a message it would not look at."""

    __slots__ = ("_body", "_render", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        content_type: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        render: Callable[[], bytes] | None = None,
    ) -> None:
        assert (body is None) != (render is None), "a reply has either a body or a way to render it"
        self.status = status
        self.content_type = content_type
        self.headers = headers if headers is not None else {}
        self._body = body
        self._render = render

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = self._render()
            self._render = None
        return self._body

    @property
    def rendered(self) -> bytes | None:
        """The body if something has read it, without rendering it (None: nobody has, e.g. an in-process
        caller that needed only the status): what the message traces keep of an answer."""
        return self._body

    def then(self, change: Callable[[bytes], bytes]) -> None:
        """Apply ``change`` to the body when it is rendered (e.g. add a business application header)."""
        if self._body is not None:
            body, self._body = self._body, None
            self._render = lambda: change(body)
        else:
            render = self._render
            self._render = lambda: change(render())

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.content_type!r}, {self.body[:120]!r}...)"


class OriginalIds(NamedTuple):
    """The ids of an inbound message a pacs.002 about it quotes (OrgnlMsgId, OrgnlEndToEndId, ...)."""

    msg_id: str | None
    end_to_end_id: str | None = None
    tx_id: str | None = None
    uetr: str | None = None


def original_ids(m: InboundMessage) -> OriginalIds:
    """The ids a report about ``m`` quotes: its own, or those of the transaction it is about."""
    if isinstance(m, Pacs008):
        tx = m.cdt_trf_tx_inf[0] if m.cdt_trf_tx_inf else None
        return OriginalIds(m.msg_id, *((tx.end_to_end_id, tx.tx_id, tx.uetr) if tx else ()))
    if isinstance(m, Pain013):
        tx = m.pmt_inf[0] if m.pmt_inf else None
        return OriginalIds(m.msg_id, *((tx.end_to_end_id, None, tx.uetr) if tx else ()))
    if isinstance(m, (Pacs002, Camt029)):
        items = m.tx_inf_and_sts
    elif isinstance(m, (Pacs004, Pacs028, Camt056)):
        items = m.tx_inf
    else:  # acmt.023, pain.014: no transaction a pacs.002 could quote
        return OriginalIds(m.msg_id)
    message_id = m.assgnmt_id if isinstance(m, (Camt056, Camt029)) else m.msg_id
    if not items:
        return OriginalIds(message_id)
    tx = items[0]
    return OriginalIds(message_id, tx.orgnl_end_to_end_id, tx.orgnl_tx_id, tx.orgnl_uetr)


def utc(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)


_now_cache: list = [0, None]  # [millisecond, its datetime]


def now_utc(clock: Clock = REAL_CLOCK) -> dt.datetime:
    """Now by `clock`, to the millisecond (CreDtTm of the rail's messages): one datetime object per millisecond,
    so the many reports of one core batch share it and its rendering (iso20022 remembers recent ones)."""
    ms = clock.now_ns() // 1_000_000
    if ms != _now_cache[0]:
        _now_cache[0] = ms
        _now_cache[1] = dt.datetime.fromtimestamp(ms / 1e3, dt.UTC)
    return _now_cache[1]


def short(text: str | None, limit: int = ADDTL_INF_MAX) -> str | None:
    return None if text is None else text[:limit]


def _copy_msg_id(shared_msg_id: str, payment: Payment, to_bic: str) -> str:
    """MsgId of an agent's copy of a payment's final report: each copy is a message of its own (Max35Text)."""
    return shared_msg_id + ("D" if to_bic == payment.debtor_agent else "C")


class Replies:
    """The messages the rail answers with, each with a MsgId of its own (prefix + counter)."""

    def __init__(
        self, rail_bic: str, metrics: RailMetrics, msg_id_prefix: str | None = None, clock: Clock = REAL_CLOCK
    ) -> None:
        self.clock = clock  # the core's: simulated time in `rail simulate`
        self.rail_bic = rail_bic
        self.metrics = metrics
        self._msg_ids = itertools.count(1)
        self._msg_id_prefix = msg_id_prefix or f"RAAST{clock.now_ns() // 1_000_000_000:010d}"
        self._final_reports: RecentDict = RecentDict(FINAL_REPORTS_CACHED_MAX)  # (uetr, status, rendering)
        self._final_report_structs: RecentDict = RecentDict(FINAL_REPORTS_CACHED_MAX)  # (uetr, status)


    def now(self) -> dt.datetime:
        """Now by the rail's clock, to the millisecond (CreDtTm of the messages it builds)."""
        return now_utc(self.clock)
    def new_msg_id(self) -> str:
        return f"{self._msg_id_prefix}{next(self._msg_ids):012d}"

    # ---- refusals

    def encoded(self, status: int, message, rendering: str, headers: dict | None = None) -> Reply:
        return Reply(
            status,
            CONTENT_TYPES[rendering],
            headers=headers,
            render=partial(iso20022.encode, message, rendering),
        )

    def admi002(
        self,
        status: int,
        rendering: str,
        related_ref: str | None,
        code: str,
        text: str,
        location: str | None = None,
        headers: dict | None = None,
    ) -> Reply:
        """An admi.002 answer: the message cannot be processed as a business message (or is not allowed)."""
        reject = Admi002(
            rltd_ref=(related_ref or "UNKNOWN")[:35],
            rjctg_pty_rsn=code[:35],
            rjctn_dt_tm=self.now(),
            err_lctn=short(location, 350),
            rsn_desc=short(text, 350),
        )
        return self.encoded(status, reject, rendering, headers)

    def forbidden(self, rendering: str, related_ref: str | None, text: str) -> Reply:
        self.metrics.messages_rejected.labels("AUTH").inc()
        return self.admi002(403, rendering, related_ref, "AUTH", text)

    def unavailable(self, error: Overloaded | CoreStopped, m: InboundMessage | None, rendering: str) -> Reply:
        """503 when the core sheds load (retry in a second) or is not running (retry later)."""
        retry_after_s = "1" if isinstance(error, Overloaded) else "5"
        related = original_ids(m).msg_id if m is not None else None
        return self.admi002(
            503, rendering, related, "AB10", str(error), headers={"Retry-After": retry_after_s}
        )

    def too_large(self, rendering: str, body_bytes_max: int) -> Reply:
        return self.admi002(413, rendering, None, "FF01", f"body above {body_bytes_max} bytes")

    def reject(
        self,
        status: int,
        m: InboundMessage,
        msg_type: str,
        rendering: str,
        bic: str,
        code: str,
        text: str | None,
    ) -> Reply:
        """A pacs.002 RJCT for a message the rail refuses, with as many original ids as it carries."""
        return self.encoded(status, self.report_about(m, msg_type, bic, REJECTED, code, text), rendering)

    def acknowledge(
        self, status: int, m: InboundMessage, msg_type: str, rendering: str, bic: str, tx_status: str
    ) -> Reply:
        """pacs.002 about a non-payment message (relayed: ACTC; a settled return: ACSC)."""
        return self.encoded(status, self.report_about(m, msg_type, bic, tx_status, None, None), rendering)

    def report_about(
        self, m: InboundMessage, msg_type: str, bic: str, tx_status: str, code: str | None, text: str | None
    ) -> Pacs002:
        """A pacs.002 about any inbound message (not only pacs.008), from the rail to `bic`."""
        ids = original_ids(m)
        return Pacs002(
            msg_id=self.new_msg_id(),
            cre_dt_tm=self.now(),
            instg_agt_bicfi=self.rail_bic,
            instd_agt_bicfi=bic,
            tx_inf_and_sts=[
                TxInfAndSts(
                    orgnl_msg_id=ids.msg_id,
                    orgnl_msg_nm_id=MSG_NAMES.get(msg_type, msg_type),
                    orgnl_end_to_end_id=ids.end_to_end_id,
                    orgnl_tx_id=ids.tx_id,
                    orgnl_uetr=ids.uetr,
                    tx_sts=tx_status,
                    sts_rsn_cd=code,
                    sts_rsn_addtl_inf=short(text),
                )
            ],
        )

    # ---- a payment's status

    def status_reply(
        self,
        http_status: int,
        payment: Payment,
        bic: str,
        rendering: str,
        status: Outcome | StatusTuple,
        pending_code: str = "ACTC",
        *,
        fresh: bool = False,
    ) -> Reply:
        """A pacs.002 on ``payment`` for ``bic`` with ``status``: (status, reason, text) as captured when its
        batch was applied (an Outcome carries them), never read from the live payment. Its copy of the final
        report once there is one (the same message a resend or its inbox gets), else, or when ``fresh`` (the
        answer to a pacs.028), a new report with its own MsgId and CreDtTm."""
        if isinstance(status, Outcome):
            status = (status.status, status.reason, status.text)
        if status[0] != IN_FLIGHT and not fresh:
            render = partial(self.final_report, payment, *status, rendering, bic)
            return Reply(http_status, CONTENT_TYPES[rendering], render=render)
        # The report says only what cannot change any more (a final status; or ids, acceptance, the
        # reservation), so it is built when first read, even if the payment has become final by then.
        render = partial(self._render_report, payment, status, bic, pending_code, rendering)
        return Reply(http_status, CONTENT_TYPES[rendering], render=render)

    def _render_report(
        self, payment: Payment, status: StatusTuple, bic: str, pending_code: str, rendering: str
    ) -> bytes:
        code, reason, text = status
        if code == IN_FLIGHT:
            report = self._status_report(payment, bic, IN_FLIGHT, None, text, pending_code)
        else:
            report = self._status_report(payment, bic, code, reason, text)
        return iso20022.encode(report, rendering)

    def final_report(
        self, p: Payment, status: str, reason: str | None, text: str | None, rendering: str, to_bic: str
    ) -> bytes:
        """``to_bic``'s copy of the final pacs.002 of a payment. The report is encoded once per rendering (the
        status is final, so it never changes) and each agent's copy differs only in its MsgId, spliced in."""
        key = (p.uetr, status, rendering)
        body = self._final_reports.get(key)
        shared = self._shared_final_report(p, status, reason, text)
        if body is None:
            body = iso20022.encode(shared, rendering)
            self._final_reports.remember(key, body)
        copy_id = _copy_msg_id(shared.msg_id, p, to_bic).encode()
        mark = b">" if rendering == iso20022.XML else b'"'
        return body.replace(mark + shared.msg_id.encode() + mark, mark + copy_id + mark, 1)

    def final_report_struct(
        self, p: Payment, status: str, reason: str | None, text: str | None, to_bic: str
    ) -> Pacs002:
        """``to_bic``'s final pacs.002 as a struct (what in-process readers get): its own MsgId."""
        shared = self._shared_final_report(p, status, reason, text)
        return msgspec.structs.replace(shared, msg_id=_copy_msg_id(shared.msg_id, p, to_bic))

    def _shared_final_report(self, p: Payment, status: str, reason: str | None, text: str | None) -> Pacs002:
        """The final pacs.002 both agents' copies are made from, built once (its MsgId is never sent)."""
        key = (p.uetr, status)
        report = self._final_report_structs.get(key)
        if report is None:
            report = self._status_report(p, None, status, reason, text)
            self._final_report_structs.remember(key, report)
        return report

    def _status_report(
        self,
        p: Payment,
        to_bic: str | None,
        status: str,
        reason: str | None,
        text: str | None,
        pending_code: str = "ACTC",
    ) -> Pacs002:
        final = status != IN_FLIGHT
        return Pacs002(
            msg_id=self.new_msg_id(),
            cre_dt_tm=self.now(),
            instg_agt_bicfi=self.rail_bic,
            instd_agt_bicfi=to_bic,
            tx_inf_and_sts=[
                TxInfAndSts(
                    orgnl_msg_id=p.msg_id,
                    orgnl_msg_nm_id="pacs.008.001.08",
                    orgnl_end_to_end_id=p.end_to_end_id,
                    orgnl_tx_id=p.tx_id,
                    orgnl_uetr=p.uetr,
                    tx_sts=status if final else pending_code,
                    sts_rsn_cd=reason,
                    sts_rsn_addtl_inf=short(text),
                    accptnc_dt_tm=utc(p.accepted_ns),
                    fctv_intr_bk_sttlm_dt=utc(p.final_ns).date() if status == SETTLED else None,
                    clr_sys_ref=f"RAAST{p.transfer_id:016d}" if p.transfer_id else None,
                    instg_agt_bicfi=p.debtor_agent,
                    instd_agt_bicfi=p.creditor_agent,
                )
            ],
        )

    # ---- business application headers

    def with_reply_header(self, reply: Reply, request: AppHdr | None, to_bic: str | None = None) -> Reply:
        """``reply`` with the rail's business application header when the request carried one (Fr the rail,
        To the requester, Rltd the request's header: rail/iso20022/bah.py)."""
        if request is None:
            return reply
        rendering = iso20022.rendering_of(reply.content_type)

        def add(body: bytes) -> bytes:
            header = bah.reply_header(
                request,
                rail_bic=self.rail_bic,
                msg_def_idr=forward.msg_type_of(body, rendering),
                biz_msg_idr=self.new_msg_id(),
                cre_dt=self.now(),
                to=to_bic,
            )
            return forward.with_header(body, rendering, header)

        reply.then(add)
        return reply

"""Message traces: every message in and out of the rail, kept per payment (rail/api/trace_store.py), at no cost
the hot path could measure.

On the hot path a message costs one tuple appended to a list: references to what is there anyway (the sender's
bytes, the decoded struct, the Reply, the inbox references of a page). Nothing is rendered, copied or keyed
there. A background writer takes the list once per FLUSH_S, turns each entry into TraceRecords (the UETR from
the struct, or read from the bytes of a message refused before it could be decoded; the answer's bytes when the
transport rendered them), and hands the frame to the store in a worker thread. The settlement core never waits
for any of it. Readers flush first (`await tracer.flush()`), so what a caller just sent is in its trace.

What is kept of each message is what crossed the API layer: bytes when there were bytes (a request's body, the
rail's answer as rendered for the transport, an inbox page's messages as rendered, a forwarded message as its
sender wrote it); for a participant inside the rail process, which hands over and reads message structs, the
type, ids, status and reason without a body (there were no bytes; rendering them here would cost the hot path).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from rail.api.replies import Reply, original_ids
from rail.api.trace_store import FRAME_RECORDS_MAX, TraceRecord, TraceSettings, TraceStore
from rail.settlement.delivery import ForwardedPayment, RelayedMessage, StatusReport

log = logging.getLogger(__name__)

FLUSH_S = 0.25
#: Entries waiting for the writer at most; beyond it (a writer far behind) new ones are counted, not kept.
BUFFER_ENTRIES_MAX = 200_000
REQUEST, INBOX, WEBHOOK, IN_PROCESS = "request", "inbox", "webhook", "in-process"
_EXCHANGE, _DELIVERY = 0, 1
_XML_TYPE = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.\d{3})")
_JSON_TYPE = re.compile(rb'"MsgDefIdr"\s*:\s*"([a-z]{4}\.\d{3})')
_UETR = re.compile(rb'(?:<(?:Orgnl)?UETR>|"(?:Orgnl)?UETR"\s*:\s*")\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-'
                   rb'[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})')
_RENDERED_BY_FORMAT = {"xml": "xml", "json": "json", "msgpack": "msgpack"}


def sniff_type(body: bytes | None) -> str:
    """A message's short type (pacs.008) read from its namespace or MsgDefIdr; "unknown" when neither."""
    if not body:
        return "unknown"
    head = body[:4096]
    found = _XML_TYPE.search(head) or _JSON_TYPE.search(head)
    return found.group(1).decode() if found else "unknown"


def sniff_uetr(body: bytes | None) -> str:
    found = _UETR.search(body) if body else None
    return found.group(1).decode().lower() if found else ""


def _answer_type(question: str, http_status: int) -> str:
    """What the rail answers a message with, for an answer nobody rendered (an in-process caller that read only
    its status): the refusals are admi.002, a recall the rail itself refuses camt.029, a lookup acmt.024."""
    if http_status in (400, 403, 413, 429, 503):
        return "admi.002"
    return {"acmt.023": "acmt.024", "camt.056": "camt.029" if http_status == 422 else "pacs.002"}.get(
        question, "pacs.002")  # fmt: skip


class Tracer:
    """The hot path's side (`exchange`, `delivered`) and the background writer."""

    def __init__(self, rail_bic: str, store: TraceStore | None) -> None:
        self.rail_bic = rail_bic
        self.store = store
        # None when traces are off: each hook is one attribute test
        self._buffer: list | None = [] if store is not None else None
        self._traced_upto: dict[str, int] = {}  # bic -> highest inbox seq traced (each delivered message once)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self.dropped = 0
        self.written = 0

    @classmethod
    def open(cls, rail_bic: str, directory, settings: TraceSettings | None) -> Tracer:
        settings = settings or TraceSettings()
        return cls(rail_bic, TraceStore(directory, settings) if settings.enabled else None)

    # ---- the hot path

    def exchange(self, bic: str, channel: str, body: bytes | None, message, msg_type: str | None,
                 rendering: str, reply: Reply, started_ns: int) -> None:
        """A message from `bic` and the rail's answer (`message`: its decoded struct, None when refused before)."""
        buffer = self._buffer
        if buffer is None:
            return
        if len(buffer) >= BUFFER_ENTRIES_MAX:
            self.dropped += 1
            return
        buffer.append((_EXCHANGE, started_ns, time.time_ns(), bic, channel, body, message, msg_type, rendering,
                       reply))  # fmt: skip

    def delivered(self, bic: str, channel: str, entries: list, rendering: str | None, http_status: int = 200,
                  duration_ns: int = -1, error: str | None = None) -> None:
        """Inbox messages given to `bic`: `entries` are (seq, InboxRef) or (seq, InboxRef, rendered bytes).
        Each inbox message is traced once, when first delivered (a redelivery before its acknowledgement is
        not a new message)."""
        buffer = self._buffer
        if buffer is None or not entries:
            return
        upto = self._traced_upto.get(bic, 0)
        if entries[-1][0] <= upto:
            return
        if len(buffer) >= BUFFER_ENTRIES_MAX:
            self.dropped += 1
            return
        self._traced_upto[bic] = entries[-1][0]
        buffer.append((_DELIVERY, time.time_ns(), upto, bic, channel, entries, rendering, http_status,
                       duration_ns, error))  # fmt: skip

    # ---- the writer

    def start(self) -> None:
        if self.store is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="trace-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.store is not None:
            await self.flush()
            self.store.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self.flush()
            except OSError:  # a full or failing disk loses traces, never settlement
                log.exception("traces: writing failed; traces of the last %.2f s are lost", FLUSH_S)

    async def flush(self) -> None:
        """Write everything traced so far (readers call it first: what was just sent is in its trace)."""
        store = self.store
        if store is None:
            return
        async with self._lock:
            entries, self._buffer = self._buffer, []
            if not entries:
                return
            frames = list(self._frames(entries))
            for records, index in frames:
                now_ns = time.time_ns()
                where = await asyncio.to_thread(store.append, records, index, now_ns)
                store.indexed(where, index, now_ns)
                self.written += len(records)

    def _frames(self, entries: list):
        """(records, index) per frame of at most ~FRAME_RECORDS_MAX records; an exchange's two records stay
        together (the unmatched list finds an answer right after its question)."""
        records: list[TraceRecord] = []
        for entry in entries:
            if entry[0] == _EXCHANGE:
                records += self._exchange_records(entry)
            else:
                records += self._delivery_records(entry)
            if len(records) >= FRAME_RECORDS_MAX:
                yield records, _index(records)
                records = []
        if records:
            yield records, _index(records)

    def _exchange_records(self, entry: tuple) -> tuple[TraceRecord, TraceRecord]:
        _, started_ns, ended_ns, bic, channel, body, message, msg_type, rendering, reply = entry
        uetr = (original_ids(message).uetr or "") if message is not None else sniff_uetr(body)
        msg_type = msg_type or sniff_type(body)
        status = reason = None
        if body is None and message is not None:  # an in-process struct: what it says, without bytes
            status, reason = _struct_status(message)
        duration_us = (ended_ns - started_ns) // 1_000
        question = TraceRecord(started_ns, bic, "in", channel, msg_type, rendering if body is not None else "",
                               reply.status, duration_us, uetr, body, status, reason)  # fmt: skip
        answer_body = reply.rendered
        answer_type = sniff_type(answer_body) if answer_body else _answer_type(msg_type, reply.status)
        answer_rendering = rendering if answer_body is not None else ""
        answer = TraceRecord(ended_ns, bic, "out", channel, answer_type, answer_rendering, reply.status,
                             duration_us, uetr, answer_body)  # fmt: skip
        return question, answer

    def _delivery_records(self, entry: tuple) -> list[TraceRecord]:
        _, at_ns, upto, bic, channel, items, rendering, http_status, duration_ns, error = entry
        duration_us = duration_ns // 1_000 if duration_ns >= 0 else -1
        out = []
        for item in items:
            seq, ref = item[0], item[1]
            if seq <= upto:
                continue
            body, status, reason, kept_as = _delivered_body(item, rendering)
            out.append(TraceRecord(at_ns, bic, "out", channel, ref.msg_type, kept_as, http_status, duration_us,
                                   _ref_uetr(ref), body, status, reason, error, seq))  # fmt: skip
        return out


def _struct_status(message) -> tuple[str | None, str | None]:
    items = getattr(message, "tx_inf_and_sts", None)
    if not items:
        return None, None
    tx = items[0]
    status = getattr(tx, "tx_sts", None) or getattr(tx, "tx_cxl_sts", None)
    reason = getattr(tx, "sts_rsn_cd", None) or getattr(tx, "cxl_sts_rsn_cd", None)
    return status, reason


def _ref_uetr(ref) -> str:
    if isinstance(ref, RelayedMessage):
        return ref.key if ref.msg_type[:4] != "pain" else ""  # a request to pay is keyed by its MsgId
    return ref.uetr


def _delivered_body(item: tuple, rendering: str | None) -> tuple[bytes | None, str | None, str | None, str]:
    """(body, status, reason, how the body is kept) of one delivered inbox message."""
    ref = item[1]
    if len(item) > 2:  # rendered for the participant (inbox page, webhook)
        return item[2], None, None, rendering or ""
    if isinstance(ref, StatusReport):
        return None, str(ref.status), ref.reason, ""
    if isinstance(ref, (ForwardedPayment, RelayedMessage)):  # the sender's own message, as it kept it
        return ref.message, None, None, _RENDERED_BY_FORMAT[str(ref.message_format)]
    return None, None, None, ""


def _index(records: list[TraceRecord]) -> list[tuple[str, str, bool]]:
    """The frame's index: each record's UETR and participant; a refused message no UETR could be read from
    (and its answer, right after it) goes to the participant's unmatched list."""
    return [(r.uetr, r.participant, not r.uetr and r.direction == "in" and r.http_status >= 400)
            for r in records]  # fmt: skip

"""Message traces: every message in and out of the rail, kept per payment (rail/api/trace_store.py), at no cost
the hot path could measure.

On the hot path a message costs one tuple appended to a list, of what is at hand anyway: the sender's bytes, the
UETR (read off the decoded struct), the Reply, the inbox references of a page read. Nothing is rendered or copied
there. A background writer takes the list every FLUSH_S and encodes it as it is, in one msgpack call (the
tuples are the trace entries' wire form; a Reply encodes as the bytes the transport rendered for it, or nil),
then hands the frame to the store in a worker thread. The settlement core never waits for any of it. Readers
flush first (`await tracer.flush()`), so what a caller just sent is in its trace.

What is kept of each message is what crossed the API layer: bytes when there were bytes (a request's body, the
rail's answer as rendered for the transport, an inbox page's messages as rendered, a forwarded message as its
sender wrote it); for a participant inside the rail process, which hands over and reads message structs, the
type, UETR, status and reason without a body (there were no bytes; rendering them would cost the hot path). An
answer nobody rendered (an in-process caller that read only its status) was never a message: the question's
HTTP status says how it was answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_right
from operator import attrgetter, itemgetter

import msgspec

from rail.api.background import stop_task
from rail.api.replies import Reply, original_ids
from rail.api.trace_store import (
    ENTRIES_PER_FRAME_MAX,
    FrameIndex,
    TraceSettings,
    TraceStore,
    sniff_type,
    sniff_uetr,
)
from rail.iso20022.structs import Pacs002, Pacs008

log = logging.getLogger(__name__)

FLUSH_S = 0.25
#: Entries waiting for the writer at most; beyond it (a writer far behind) new ones are counted, not kept.
BUFFER_ENTRIES_MAX = 200_000
REQUEST, INBOX, WEBHOOK, IN_PROCESS = "request", "inbox", "webhook", "in-process"
EXCHANGE, DELIVERY = 0, 1  # the tags of the two entry kinds (rail/api/trace_store.py's wire form)
def uetr_of(message) -> str:
    """The UETR of a decoded message (the one a pacs.002 reports on); "" when it has none."""
    reader = _UETR_OF.get(type(message))
    if reader is not None:
        return reader(message)
    return original_ids(message).uetr or ""


def _pacs008_uetr(m: Pacs008) -> str:
    return (m.cdt_trf_tx_inf[0].uetr or "") if m.cdt_trf_tx_inf else ""


def _pacs002_uetr(m: Pacs002) -> str:
    return (m.tx_inf_and_sts[0].orgnl_uetr or "") if m.tx_inf_and_sts else ""


_UETR_OF = {Pacs008: _pacs008_uetr, Pacs002: _pacs002_uetr}  # the hot path's two; others via original_ids


def struct_status(message) -> tuple[str | None, str | None]:
    """(status, reason) a status message states (pacs.002 TxSts, camt.029 TxCxlSts), for one without bytes."""
    items = getattr(message, "tx_inf_and_sts", None)
    if not items:
        return None, None
    tx = items[0]
    status = getattr(tx, "tx_sts", None) or getattr(tx, "tx_cxl_sts", None)
    reason = getattr(tx, "sts_rsn_cd", None) or getattr(tx, "cxl_sts_rsn_cd", None)
    return status, reason


def _reply_bytes(obj: object) -> bytes | None:
    """msgpack's hook for what it cannot encode itself: a Reply is the bytes its transport rendered, or nil."""
    if type(obj) is Reply:
        return obj.rendered
    # msgspec's enc_hook contract: this exception type tells it the object is not supported.
    raise NotImplementedError(f"a trace entry cannot hold {type(obj).__name__}")


_ENCODE = msgspec.msgpack.Encoder(enc_hook=_reply_bytes).encode


_seq = itemgetter(0)
_time_ns = time.time_ns  # (a global, not an attribute, on the hot path)


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
        """A message from `bic` and the rail's answer. `message`: the decoded struct (None: refused before it
        could be decoded, then its type and UETR are read from its bytes); `body`: its bytes (None: an
        in-process participant's struct, then its status and reason are kept instead)."""
        buffer = self._buffer
        if buffer is None:
            return
        if len(buffer) >= BUFFER_ENTRIES_MAX:
            self.dropped += 1
            return
        status = reason = None
        if message is None:
            uetr, msg_type = sniff_uetr(body), sniff_type(body)
        else:
            reader = _UETR_OF.get(type(message))
            uetr = reader(message) if reader is not None else uetr_of(message)
            if body is None:
                status, reason = struct_status(message)
        buffer.append((EXCHANGE, started_ns, _time_ns(), bic, channel, uetr, msg_type,
                       rendering if body is not None else "", reply.status, body, reply, status, reason))

    def delivered(self, bic: str, channel: str, entries: list, rendering: str | None, http_status: int = 200,
                  duration_ns: int = -1, error: str | None = None) -> None:
        """Inbox messages given to `bic`: `entries` are (seq, InboxRef) (read as structs in process) or (seq,
        InboxRef, rendered bytes). Each inbox message is traced once, when first delivered (a redelivery before
        its acknowledgement is not a new message)."""
        buffer = self._buffer
        if buffer is None or not entries:
            return
        upto = self._traced_upto.get(bic, 0)
        if entries[-1][0] <= upto:
            return
        if len(buffer) >= BUFFER_ENTRIES_MAX:
            self.dropped += 1
            return
        if entries[0][0] <= upto:  # a page read again before its acknowledgement: only the new messages
            entries = entries[bisect_right(entries, upto, key=_seq) :]
        self._traced_upto[bic] = entries[-1][0]
        buffer.append((DELIVERY, _time_ns(), upto, bic, channel, rendering or "", http_status, duration_ns,
                       error, entries))  # fmt: skip

    def forget_deliveries(self) -> None:
        """Inbox sequences start again (a sandbox reset): every inbox message is new again."""
        self._traced_upto.clear()

    # ---- the writer

    def start(self) -> None:
        if self.store is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="trace-writer")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self.store is not None:
            await self.flush()
            self.store.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def flush(self) -> None:
        """Write everything traced so far (readers call it first: what was just sent is in its trace)."""
        store = self.store
        if store is None:
            return
        async with self._lock:
            entries, self._buffer = self._buffer, []
            for start in range(0, len(entries), ENTRIES_PER_FRAME_MAX):
                chunk = entries[start : start + ENTRIES_PER_FRAME_MAX]
                index = frame_index(chunk)
                encoded = _ENCODE(chunk)  # on the loop: a Reply's rendering is read here, nowhere else
                now_ns = time.time_ns()
                try:
                    where = await asyncio.to_thread(store.append, encoded, index, now_ns)
                except OSError:  # a full or failing disk loses traces, never settlement, never an answer
                    log.exception("traces: writing failed; %d entries are lost", len(chunk))
                    self.dropped += len(chunk)
                    continue
                store.indexed(where, index, now_ns)
                self.written += len(chunk)

    async def clear(self) -> None:
        """Forget every trace (a sandbox reset)."""
        if self.store is None:
            return
        async with self._lock:
            self._buffer = []
            self.store.clear()
        self.forget_deliveries()


def frame_index(entries: list) -> FrameIndex:
    """The UETRs of a frame's entries (each once), and the refusals no UETR could be read from; in bulk, so the
    writer's work per message stays a few C calls."""
    uetrs: set[str] = set()
    unmatched: list[tuple[int, str]] = []
    for position, entry in enumerate(entries):
        if entry[0] == EXCHANGE:
            if entry[5]:
                uetrs.add(entry[5])
            elif entry[8] >= 400:
                unmatched.append((position, entry[3]))
        else:  # every inbox reference has its payment's UETR ("" for a request to pay)
            uetrs.update(map(_REF_UETR, map(_REF, entry[9])))
    uetrs.discard("")
    return FrameIndex(len(entries), list(uetrs), unmatched)


_REF = itemgetter(1)
_REF_UETR = attrgetter("uetr")

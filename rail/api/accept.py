"""Accept: the edge half of a submitted message, before anything reaches the settlement core.

A participant's bytes are decoded once (hardened XML or JSON: admi.002 on failure), its business application
header is checked to name the sender as itself (403), the message is validated against the RAAST profile (pacs.002
RJCT with the ISO reason and the element path) and must be a type the rail takes from participants. What passes is
an `Accepted` struct; nothing here reads settlement state, so an edge worker process runs exactly this
(rail/cluster/edge.py) and hands the struct to the core's dispatch (rail/api/dispatch.py).
"""

from __future__ import annotations

import time

import msgspec

from rail import iso20022
from rail.api.metrics import RailMetrics
from rail.api.replies import InboundMessage, Replies, Reply
from rail.iso20022 import MessageRejected, bah
from rail.iso20022.decode_pool import DecodePool, DecodeUnavailable
from rail.iso20022.profile import reason_text
from rail.iso20022.structs import Acmt024, AppHdr, Camt054, Decoded

# The messages a participant may send the rail (the rail itself sends the rest: admi.002, acmt.024, camt.054...).
ACCEPTED_TYPES = frozenset(
    {
        "pacs.008",
        "pacs.002",
        "pacs.028",
        "pacs.004",
        "camt.056",
        "camt.029",
        "pain.013",
        "pain.014",
        "acmt.023",
    }
)


class Accepted(msgspec.Struct, frozen=True, gc=False):
    """A message past the edge half of submit (decoded, schema- and profile-valid, a type the rail takes)."""

    msg_type: str  # short name: "pacs.008"
    rendering: str
    message: InboundMessage
    raw_body: bytes | None  # the sender's bytes as received: kept, and forwarded whole (None: re-rendered)
    header: AppHdr | None = None  # the sender's business application header, if it sent one


class Acceptor:
    """Decode, check and profile-validate participants' messages. `known_bics` is the live set of BICs that take
    part (the profile checks agents against it); it is shared, so admissions reach it at once."""

    def __init__(self, rail_bic: str, known_bics: set[str], replies: Replies, metrics: RailMetrics) -> None:
        self.rail_bic = rail_bic
        self.known_bics = known_bics
        self.replies = replies
        self.metrics = metrics
        self.decode_pool: DecodePool | None = None  # set by whoever opens one (`rail serve --decode-workers`)
        iso20022.warm_up()  # schemas and JSON decoders: not on a participant's first message

    def accept(self, bic: str, body: bytes, content_type: str) -> Reply | Accepted:
        """`bic`'s message (already authenticated): the refusal to answer, or what dispatch needs."""
        started_s = time.perf_counter()
        return self._not_a_sender(bic, content_type) or self._decode_here(bic, body, content_type, started_s)

    async def accept_pooled(self, bic: str, body: bytes, content_type: str) -> Reply | Accepted:
        """As `accept`, with the decode done by a worker of `decode_pool` when one can take it (the same
        `rail.iso20022.decode`, off this thread: rail/iso20022/decode_pool.py); in-process otherwise."""
        started_s = time.perf_counter()
        refusal = self._not_a_sender(bic, content_type)
        if refusal is not None:
            return refusal
        future = self.decode_pool.decode(body, content_type) if self.decode_pool is not None else None
        if future is None:
            return self._decode_here(bic, body, content_type, started_s)
        try:
            decoded = await future
        except MessageRejected as exc:
            return self._unreadable(exc, content_type)
        except DecodeUnavailable:  # the worker died holding it: the same decode, here
            return self._decode_here(bic, body, content_type, started_s)
        return self._accept_decoded(bic, body, decoded, started_s)

    def _decode_here(self, bic: str, body: bytes, content_type: str, started_s: float) -> Reply | Accepted:
        try:
            decoded = iso20022.decode(body, content_type)
        except MessageRejected as exc:
            return self._unreadable(exc, content_type)
        return self._accept_decoded(bic, body, decoded, started_s)

    def _not_a_sender(self, bic: str, content_type: str) -> Reply | None:
        if bic not in self.known_bics or bic == self.rail_bic:
            rendering = iso20022.rendering_of(content_type, default=iso20022.XML)
            return self.replies.admi002(
                403, rendering, None, "AUTH", f"{bic} is not a participant of this rail"
            )
        return None

    def _unreadable(self, exc: MessageRejected, content_type: str) -> Reply:
        self.metrics.messages_rejected.labels(exc.reason_code).inc()
        return self.replies.admi002(
            400,
            iso20022.rendering_of(content_type, default=iso20022.XML),
            exc.related_ref,
            exc.reason_code,
            exc.description,
            exc.error_location,
        )

    def _accept_decoded(self, bic: str, body: bytes, decoded: Decoded, started_s: float) -> Reply | Accepted:
        """The checks after the decode: the header names the sender, the RAAST profile, a type the rail takes."""
        message, rendering, header = decoded.message, decoded.rendering, decoded.header
        msg_type = decoded.msg_type[:8]
        self.metrics.messages_received.inc((msg_type, rendering))
        replies = self.replies
        if header is not None:
            problem = bah.sender_problem(header, bic)
            if problem is not None:
                refusal = replies.forbidden(rendering, header.biz_msg_idr, problem)
                return replies.with_reply_header(refusal, header, to_bic=bic)
        violations = iso20022.validate(message, iso20022.RAAST_PROFILE, self.known_bics)
        if violations:
            first = violations[0]
            self.metrics.messages_rejected.labels(first.code).inc()
            refusal = replies.reject(
                422, message, msg_type, rendering, bic, first.code, reason_text(violations)
            )
            return replies.with_reply_header(refusal, header)
        self.metrics.observe_edge(time.perf_counter() - started_s)
        if msg_type not in ACCEPTED_TYPES:
            text = f"{decoded.msg_type} is not accepted by the rail from participants (the rail sends it)"
            related = (
                message.msg_id if isinstance(message, (Acmt024, Camt054)) else None
            )  # admi.00x have none
            refusal = replies.admi002(400, rendering, related, "FF01", text)
            return replies.with_reply_header(refusal, header)
        # The sender's own bytes travel with the message: the rail keeps them and forwards them whole.
        return Accepted(msg_type, rendering, message, body, header)

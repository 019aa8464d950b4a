"""The wire between edge workers and the core (rail/cluster/edge.py, rail/cluster/edge_core.py): NATS subjects,
the structs that travel (msgpack), and the NATS helpers both sides use.

What travels is the API layer's own values (rail/api/http_types.py): a relayed request is its RequestHead and
body, every answer is a Response. A submit the edge accepted travels as its decoded struct (no second parse at
the core), batched: every submit of one edge's event-loop tick in one message, every answer of one core tick
to one edge in one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import msgspec

from rail.api.http_types import RequestHead, Response, error_response

PROXY_TIMEOUT_S = 40.0  # > WAIT_S_MAX (30 s long-poll) plus margin
#: Room left in max_payload for the part headers of a reply split in parts.
REPLY_PART_OVERHEAD_BYTES = 1_024
REPLY_PARTS_MAX = 64
#: What one answer (or submit) adds to its bytes in a batch message (msgpack framing, ref, status...), at most.
ANSWER_OVERHEAD_BYTES = 64
_PART = "Rail-Part"


def subjects(name: str) -> dict[str, str]:
    return {
        "submit": f"rail.{name}.edge.submit",
        "http": f"rail.{name}.edge.http",
        "config": f"rail.{name}.edge.config",
        "metrics": f"rail.{name}.edge.metrics",
    }


class EdgeSubmit(msgspec.Struct, array_like=True):
    """A message the edge accepted: the core needs nothing more to run its half."""

    ref: int  # the edge's number for it: the core's answer carries it back
    bic: str
    msg_type: str
    rendering: str
    wait_s: float | None
    message: bytes  # the decoded struct, msgpack
    raw_body: bytes | None  # the sender's own bytes: kept by the core and forwarded whole
    header: bytes | None = None  # the sender's AppHdr struct, msgpack (None: it sent none)


class EdgeSubmitBatch(msgspec.Struct, array_like=True):
    """Every submit an edge accepted in one event-loop tick: one NATS message instead of one per payment."""

    submits: list[EdgeSubmit]


class EdgeAnswers(msgspec.Struct, array_like=True):
    """The core's answers to one edge's submits that finished in one tick of the core, by `EdgeSubmit.ref`."""

    answers: list[tuple[int, Response]]


class RelayedRequest(msgspec.Struct, array_like=True):
    """Any other request an edge received, for the core's API layer to answer (`respond`)."""

    head: RequestHead
    body: bytes


class EdgeConfig(msgspec.Struct, array_like=True):
    scheme: bytes  # the core's Scheme, msgpack
    tokens: dict[str, str]  # token hash -> BIC
    known_bics: list[str]


ENCODER = msgspec.msgpack.Encoder()
SUBMIT_BATCH_DECODER = msgspec.msgpack.Decoder(EdgeSubmitBatch)
ANSWERS_DECODER = msgspec.msgpack.Decoder(EdgeAnswers)
REQUEST_DECODER = msgspec.msgpack.Decoder(RelayedRequest)
RESPONSE_DECODER = msgspec.msgpack.Decoder(Response)
CONFIG_DECODER = msgspec.msgpack.Decoder(EdgeConfig)


def unavailable(status: int = 503, detail: str = "settlement core unavailable") -> Response:
    """An edge's (or the core endpoint's) own answer when the core cannot answer: clear and retryable."""
    return error_response(status, "unavailable", detail, {"Retry-After": "1"})


def answer_size(response: Response) -> int:
    """An upper bound of an answer's size in an EdgeAnswers message."""
    headers = sum(len(name) + len(value) + 10 for name, value in response.headers.items())
    return len(response.body) + headers + ANSWER_OVERHEAD_BYTES


def submit_size(submit: EdgeSubmit) -> int:
    """An upper bound of a submit's size in an EdgeSubmitBatch message."""
    fields = len(submit.bic) + len(submit.msg_type) + len(submit.rendering)
    payload = len(submit.message) + len(submit.raw_body or b"") + len(submit.header or b"")
    return payload + fields + ANSWER_OVERHEAD_BYTES


async def connect(url: str, what: str) -> Any:
    """A nats-py client of `url` (reconnecting for ever), or ConnectionError saying what to check."""
    import nats

    from rail.cluster.nats_journal import OPEN_TIMEOUT_S, parse_nats_url

    servers, _name = parse_nats_url(url)
    last_error: list[BaseException] = []

    async def on_error(error: BaseException) -> None:
        last_error.append(error)

    try:
        return await asyncio.wait_for(
            nats.connect(servers, error_cb=on_error, reconnect_time_wait=0.2, max_reconnect_attempts=-1),
            OPEN_TIMEOUT_S,
        )
    except Exception as error:  # noqa: BLE001 - reported in one line
        cause = last_error[-1] if last_error else error
        raise ConnectionError(
            f"{what}: cannot reach NATS at {','.join(servers)} ({type(cause).__name__}: {cause}); "
            "check --nats and that nats-server is running"
        ) from None


async def respond_in_parts(nc: Any, reply_subject: str, payload: bytes) -> None:
    """A reply larger than one NATS message (an inbox page of many XML messages) goes in parts (Rail-Part)."""
    size = max(1, nc.max_payload - REPLY_PART_OVERHEAD_BYTES)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    for index, chunk in enumerate(chunks):
        await nc.publish(reply_subject, chunk, headers={_PART: f"{index + 1}/{len(chunks)}"})


async def request_in_parts(nc: Any, subject: str, payload: bytes, timeout_s: float) -> bytes:
    """A request whose reply may come in several messages (Rail-Part: i/n)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, max_msgs=REPLY_PARTS_MAX)
    try:
        await nc.publish(subject, payload, reply=inbox)
        deadline = time.monotonic() + timeout_s
        parts: list[bytes] = []
        while True:
            msg = await sub.next_msg(timeout=max(0.001, deadline - time.monotonic()))
            index, _, count = (msg.headers or {}).get(_PART, "1/1").partition("/")
            if int(index) != len(parts) + 1 or int(count) > REPLY_PARTS_MAX:
                raise ConnectionError("reply parts out of order")
            parts.append(msg.data)
            if int(index) == int(count):
                return b"".join(parts)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()

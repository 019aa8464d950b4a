"""Edge workers: the ISO 20022 edge in separate processes, handing validated messages to the one settlement core
over NATS request/reply.

    rail serve --workers 2 --nats nats://127.0.0.1:4222     # core + 2 local edge processes on --port
    python -m rail.cluster.edge --nats nats://core-host:4222 --port 8080   # one more edge, on another machine

Why: the settlement core is single-writer and fast (microseconds a command); what costs CPU per payment is
HTTP framing, the hardened XML/JSON decode and the RAAST profile checks (hundreds of microseconds). Those run
in the edges, any number of them, sharing the listening port (SO_REUSEPORT: the kernel spreads connections).

What an edge does for `POST /v1/messages`: authenticate the bearer token, bound the body, decode, validate
against the RAAST profile, check the message type (RailService.accept: the same code the in-process rail runs);
refusals are answered right there. An accepted message goes to the core as its decoded struct (msgpack, ~10 us
to decode, no second parse); the core runs the state machine half (RailService.dispatch, with the
per-participant rate limit, which must be global) and returns the Reply. The hand-off is batched both ways
(HandOff, CoreEndpoint._answer): all the submits an edge accepted in one event-loop tick travel as one NATS
message, all the answers the core finished in one tick go back to each edge as one. Every other route (inbox,
ack, payments, admin, metrics, healthz, openapi) is relayed as an HTTP request over the `http` subject; the
core answers it with its own HTTP app on a private loopback port, so every rule of rail/api/http.py applies
unchanged. Connections start in rail/api/http.py's HTTP/1.1 fast lane, with EdgeFastLaneService as its service:
POST /v1/messages and GET /v1/inbox skip aiohttp's per-request machinery at the edge as they do in the core.

Each edge counts its own work (rail/cluster/edge_metrics.py) and pushes the counts to the core every second; the core's
/metrics shows them with an `edge` label.

This module is the edge process and the wire between edge and core; the core's side (CoreEndpoint, and the
local edge processes of `rail serve --workers N`) is rail/cluster/edge_core.py.

Edges learn participants (token hashes, BICs) from the core (EDGE_CONFIG) at start, every
CONFIG_REFRESH_S, and at once when a token they do not know is presented (concurrent misses share one fetch).
Replies larger than one NATS message (an inbox page of many XML messages) come back in parts.

Trust: the core believes the BIC an edge says it authenticated. The NATS subjects are the trust boundary, so
when edges run on other machines, NATS must be reachable only by them (NATS accounts/credentials and TLS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
from aiohttp import web

from rail.cluster.edge_metrics import (
    EDGE_METRICS_PUSH_S,
    EdgeMetrics,
    encode_snapshot,
)

log = logging.getLogger(__name__)

#: Submits one edge has handed to the core and not yet had answered; beyond it the edge answers 503 itself.
EDGE_HANDOFFS_IN_FLIGHT_MAX = 4_096
#: Submits in one hand-off message (all those an edge accepted in one event-loop tick, up to this many).
HANDOFF_BATCH_SUBMITS_MAX = 256
#: A submit waits this long beyond its `Prefer: wait` for the core's answer.
SUBMIT_TIMEOUT_MARGIN_S = 5.0
PROXY_TIMEOUT_S = 40.0  # > WAIT_S_MAX (30 s long-poll) plus margin
CONFIG_REFRESH_S = 1.0
#: Room left in max_payload for the part headers of a reply split in parts.
REPLY_PART_OVERHEAD_BYTES = 1_024
REPLY_PARTS_MAX = 64
#: What one answer (or submit) adds to its bytes in a batch message (msgpack framing, ref, status...), at most.
ANSWER_OVERHEAD_BYTES = 64
PARENT_CHECK_S = 0.5
TOKEN_CHARS_MAX = 256  # a participant token is 43 characters; anything far longer is refused unhashed
_RELAYED_HEADERS = ("Authorization", "Content-Type", "Prefer", "Accept")
_PART = "Rail-Part"


def subjects(name: str) -> dict[str, str]:
    return {
        "submit": f"rail.{name}.edge.submit",
        "http": f"rail.{name}.edge.http",
        "config": f"rail.{name}.edge.config",
        "metrics": f"rail.{name}.edge.metrics",
    }


def route_labels() -> Callable[[str], str]:
    """path -> the rail's route template (`/v1/payments/{uetr}`), or "other": a bounded label set for the
    edge's request counter, taken from rail/api/http.py's own route table."""
    from rail.api.http import create_app

    exact, templated = set(), []
    for resource in create_app(None).router.resources():  # only the route table is read
        template = resource.canonical
        if "{" in template:
            templated.append((template[: template.index("{")], template))
        else:
            exact.add(template)

    def label(path: str) -> str:
        if path in exact:
            return path
        for prefix, template in templated:
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                return template
        return "other"

    return label


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


class EdgeReply(msgspec.Struct, array_like=True):
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = {}


class EdgeSubmitBatch(msgspec.Struct, array_like=True):
    """Every submit an edge accepted in one event-loop tick: one NATS message instead of one per payment."""

    submits: list[EdgeSubmit]


class EdgeAnswers(msgspec.Struct, array_like=True):
    """The core's answers to one edge's submits that finished in one tick of the core, by `EdgeSubmit.ref`."""

    answers: list[tuple[int, EdgeReply]]


class RelayedRequest(msgspec.Struct, array_like=True):
    method: str
    path_qs: str
    headers: dict[str, str]
    body: bytes


class EdgeConfig(msgspec.Struct, array_like=True):
    scheme: bytes  # the core's Scheme, msgpack
    tokens: dict[str, str]  # token hash -> BIC
    known_bics: list[str]


_ENCODER = msgspec.msgpack.Encoder()
_ANSWERS_DECODER = msgspec.msgpack.Decoder(EdgeAnswers)
_REPLY_DECODER = msgspec.msgpack.Decoder(EdgeReply)
_CONFIG_DECODER = msgspec.msgpack.Decoder(EdgeConfig)


async def _connect(url: str, what: str) -> Any:
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


async def _respond_in_parts(nc: Any, reply_subject: str, payload: bytes) -> None:
    size = max(1, nc.max_payload - REPLY_PART_OVERHEAD_BYTES)
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
    for index, chunk in enumerate(chunks):
        await nc.publish(reply_subject, chunk, headers={_PART: f"{index + 1}/{len(chunks)}"})


async def _request_in_parts(nc: Any, subject: str, payload: bytes, timeout_s: float) -> bytes:
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


def _answer_size(reply: EdgeReply) -> int:
    headers = sum(len(name) + len(value) + 10 for name, value in reply.headers.items())
    return len(reply.body) + len(reply.content_type) + headers + ANSWER_OVERHEAD_BYTES


def _submit_size(submit: EdgeSubmit) -> int:
    """An upper bound of a submit's size in an EdgeSubmitBatch message."""
    fields = len(submit.bic) + len(submit.msg_type) + len(submit.rendering)
    return (
        len(submit.message) + len(submit.raw_body or b"") + len(submit.header or b"") + fields
        + ANSWER_OVERHEAD_BYTES
    )


def _unavailable(status: int, text: str) -> EdgeReply:
    body = msgspec.json.encode({"error": "unavailable", "detail": text})
    return EdgeReply(status, "application/json", body, {"Retry-After": "1"})


# ---------------------------------------------------------------------------------------------- edge side


class CoreUnavailable(Exception):
    """The core did not answer a hand-off (unreachable, no core subscribed, timed out, or overloaded)."""


class HandOff:
    """An edge's submits to the core, batched: every submit accepted in one event-loop tick leaves as ONE NATS
    message (EdgeSubmitBatch) with its own reply subject; the core answers in batches too (EdgeAnswers).

    Why: a NATS message costs ~50-100 µs of CPU in nats-py on each side plus the server's share, against a few µs
    to msgpack one more struct into a message already going; under load an edge accepts many submits a tick."""

    def __init__(self, nc: Any, subject: str) -> None:
        self._nc = nc
        self._subject = subject
        self._inbox_prefix = nc.new_inbox()
        self._subscription: Any = None
        self._refs = itertools.count(1)
        self._batch_numbers = itertools.count(1)
        self._waiting: dict[int, tuple[int, asyncio.Future]] = {}  # ref -> (batch number, future)
        self._batches: dict[int, set[int]] = {}  # batch number -> refs not yet answered
        self._outgoing: list[EdgeSubmit] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task] = set()

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(f"{self._inbox_prefix}.*", cb=self._on_answers)

    async def submit(self, submit_fields: tuple, timeout_s: float) -> EdgeReply:
        """Hand one accepted message (EdgeSubmit's fields after `ref`) to the core; its reply, or
        CoreUnavailable."""
        if len(self._waiting) >= EDGE_HANDOFFS_IN_FLIGHT_MAX:
            raise CoreUnavailable("too many submits waiting for the core")
        loop = asyncio.get_running_loop()
        ref = next(self._refs)
        future = loop.create_future()
        self._waiting[ref] = (0, future)  # batch number 0: not sent yet
        self._outgoing.append(EdgeSubmit(ref, *submit_fields))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise CoreUnavailable(f"no answer from the core within {timeout_s:g} s") from None
        finally:
            self._forget(ref)

    def _forget(self, ref: int) -> None:
        entry = self._waiting.pop(ref, None)
        if entry is not None and entry[0]:
            refs = self._batches.get(entry[0])
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del self._batches[entry[0]]

    def _flush(self) -> None:
        self._flush_scheduled = False
        # One message holds at most HANDOFF_BATCH_SUBMITS_MAX submits and stays under the server's max_payload
        # (a lone submit above it still goes alone, and is refused by NATS: 503 for it only).
        room = self._nc.max_payload - REPLY_PART_OVERHEAD_BYTES
        count = size = 0
        for submit in self._outgoing[:HANDOFF_BATCH_SUBMITS_MAX]:
            size += _submit_size(submit)
            if count and size > room:
                break
            count += 1
        outgoing = self._outgoing[:count]
        del self._outgoing[:count]
        if self._outgoing:  # more than one message's worth this tick: the rest leaves right after
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        number = next(self._batch_numbers)
        submits = []
        for submit in outgoing:
            entry = self._waiting.get(submit.ref)
            if entry is None:  # its requester gave up (timeout, cancelled) before it left
                continue
            self._waiting[submit.ref] = (number, entry[1])
            submits.append(submit)
        if not submits:
            return
        self._batches[number] = {submit.ref for submit in submits}
        payload = _ENCODER.encode(EdgeSubmitBatch(submits))
        task = asyncio.create_task(self._publish(number, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, number: int, payload: bytes) -> None:
        try:
            await self._nc.publish(self._subject, payload, reply=f"{self._inbox_prefix}.{number}")
        except Exception as error:  # noqa: BLE001 - NATS down or the batch too large: each submit gets 503
            self._fail_batch(number, CoreUnavailable(f"cannot hand over to the core: {error!r}"))

    def _fail_batch(self, number: int, error: Exception) -> None:
        for ref in self._batches.pop(number, ()):
            entry = self._waiting.pop(ref, None)
            if entry is not None and not entry[1].done():
                entry[1].set_exception(error)

    async def _on_answers(self, msg) -> None:
        if not msg.data and msg.headers and msg.headers.get("Status") == "503":
            # NATS "no responders": no core subscribes to the hand-off subject (stopped, or not yet leader).
            number = int(msg.subject.rpartition(".")[2])
            self._fail_batch(number, CoreUnavailable("no settlement core is serving"))
            return
        try:
            answers = _ANSWERS_DECODER.decode(msg.data).answers
        except msgspec.DecodeError:
            log.warning("unreadable answers from the core on %s", msg.subject)
            return
        for ref, reply in answers:
            entry = self._waiting.get(ref)
            if entry is not None and not entry[1].done():
                entry[1].set_result(reply)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()


class EdgeHalf:
    """The accept step (rail/api/accept.py) and its answers, in an edge process without a core."""

    def __init__(self, scheme: Any, known_bics: list[str], msg_id_prefix: str) -> None:
        from rail.api.accept import Acceptor
        from rail.api.metrics import RailMetrics
        from rail.api.replies import Replies

        self.metrics = RailMetrics()
        self.known_bics = set(known_bics)
        self.replies = Replies(scheme.central_bank_bic, self.metrics, msg_id_prefix)
        self.acceptor = Acceptor(scheme.central_bank_bic, self.known_bics, self.replies, self.metrics)

    def set_known_bics(self, known_bics: list[str]) -> None:
        """Participants added at the core: the set the accept step reads, changed in place."""
        self.known_bics.clear()
        self.known_bics.update(known_bics)


class Edge:
    """One edge worker: an aiohttp server on a shared port, a NATS client to the core."""

    def __init__(self, nats_url: str, index: int = 0) -> None:
        from rail.cluster.nats_journal import parse_nats_url

        self.nats_url = nats_url
        self.index = index
        self.subjects = subjects(parse_nats_url(nats_url)[1])
        self._nc: Any = None
        self.service: EdgeHalf | None = None  # the accept step, once the core's scheme is known
        self._tokens: dict[str, str] = {}
        self._config_sent_at = 0.0
        self._config_lock = asyncio.Lock()
        self.hand_off: HandOff | None = None
        self.metrics = EdgeMetrics(str(index), lambda: self.hand_off.in_flight if self.hand_off else 0)
        self._route_label = route_labels()

    async def start(self) -> None:
        self._nc = await _connect(self.nats_url, "rail edge")
        self.hand_off = HandOff(self._nc, self.subjects["submit"])
        await self.hand_off.start()
        await self.refresh_config(force=True)

    async def refresh_config(self, force: bool = False, newer_than: float = 0.0) -> None:
        """Fetch participants from the core, unless a fetch sent after `newer_than` (monotonic) completed."""
        from rail.scheme import Scheme

        async with self._config_lock:
            if not force and self._config_sent_at > newer_than:
                return  # a concurrent caller already fetched one sent after `newer_than`
            self._config_sent_at = time.monotonic()
            msg = await self._nc.request(self.subjects["config"], b"", timeout=PROXY_TIMEOUT_S)
            config = _CONFIG_DECODER.decode(msg.data)
            scheme = msgspec.msgpack.decode(config.scheme, type=Scheme)
            if self.service is None:
                prefix = f"RAAST{int(time.time()):010d}E{self.index % 100:02d}"
                self.service = EdgeHalf(scheme, config.known_bics, prefix)
            else:
                self.service.set_known_bics(config.known_bics)
            self._tokens = config.tokens

    async def _push_metrics_forever(self) -> None:
        """Every EDGE_METRICS_PUSH_S, this edge's figures to the core (cumulative: a lost push costs nothing)."""
        while True:
            await asyncio.sleep(EDGE_METRICS_PUSH_S)
            service_registry = self.service.metrics.registry if self.service is not None else None
            try:
                await self._nc.publish(
                    self.subjects["metrics"], encode_snapshot(self.metrics.snapshot(service_registry))
                )
            except Exception as error:  # noqa: BLE001 - NATS reconnecting: the next push carries it all
                log.warning("edge metrics push failed: %r", error)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(CONFIG_REFRESH_S)
            try:
                await self.refresh_config(newer_than=time.monotonic() - CONFIG_REFRESH_S)
            except Exception as error:  # noqa: BLE001 - the core may be restarting; keep the last config
                log.warning("edge config refresh failed: %r", error)

    async def authenticate(self, token: str) -> str | None:
        """The BIC a bearer token belongs to, or None. A token this edge does not know may belong to a
        participant added a moment ago: the core is asked, unless a fetch sent after this call began has
        already answered (concurrent misses share one fetch)."""
        from rail.api.auth import token_hash

        if not token or len(token) > TOKEN_CHARS_MAX:
            return None
        arrived = time.monotonic()
        hashed = token_hash(token)
        bic = self._tokens.get(hashed)
        if bic is None:
            await self.refresh_config(newer_than=arrived)
            bic = self._tokens.get(hashed)
        return bic

    def known_token(self, token: str) -> str | None:
        """The BIC of a token this edge already knows (no waiting); None otherwise."""
        from rail.api.auth import token_hash

        if not token or len(token) > TOKEN_CHARS_MAX:
            return None
        return self._tokens.get(token_hash(token))

    async def submit(
        self, bic: str | None, token: str, body: bytes | None, content_type: str, wait_s: float | None
    ) -> Any:
        """POST /v1/messages at this edge, from the fast lane or aiohttp: the reply (status, content_type,
        body, headers), counted by status. `bic` None: `token` not resolved yet."""
        reply = await self._submit(bic, token, body, content_type, wait_s)
        self.metrics.requests.inc(("/v1/messages", str(reply.status)))
        return reply

    async def _submit(
        self, bic: str | None, token: str, body: bytes | None, content_type: str, wait_s: float | None
    ) -> Any:
        from rail.api.http import BODY_BYTES_MAX
        from rail.api.replies import Reply

        if bic is None:
            bic = await self.authenticate(token)
        if bic is None:
            return _unauthenticated(token)
        rendering = "json" if "json" in content_type else "xml"
        if body is None or len(body) > BODY_BYTES_MAX:
            return self.service.replies.admi002(413, rendering, None, "FF01", "body too large")
        accepted = self.service.acceptor.accept(bic, body, content_type)
        if isinstance(accepted, Reply):
            return accepted
        message = msgspec.msgpack.encode(accepted.message)
        header = None if accepted.header is None else msgspec.msgpack.encode(accepted.header)
        fields = (bic, accepted.msg_type, accepted.rendering, wait_s, message, accepted.raw_body, header)
        handed_at = time.perf_counter()
        try:
            reply = await self.hand_off.submit(fields, (wait_s or 0) + SUBMIT_TIMEOUT_MARGIN_S)
        except CoreUnavailable as error:  # a clear, retryable answer
            log.warning("core did not answer a submit: %s", error)
            text = "settlement core unavailable"
            return self.service.replies.admi002(
                503, rendering, None, "AB10", text, headers={"Retry-After": "1"}
            )
        self.metrics.handoff_latency.observe(time.perf_counter() - handed_at)
        return reply

    async def relay(self, method: str, path_qs: str, headers: dict[str, str], body: bytes) -> EdgeReply:
        """Any other request, answered by the core's own HTTP app; counted by route template and status."""
        try:
            payload = _ENCODER.encode(RelayedRequest(method, path_qs, headers, body))
            reply = _REPLY_DECODER.decode(
                await _request_in_parts(self._nc, self.subjects["http"], payload, PROXY_TIMEOUT_S)
            )
        except Exception as error:  # noqa: BLE001 - core unreachable: a clear, retryable answer
            log.warning("core did not answer a relayed request: %r", error)
            reply = _UNAVAILABLE
        self.metrics.requests.inc((self._route_label(path_qs.partition("?")[0]), str(reply.status)))
        return reply

    async def post_message(self, request: web.Request) -> web.Response:
        """aiohttp's POST /v1/messages: what the fast lane hands over (HTTP/1.0, Expect, chunked, ...)."""
        from rail.api.http import prefer_wait_s

        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = None
        wait_s = prefer_wait_s(request.headers.get("Prefer"))
        reply = await self.submit(None, token, body, request.headers.get("Content-Type", ""), wait_s)
        return _reply(reply)

    async def relay_request(self, request: web.Request) -> web.Response:
        headers = {k: request.headers[k] for k in _RELAYED_HEADERS if k in request.headers}
        return _reply(await self.relay(request.method, request.path_qs, headers, await request.read()))

    def app(self) -> web.Application:
        """The edge's HTTP app: connections start in rail/api/http.py's fast lane (POST /v1/messages and
        GET /v1/inbox without aiohttp's per-request machinery), served through EdgeFastLaneService; whatever
        the fast lane hands over goes to these aiohttp routes."""
        from rail.api import http

        application_class = getattr(http, "RailApplication", web.Application)  # plain aiohttp if it moved
        app = application_class(client_max_size=http.BODY_BYTES_MAX)
        app[http.SERVICE_KEY] = EdgeFastLaneService(self)
        app.router.add_post("/v1/messages", self.post_message)
        app.router.add_route("*", "/{tail:.*}", self.relay_request)
        return app

    async def close(self) -> None:
        if self.hand_off is not None:
            await self.hand_off.close()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


def _reply(reply: Any) -> web.Response:
    response = web.Response(body=reply.body, status=reply.status, headers=dict(reply.headers))
    if reply.content_type:
        response.content_type = reply.content_type.split(";")[0]
    return response


def _json_reply(status: int, code: str, text: str, headers: dict[str, str]) -> EdgeReply:
    return EdgeReply(
        status, "application/json", msgspec.json.encode({"error": code, "detail": text}), headers
    )


def _unauthenticated(token: str) -> EdgeReply:
    """The 401 of rail/api/http.py, from what an edge knows: the Bearer token (if any), not the admin token's."""
    from rail.api.auth import why_unauthenticated

    why = why_unauthenticated(
        f"Bearer {token}" if token else "", wanted="participant", is_admin=lambda _: False,
        is_participant=lambda _: False,
    )
    return _json_reply(401, "unauthenticated", why, {"WWW-Authenticate": 'Bearer realm="rail"'})
_UNAVAILABLE = _json_reply(503, "unavailable", "settlement core unavailable", {"Retry-After": "1"})


class _EdgeIdentity(str):
    """What EdgeFastLaneService.authenticate gives the fast lane as the participant: the BIC ("" while this edge
    does not know the token yet), with the token itself, which the inbox relay carries to the core."""

    token: str
    ack_upto: int | None


class EdgeFastLaneService:
    """The service rail/api/http.py's fast lane calls (authenticate, rate_limit, submit, ack, inbox), answered by
    an edge: the fast lane's HTTP/1.1 framing, limits and error answers run unchanged, with this edge's
    accept + hand-off behind POST /v1/messages and a relay to the core behind GET /v1/inbox.

    The rate limit is the core's (it must be global across edges): applied when the core takes a submit or a
    relayed poll, so here it never refuses."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def authenticate(self, token: str) -> str | None:
        # Never None: a token this edge does not know yet is looked up at the core by submit, and checked by the
        # core itself on a relayed poll; either answers 401 the same way the fast lane would.
        identity = _EdgeIdentity(self.edge.known_token(token) or "")
        identity.token = token
        identity.ack_upto = None
        return identity

    def rate_limit(self, bic: str) -> float:
        return 0.0

    async def submit(self, bic: _EdgeIdentity, body: bytes, content_type: str, wait_s: float | None) -> Any:
        return await self.edge.submit(str(bic) or None, bic.token, body, content_type, wait_s)

    async def ack(self, bic: _EdgeIdentity, upto: int) -> None:
        bic.ack_upto = upto  # carried by the relayed poll that follows at once (rail/api/http.py's _inbox_page)

    async def inbox(self, bic: _EdgeIdentity, wait_s: float, max_n: int, rendering: str | None) -> dict:
        from urllib.parse import urlencode

        from rail.api.http import refuse

        query = {"wait": f"{wait_s:g}", "max": str(max_n)}
        if rendering is not None:
            query["rendering"] = rendering
        if bic.ack_upto is not None:
            query["ack"] = str(bic.ack_upto)
        headers = {"Authorization": f"Bearer {bic.token}"}
        reply = await self.edge.relay("GET", f"/v1/inbox?{urlencode(query)}", headers, b"")
        try:
            answer = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            answer = None
        if reply.status == 200 and isinstance(answer, dict):
            return answer
        if not isinstance(answer, dict):
            answer = {"error": "bad_gateway", "detail": "unreadable answer from the settlement core"}
        status = reply.status if reply.status != 200 else 502
        raise refuse(
            status, str(answer.get("error", "")), str(answer.get("detail", "")), reply.headers or None
        )


async def _exit_with_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """An edge started by `rail serve --workers` stops when its core process is gone (even SIGKILLed), so no
    orphan keeps the port."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(PARENT_CHECK_S)
    log.warning("the core process %d is gone: this edge stops", parent_pid)
    stop.set()


async def serve_edge(nats_url: str, host: str, port: int, index: int, parent_pid: int | None = None) -> int:
    edge = Edge(nats_url, index)
    try:
        await edge.start()
    except (ConnectionError, TimeoutError) as error:
        print(f"rail edge: {error}", file=sys.stderr)
        return 1
    refresher = asyncio.create_task(edge._refresh_forever())
    pusher = asyncio.create_task(edge._push_metrics_forever())
    runner = web.AppRunner(edge.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=True, reuse_address=True)
    try:
        await site.start()
    except OSError as error:
        print(f"rail edge: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        return 1
    print(f"rail edge {index}: listening on http://{host}:{port} (pid {os.getpid()})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # asyncio's answer where signals are unsupported
            loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_exit_with_parent(parent_pid, stop)) if parent_pid else None
    await stop.wait()
    refresher.cancel()
    pusher.cancel()
    if watcher is not None:
        watcher.cancel()
    await runner.cleanup()
    await edge.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rail.cluster.edge", description="one rail edge worker")
    parser.add_argument("--nats", required=True, help="NATS URL of the core's hand-off, nats://HOST[:PORT]")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--index", type=int, default=0, help="worker number (makes message ids unique)")
    parser.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        return runner(serve_edge(args.nats, args.host, args.port, args.index, args.parent_pid))
    except ValueError as error:  # a malformed --nats URL
        print(f"rail edge: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

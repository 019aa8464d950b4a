"""Edge workers: the ISO 20022 edge in separate processes, handing validated messages to the one settlement core
over NATS.

    rail serve --workers 2 --nats nats://127.0.0.1:4222     # core + 2 local edge processes on --port
    python -m rail.cluster.edge --nats nats://core-host:4222 --port 8080   # one more edge, on another machine

Why: the settlement core is single-writer and fast (microseconds a command); what costs CPU per payment is
HTTP framing, the hardened XML/JSON decode and the RAAST profile checks (hundreds of microseconds). Those run
in the edges, any number of them, sharing the listening port (SO_REUSEPORT: the kernel spreads connections).

An edge is the rail's own HTTP listener (rail/api/listener.py) over EdgeApi, an HttpApplication that reads the
same route table as the core (rail/api/routes.py: routes, body limits, metrics labels). For `POST /v1/messages` it
authenticates the bearer token, decodes, validates against the RAAST profile and checks the message type
(rail/api/accept.py: the same code the core runs in-process); refusals are answered right there. An accepted
message goes to the core as its decoded struct (msgpack, ~10 us to decode, no second parse); the core runs the
state-machine half (rail/api/dispatch.py, with the per-participant rate limit, which must be global) and returns
the Response. The hand-off is batched both ways (HandOff, edge_core.CoreEndpoint): all the submits an edge
accepted in one event-loop tick travel as one NATS message, all the answers the core finished in one tick go
back to each edge as one. Every other route (inbox, ack, payments, admin, metrics, healthz, openapi) travels as
the request itself (its RequestHead and body, rail/cluster/edge_wire.py) to the core's API layer, which answers it
as it answers its own listener: every rule of the route table applies unchanged, with no second HTTP hop.

Each edge counts its own work (rail/cluster/edge_metrics.py) and pushes the counts to the core every second; the
core's /metrics shows them with an `edge` label.

Edges learn participants (token hashes, BICs) from the core (EdgeConfig) at start, every CONFIG_REFRESH_S, and at
once when a token they do not know is presented (concurrent misses share one fetch). Replies larger than one
NATS message (an inbox page of many XML messages) come back in parts.

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
from typing import Any

import msgspec

from rail.api.accept import Acceptor
from rail.api.auth import bearer_token, token_hash, why_unauthenticated
from rail.api.handlers import prefer_wait_s, reply_response
from rail.api.http_types import Admit, Request, RequestHead, Response, error_response
from rail.api.listener import Listener
from rail.api.metrics import RailMetrics
from rail.api.replies import Replies, Reply
from rail.api.routes import TABLE, RouteTable
from rail.cluster.edge_metrics import EDGE_METRICS_PUSH_S, EdgeMetrics, encode_snapshot
from rail.cluster.edge_wire import (
    ANSWERS_DECODER,
    CONFIG_DECODER,
    ENCODER,
    PROXY_TIMEOUT_S,
    REPLY_PART_OVERHEAD_BYTES,
    RESPONSE_DECODER,
    EdgeSubmit,
    EdgeSubmitBatch,
    RelayedRequest,
    connect,
    request_in_parts,
    subjects,
    submit_size,
    unavailable,
)
from rail.scheme import Scheme

log = logging.getLogger(__name__)

#: Submits one edge has handed to the core and not yet had answered; beyond it the edge answers 503 itself.
EDGE_HANDOFFS_IN_FLIGHT_MAX = 4_096
#: Submits in one hand-off message (all those an edge accepted in one event-loop tick, up to this many).
HANDOFF_BATCH_SUBMITS_MAX = 256
#: A submit waits this long beyond its `Prefer: wait` for the core's answer.
SUBMIT_TIMEOUT_MARGIN_S = 5.0
CONFIG_REFRESH_S = 1.0
PARENT_CHECK_S = 0.5
TOKEN_CHARS_MAX = 256  # a participant token is 43 characters; anything far longer is refused unhashed
# What the core's API layer reads of a relayed request's headers (the rest stay at the edge).
RELAYED_HEADERS = ("authorization", "content-type", "prefer", "accept")
MESSAGES = "/v1/messages"


# ---------------------------------------------------------------------------------------------- the hand-off


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

    async def submit(self, submit_fields: tuple, timeout_s: float) -> Response:
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
            size += submit_size(submit)
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
        payload = ENCODER.encode(EdgeSubmitBatch(submits))
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
            answers = ANSWERS_DECODER.decode(msg.data).answers
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

    def __init__(self, scheme: Scheme, known_bics: list[str], msg_id_prefix: str) -> None:
        self.metrics = RailMetrics()
        self.known_bics = set(known_bics)
        self.replies = Replies(scheme.central_bank_bic, self.metrics, msg_id_prefix)
        self.acceptor = Acceptor(scheme.central_bank_bic, self.known_bics, self.replies, self.metrics)

    def set_known_bics(self, known_bics: list[str]) -> None:
        """Participants added at the core: the set the accept step reads, changed in place."""
        self.known_bics.clear()
        self.known_bics.update(known_bics)


class Edge:
    """One edge worker: its NATS client to the core, what it knows of participants, its accept step."""

    def __init__(self, nats_url: str, index: int = 0) -> None:
        from rail.cluster.nats_journal import parse_nats_url

        self.nats_url = nats_url
        self.index = index
        self.subjects = subjects(parse_nats_url(nats_url)[1])
        self._nc: Any = None
        self.half: EdgeHalf | None = None  # the accept step, once the core's scheme is known
        self._tokens: dict[str, str] = {}
        self._config_sent_at = 0.0
        self._config_lock = asyncio.Lock()
        self.hand_off: HandOff | None = None
        self.metrics = EdgeMetrics(str(index), lambda: self.hand_off.in_flight if self.hand_off else 0)

    async def start(self) -> None:
        self._nc = await connect(self.nats_url, "rail edge")
        self.hand_off = HandOff(self._nc, self.subjects["submit"])
        await self.hand_off.start()
        await self.refresh_config(force=True)

    async def refresh_config(self, force: bool = False, newer_than: float = 0.0) -> None:
        """Fetch participants from the core, unless a fetch sent after `newer_than` (monotonic) completed."""
        async with self._config_lock:
            if not force and self._config_sent_at > newer_than:
                return  # a concurrent caller already fetched one sent after `newer_than`
            self._config_sent_at = time.monotonic()
            msg = await self._nc.request(self.subjects["config"], b"", timeout=PROXY_TIMEOUT_S)
            config = CONFIG_DECODER.decode(msg.data)
            if self.half is None:
                scheme = msgspec.msgpack.decode(config.scheme, type=Scheme)
                prefix = f"RAAST{int(time.time()):010d}E{self.index % 100:02d}"
                self.half = EdgeHalf(scheme, config.known_bics, prefix)
            else:
                self.half.set_known_bics(config.known_bics)
            self._tokens = config.tokens

    async def push_metrics_forever(self) -> None:
        """Every EDGE_METRICS_PUSH_S, this edge's figures to the core (cumulative: a lost push costs nothing)."""
        while True:
            await asyncio.sleep(EDGE_METRICS_PUSH_S)
            registry = self.half.metrics.registry if self.half is not None else None
            try:
                await self._nc.publish(
                    self.subjects["metrics"], encode_snapshot(self.metrics.snapshot(registry))
                )
            except Exception as error:  # noqa: BLE001 - NATS reconnecting: the next push carries it all
                log.warning("edge metrics push failed: %r", error)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(CONFIG_REFRESH_S)
            try:
                await self.refresh_config(newer_than=time.monotonic() - CONFIG_REFRESH_S)
            except Exception as error:  # noqa: BLE001 - the core may be restarting; keep the last config
                log.warning("edge config refresh failed: %r", error)

    def known_token(self, token: str) -> str | None:
        """The BIC of a token this edge already knows (no waiting); None otherwise."""
        if not token or len(token) > TOKEN_CHARS_MAX:
            return None
        return self._tokens.get(token_hash(token))

    async def authenticate(self, token: str) -> str | None:
        """The BIC a bearer token belongs to, or None. A token this edge does not know may belong to a
        participant added a moment ago: the core is asked, unless a fetch sent after this call began has
        already answered (concurrent misses share one fetch)."""
        arrived = time.monotonic()
        bic = self.known_token(token)
        if bic is None and token and len(token) <= TOKEN_CHARS_MAX:
            await self.refresh_config(newer_than=arrived)
            bic = self.known_token(token)
        return bic

    async def submit(self, bic: str, body: bytes, content_type: str, wait_s: float | None) -> Response:
        """POST /v1/messages at this edge, `bic` authenticated: accepted here, dispatched at the core."""
        half = self.half
        assert half is not None and self.hand_off is not None, "start() first"
        accepted = half.acceptor.accept(bic, body, content_type)
        if isinstance(accepted, Reply):
            return reply_response(accepted)
        message = msgspec.msgpack.encode(accepted.message)
        header = None if accepted.header is None else msgspec.msgpack.encode(accepted.header)
        fields = (bic, accepted.msg_type, accepted.rendering, wait_s, message, accepted.raw_body, header)
        handed_at = time.perf_counter()
        try:
            response = await self.hand_off.submit(fields, (wait_s or 0) + SUBMIT_TIMEOUT_MARGIN_S)
        except CoreUnavailable as error:  # a clear, retryable answer
            log.warning("core did not answer a submit: %s", error)
            refusal = half.replies.admi002(
                503,
                accepted.rendering,
                None,
                "AB10",
                "settlement core unavailable",
                headers={"Retry-After": "1"},
            )
            return reply_response(refusal)
        self.metrics.handoff_latency.observe(time.perf_counter() - handed_at)
        return response

    async def relay(self, request: Request) -> Response:
        """Any other request, for the core's API layer to answer."""
        headers = {
            name: request.head.headers[name] for name in RELAYED_HEADERS if name in request.head.headers
        }
        head = RequestHead(request.head.method, request.head.path, request.head.query, headers)
        try:
            payload = ENCODER.encode(RelayedRequest(head, request.body))
            answer = await request_in_parts(self._nc, self.subjects["http"], payload, PROXY_TIMEOUT_S)
            return RESPONSE_DECODER.decode(answer)
        except Exception as error:  # noqa: BLE001 - core unreachable: a clear, retryable answer
            log.warning("core did not answer a relayed request: %r", error)
            return unavailable()

    async def close(self) -> None:
        if self.hand_off is not None:
            await self.hand_off.close()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


class EdgeApi:
    """The edge's HttpApplication: the rail's route table, answered at the edge (POST /v1/messages) or by the
    core (every other route, relayed). Every answer is counted by route template and status."""

    def __init__(self, edge: Edge, table: RouteTable = TABLE) -> None:
        self.edge = edge
        self.table = table

    def head(self, head: RequestHead) -> Admit | Response:
        found = self.table.match(head.method, head.path)
        if isinstance(found, Response):
            return self._counted("other", found)
        route, params = found
        participant = None
        if route.path == MESSAGES:  # a token this edge does not know yet is looked up in handle()
            participant = self.edge.known_token(bearer_token(head.headers.get("authorization", "")))
        return Admit(route.path, route.body_bytes_max, participant, params)

    async def handle(self, request: Request) -> Response:
        route = request.admit.route
        if route != MESSAGES:
            return self._counted(route, await self.edge.relay(request))
        headers = request.head.headers
        bic = request.admit.participant
        if bic is None:
            bic = await self.edge.authenticate(bearer_token(headers.get("authorization", "")))
        if bic is None:
            return self._counted(route, _unauthenticated(headers.get("authorization", "")))
        wait_s = prefer_wait_s(headers.get("prefer"))
        return self._counted(
            route, await self.edge.submit(bic, request.body, headers.get("content-type", ""), wait_s)
        )

    def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
        half = self.edge.half
        if admit.route == MESSAGES and half is not None:
            from rail import iso20022

            rendering = iso20022.rendering_of(head.headers.get("content-type", ""), default=iso20022.XML)
            return self._counted(
                admit.route, reply_response(half.replies.too_large(rendering, admit.body_bytes_max))
            )
        return self._counted(
            admit.route, error_response(413, "too_large", f"body above {admit.body_bytes_max} bytes")
        )

    def _counted(self, label: str, response: Response) -> Response:
        self.edge.metrics.requests.inc((label, str(response.status)))
        return response


def _unauthenticated(authorization: str) -> Response:
    """The core's 401, from what an edge knows: never the admin token's case (the edge does not know it)."""
    why = why_unauthenticated(
        authorization, wanted="participant", is_admin=lambda _: False, is_participant=lambda _: False
    )
    return error_response(401, "unauthenticated", why, {"WWW-Authenticate": 'Bearer realm="rail"'})


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
    refresher = asyncio.create_task(edge.refresh_forever())
    pusher = asyncio.create_task(edge.push_metrics_forever())
    listener = Listener(EdgeApi(edge))
    try:
        await listener.start(host, port, reuse_port=True)
    except OSError as error:
        print(f"rail edge: cannot listen on {host}:{port}: {error}", file=sys.stderr)
        refresher.cancel()
        pusher.cancel()
        await edge.close()
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
    await listener.close()
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

"""Edge workers: the ISO 20022 edge in separate processes, handing validated messages to the one settlement core
over NATS request/reply.

    rail serve --workers 2 --nats nats://127.0.0.1:4222     # core + 2 local edge processes on --port
    python -m rail.edge --nats nats://core-host:4222 --port 8080   # one more edge, on another machine

Why: the settlement core is single-writer and fast (microseconds a command); what costs CPU per payment is
HTTP framing, the hardened XML/JSON decode and the RAAST profile checks (hundreds of microseconds). Those run
in the edges, any number of them, sharing the listening port (SO_REUSEPORT: the kernel spreads connections).

What an edge does for `POST /v1/messages`: authenticate the bearer token, bound the body, decode, validate
against the RAAST profile, check the message type (RailService.accept: the same code the in-process rail runs);
refusals are answered right there. An accepted message goes to the core as its decoded struct (msgpack, ~10 us
to decode, no second parse) on EDGE_SUBMIT; the core runs the state machine half (RailService.dispatch, with
the per-participant rate limit, which must be global) and returns the Reply. Every other route (inbox, ack,
payments, admin, metrics, healthz, openapi) is relayed as an HTTP request over EDGE_HTTP; the core answers it
with its own HTTP app on a private loopback port, so every rule of rail/http.py applies unchanged.

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
import logging
import os
import select
import signal
import sys
import time
from typing import Any

import msgspec
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

log = logging.getLogger(__name__)

#: Requests a core serves for edges at once; beyond it edges get 503 (the core's own queue is bounded too).
EDGE_REQUESTS_IN_FLIGHT_MAX = 8_192
#: A submit waits this long beyond its `Prefer: wait` for the core's answer.
SUBMIT_TIMEOUT_MARGIN_S = 5.0
PROXY_TIMEOUT_S = 40.0  # > WAIT_S_MAX (30 s long-poll) plus margin
CONFIG_REFRESH_S = 1.0
#: Room left in max_payload for the part headers of a reply split in parts.
REPLY_PART_OVERHEAD_BYTES = 1_024
REPLY_PARTS_MAX = 64
EDGE_START_TIMEOUT_S = 20.0
PARENT_CHECK_S = 0.5
_RELAYED_HEADERS = ("Authorization", "Content-Type", "Prefer", "Accept")
_RELAYED_RESPONSE_HEADERS = ("Content-Type", "Retry-After", "WWW-Authenticate", "Preference-Applied", "Allow")
_PART = "Rail-Part"


def subjects(name: str) -> dict[str, str]:
    return {
        "submit": f"rail.{name}.edge.submit",
        "http": f"rail.{name}.edge.http",
        "config": f"rail.{name}.edge.config",
    }


class EdgeSubmit(msgspec.Struct, array_like=True):
    """A message the edge accepted: the core needs nothing more to run its half."""

    bic: str
    msg_type: str
    rendering: str
    wait_s: float | None
    message: bytes  # the decoded struct, msgpack
    raw_body: bytes | None  # the debtor's own bytes of a pacs.008, forwarded as they are


class EdgeReply(msgspec.Struct, array_like=True):
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = {}


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
_SUBMIT_DECODER = msgspec.msgpack.Decoder(EdgeSubmit)
_REPLY_DECODER = msgspec.msgpack.Decoder(EdgeReply)
_REQUEST_DECODER = msgspec.msgpack.Decoder(RelayedRequest)
_CONFIG_DECODER = msgspec.msgpack.Decoder(EdgeConfig)


def _message_decoders() -> dict[str, msgspec.msgpack.Decoder]:
    from rail.iso20022 import structs

    types = {
        "pacs.008": structs.Pacs008,
        "pacs.002": structs.Pacs002,
        "pacs.028": structs.Pacs028,
        "pacs.004": structs.Pacs004,
        "camt.056": structs.Camt056,
        "camt.029": structs.Camt029,
        "pain.013": structs.Pain013,
        "pain.014": structs.Pain014,
        "acmt.023": structs.Acmt023,
    }
    return {name: msgspec.msgpack.Decoder(kind) for name, kind in types.items()}


async def _connect(url: str, what: str) -> Any:
    import nats

    from rail.nats_journal import OPEN_TIMEOUT_S, parse_nats_url

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


# ---------------------------------------------------------------------------------------------- core side


class CoreEndpoint:
    """Serves edge workers from the core process: validated submits, relayed HTTP, participant config."""

    def __init__(self, service: Any, nats_url: str, private_http_url: str) -> None:
        from rail.nats_journal import parse_nats_url

        self.service = service
        self.nats_url = nats_url
        self.private_http_url = private_http_url
        self.subjects = subjects(parse_nats_url(nats_url)[1])
        self._nc: Any = None
        self._session: ClientSession | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()
        self._decoders = _message_decoders()

    async def start(self) -> None:
        self._nc = await _connect(self.nats_url, "rail serve --workers")
        self._session = ClientSession(
            connector=TCPConnector(limit=256), timeout=ClientTimeout(total=PROXY_TIMEOUT_S)
        )
        await self._nc.subscribe(self.subjects["submit"], queue="core", cb=self._spawn(self._on_submit))
        await self._nc.subscribe(self.subjects["http"], queue="core", cb=self._spawn(self._on_http))
        await self._nc.subscribe(self.subjects["config"], queue="core", cb=self._spawn(self._on_config))
        await self._nc.flush()

    def _spawn(self, handler):
        # nats-py runs one subscription's callbacks one after another: each request gets its own task so a
        # `Prefer: wait` submit or an inbox long-poll never holds up the others.
        async def callback(msg) -> None:
            if self._in_flight >= EDGE_REQUESTS_IN_FLIGHT_MAX:
                await self._overloaded(msg)
                return
            self._in_flight += 1
            task = asyncio.create_task(self._run(handler, msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return callback

    async def _run(self, handler, msg) -> None:
        try:
            await handler(msg)
        except Exception:
            log.exception("edge request on %s failed", msg.subject)
            with contextlib.suppress(Exception):
                await self._overloaded(
                    msg, 500, "the rail could not process this request; it has been logged"
                )
        finally:
            self._in_flight -= 1

    async def _overloaded(self, msg, status: int = 503, text: str = "the rail is overloaded") -> None:
        body = msgspec.json.encode({"error": "unavailable", "detail": text})
        reply = EdgeReply(status, "application/json", body, {"Retry-After": "1"})
        await _respond_in_parts(self._nc, msg.reply, _ENCODER.encode(reply))

    async def _on_submit(self, msg) -> None:
        from rail.service import Accepted

        request = _SUBMIT_DECODER.decode(msg.data)
        service = self.service
        retry_s = service.rate_limit(request.bic)
        if retry_s:
            retry_after = {"Retry-After": str(max(1, int(retry_s + 0.999)))}
            text = "request rate limit reached"
            reply = service.admi002_reply(429, request.rendering, None, "AB10", text, headers=retry_after)
        else:
            decoder = self._decoders.get(request.msg_type)
            if decoder is None:  # an edge of another version: refuse rather than guess
                reply = service.admi002_reply(
                    400, request.rendering, None, "FF01", f"{request.msg_type} is not accepted from an edge"
                )
            else:
                accepted = Accepted(
                    request.msg_type, request.rendering, decoder.decode(request.message), request.raw_body
                )
                reply = await service.dispatch(request.bic, accepted, request.wait_s)
        answer = EdgeReply(reply.status, reply.content_type, reply.body, reply.headers)
        await _respond_in_parts(self._nc, msg.reply, _ENCODER.encode(answer))

    async def _on_http(self, msg) -> None:
        request = _REQUEST_DECODER.decode(msg.data)
        async with self._session.request(
            request.method,
            self.private_http_url + request.path_qs,
            headers=request.headers,
            data=request.body or None,
        ) as response:
            body = await response.read()
            headers = {k: v for k, v in response.headers.items() if k in _RELAYED_RESPONSE_HEADERS}
            reply = EdgeReply(response.status, response.headers.get("Content-Type", ""), body, headers)
        await _respond_in_parts(self._nc, msg.reply, _ENCODER.encode(reply))

    async def _on_config(self, msg) -> None:
        service = self.service
        participants = service.core.settlement.participants.values()
        config = EdgeConfig(
            scheme=_ENCODER.encode(service.scheme),
            tokens={p.token_hash: p.bic for p in participants if p.token_hash},
            known_bics=list(service.participants),
        )
        await _respond_in_parts(self._nc, msg.reply, _ENCODER.encode(config))

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()


# ---------------------------------------------------------------------------------------------- edge side


class Edge:
    """One edge worker: an aiohttp server on a shared port, a NATS client to the core."""

    def __init__(self, nats_url: str, index: int = 0) -> None:
        from rail.nats_journal import parse_nats_url

        self.nats_url = nats_url
        self.index = index
        self.subjects = subjects(parse_nats_url(nats_url)[1])
        self._nc: Any = None
        self.service: Any = None  # RailService.for_edge: the edge half only
        self._tokens: dict[str, str] = {}
        self._config_sent_at = 0.0
        self._config_lock = asyncio.Lock()

    async def start(self) -> None:
        self._nc = await _connect(self.nats_url, "rail edge")
        await self.refresh_config(force=True)

    async def refresh_config(self, force: bool = False, newer_than: float = 0.0) -> None:
        """Fetch participants from the core, unless a fetch sent after `newer_than` (monotonic) completed."""
        from rail.scheme import Scheme
        from rail.service import RailService

        async with self._config_lock:
            if not force and self._config_sent_at > newer_than:
                return  # a concurrent caller already fetched one sent after `newer_than`
            self._config_sent_at = time.monotonic()
            msg = await self._nc.request(self.subjects["config"], b"", timeout=PROXY_TIMEOUT_S)
            config = _CONFIG_DECODER.decode(msg.data)
            scheme = msgspec.msgpack.decode(config.scheme, type=Scheme)
            if self.service is None:
                prefix = f"RAAST{int(time.time()):010d}E{self.index % 100:02d}"
                self.service = RailService.for_edge(scheme, config.known_bics, prefix)
            else:
                self.service.set_known_bics(config.known_bics)
            self._tokens = config.tokens

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(CONFIG_REFRESH_S)
            try:
                await self.refresh_config(newer_than=time.monotonic() - CONFIG_REFRESH_S)
            except Exception as error:  # noqa: BLE001 - the core may be restarting; keep the last config
                log.warning("edge config refresh failed: %r", error)

    async def _authenticate(self, request: web.Request) -> str | None:
        from rail.auth import token_hash

        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token or len(token) > 256:
            return None
        arrived = time.monotonic()
        hashed = token_hash(token.strip())
        bic = self._tokens.get(hashed)
        if bic is None:
            # Perhaps a participant added a moment ago: ask the core, unless a fetch sent after this request
            # arrived has already answered (concurrent misses share one fetch).
            await self.refresh_config(newer_than=arrived)
            bic = self._tokens.get(hashed)
        return bic

    async def post_message(self, request: web.Request) -> web.Response:
        from rail.http import BODY_BYTES_MAX, _prefer_wait_s
        from rail.service import Reply

        bic = await self._authenticate(request)
        if bic is None:
            text = "Authorization: Bearer <participant token> required"
            return _json_error(401, "unauthenticated", text, {"WWW-Authenticate": 'Bearer realm="rail"'})
        content_type = request.headers.get("Content-Type", "")
        rendering = "json" if "json" in content_type else "xml"
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = None
        if body is None or len(body) > BODY_BYTES_MAX:
            return _reply(self.service.admi002_reply(413, rendering, None, "FF01", "body too large"))
        accepted = self.service.accept(bic, body, content_type)
        if isinstance(accepted, Reply):
            return _reply(accepted)
        wait_s = _prefer_wait_s(request.headers.get("Prefer"))
        message = msgspec.msgpack.encode(accepted.message)
        submit = EdgeSubmit(bic, accepted.msg_type, accepted.rendering, wait_s, message, accepted.raw_body)
        try:
            # One reply message (a pacs.002 or admi.002 is a few KB): the client's shared reply inbox.
            msg = await self._nc.request(
                self.subjects["submit"],
                _ENCODER.encode(submit),
                timeout=(wait_s or 0) + SUBMIT_TIMEOUT_MARGIN_S,
            )
        except Exception as error:  # noqa: BLE001 - core unreachable: a clear, retryable answer
            log.warning("core did not answer a submit: %r", error)
            text = "settlement core unavailable"
            reply = self.service.admi002_reply(
                503, rendering, None, "AB10", text, headers={"Retry-After": "1"}
            )
            return _reply(reply)
        return _reply(_REPLY_DECODER.decode(msg.data))

    async def relay(self, request: web.Request) -> web.Response:
        body = await request.read()
        relayed = RelayedRequest(
            request.method,
            request.path_qs,
            {k: request.headers[k] for k in _RELAYED_HEADERS if k in request.headers},
            body,
        )
        try:
            payload = _ENCODER.encode(relayed)
            raw = await _request_in_parts(self._nc, self.subjects["http"], payload, PROXY_TIMEOUT_S)
        except Exception as error:  # noqa: BLE001
            log.warning("core did not answer a relayed request: %r", error)
            return _json_error(503, "unavailable", "settlement core unavailable", {"Retry-After": "1"})
        return _reply(_REPLY_DECODER.decode(raw))

    def app(self) -> web.Application:
        from rail.http import BODY_BYTES_MAX

        app = web.Application(client_max_size=BODY_BYTES_MAX)
        app.router.add_post("/v1/messages", self.post_message)
        app.router.add_route("*", "/{tail:.*}", self.relay)
        return app

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


def _reply(reply: Any) -> web.Response:
    response = web.Response(body=reply.body, status=reply.status, headers=dict(reply.headers))
    if reply.content_type:
        response.content_type = reply.content_type.split(";")[0]
    return response


def _json_error(status: int, code: str, text: str, headers: dict | None = None) -> web.Response:
    return web.Response(
        body=msgspec.json.encode({"error": code, "detail": text}),
        status=status,
        content_type="application/json",
        headers=headers,
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
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_exit_with_parent(parent_pid, stop)) if parent_pid else None
    await stop.wait()
    refresher.cancel()
    if watcher is not None:
        watcher.cancel()
    await runner.cleanup()
    await edge.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rail.edge", description="one rail edge worker")
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


class EdgeWorkers:
    """The N local edge processes of `rail serve --workers N` (started and stopped by the core process)."""

    def __init__(self, count: int, nats_url: str, host: str, port: int) -> None:
        self.count = count
        self.nats_url = nats_url
        self.host = host
        self.port = port
        self.processes: list = []

    def start(self) -> None:
        import subprocess

        for index in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "rail.edge",
                        "--nats",
                        self.nats_url,
                        "--host",
                        self.host,
                        "--port",
                        str(self.port),
                        "--index",
                        str(index),
                        "--parent-pid",
                        str(os.getpid()),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            )
        deadline = time.monotonic() + EDGE_START_TIMEOUT_S
        for process in self.processes:
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = process.stdout.readline() if ready else ""
            if "listening" not in line:
                self.stop()
                raise RuntimeError(f"an edge worker did not start (exit code {process.poll()})")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except Exception:  # noqa: BLE001
                process.kill()
        self.processes.clear()


if __name__ == "__main__":
    raise SystemExit(main())


async def start_workers(service: Any, app: web.Application, nats_url: str, host: str, port: int, count: int):
    """`rail serve --workers N`: serve `app` privately on loopback for relayed requests, answer edges on NATS,
    start N local edge processes on host:port. Returns (public port, async cleanup)."""
    from rail.nats_local import free_port

    private = web.AppRunner(app, access_log=None)
    await private.setup()
    site = web.TCPSite(private, "127.0.0.1", 0)
    await site.start()
    private_port = private.addresses[0][1]
    endpoint = CoreEndpoint(service, nats_url, f"http://127.0.0.1:{private_port}")
    try:
        await endpoint.start()
    except BaseException:
        await private.cleanup()
        raise
    public_port = port or free_port()
    workers = EdgeWorkers(count, nats_url, host, public_port)
    try:
        await asyncio.get_running_loop().run_in_executor(None, workers.start)
    except BaseException:
        await endpoint.close()
        await private.cleanup()
        raise

    async def cleanup() -> None:
        await asyncio.get_running_loop().run_in_executor(None, workers.stop)
        await endpoint.close()
        await private.cleanup()

    return public_port, cleanup

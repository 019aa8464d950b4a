"""The core's side of the edge workers (rail/cluster/edge.py): `rail serve --workers N` starts N local edge processes on
the public port and answers every edge over NATS, from the core process.

CoreEndpoint serves three subjects: batches of validated submits (each run through RailService.dispatch, the
state-machine half of a submit, with the per-participant rate limit, which must be global; the answers of one
tick leave as one message per edge), relayed HTTP requests (answered by the core's own HTTP app on a private
loopback port, so every rule of rail/api/http.py applies unchanged), and the participant config edges authenticate
with. It also receives each edge's metrics and exposes them on the core's /metrics (rail/cluster/edge_metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import sys
import time
from typing import Any

import msgspec
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from rail.cluster.edge import (
    _ENCODER,
    PROXY_TIMEOUT_S,
    REPLY_PART_OVERHEAD_BYTES,
    EdgeAnswers,
    EdgeConfig,
    EdgeReply,
    EdgeSubmit,
    EdgeSubmitBatch,
    RelayedRequest,
    _answer_size,
    _connect,
    _respond_in_parts,
    _unavailable,
    subjects,
)
from rail.cluster.edge_metrics import EdgeMetricsCollector, decode_snapshot

log = logging.getLogger(__name__)

#: Requests a core serves for edges at once; beyond it edges get 503 (the core's own queue is bounded too).
EDGE_REQUESTS_IN_FLIGHT_MAX = 8_192
EDGE_START_TIMEOUT_S = 20.0
_RELAYED_RESPONSE_HEADERS = ("Content-Type", "Retry-After", "WWW-Authenticate", "Preference-Applied", "Allow")
_SUBMIT_BATCH_DECODER = msgspec.msgpack.Decoder(EdgeSubmitBatch)
_REQUEST_DECODER = msgspec.msgpack.Decoder(RelayedRequest)


def _header_decoder() -> msgspec.msgpack.Decoder:
    from rail.iso20022.structs import AppHdr

    return msgspec.msgpack.Decoder(AppHdr)


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


class CoreEndpoint:
    """Serves edge workers from the core process: validated submits, relayed HTTP, participant config."""

    def __init__(self, service: Any, nats_url: str, private_http_url: str) -> None:
        from rail.cluster.nats_journal import parse_nats_url

        self.service = service
        self.nats_url = nats_url
        self.private_http_url = private_http_url
        self.subjects = subjects(parse_nats_url(nats_url)[1])
        self._nc: Any = None
        self._session: ClientSession | None = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()
        self._decoders = _message_decoders()
        self._header_decoder = _header_decoder()
        self._answers: dict[str, list[tuple[int, EdgeReply]]] = {}
        self._answers_flush_scheduled = False
        self.edge_metrics = EdgeMetricsCollector()

    async def start(self) -> None:
        self._nc = await _connect(self.nats_url, "rail serve --workers")
        self._session = ClientSession(
            connector=TCPConnector(limit=256), timeout=ClientTimeout(total=PROXY_TIMEOUT_S)
        )
        await self._nc.subscribe(self.subjects["submit"], queue="core", cb=self._on_submits)
        await self._nc.subscribe(self.subjects["http"], queue="core", cb=self._spawn(self._on_http))
        await self._nc.subscribe(self.subjects["config"], queue="core", cb=self._spawn(self._on_config))
        await self._nc.subscribe(self.subjects["metrics"], queue="core", cb=self._on_edge_metrics)
        await self._nc.flush()
        self.service.metrics.registry.register(self.edge_metrics)

    async def _on_edge_metrics(self, msg) -> None:
        try:
            snapshot = decode_snapshot(msg.data)
        except msgspec.DecodeError:
            log.warning("unreadable metrics from an edge (an edge of another version?)")
            return
        if not self.edge_metrics.record(snapshot):
            log.warning("metrics of edge %r refused: too many edges or samples", snapshot.edge[:40])

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
        await _respond_in_parts(self._nc, msg.reply, _ENCODER.encode(_unavailable(status, text)))

    async def _on_submits(self, msg) -> None:
        """One edge's batch of submits: each runs as its own task (a `Prefer: wait` one must not hold up the
        others); their answers go back batched by `_answer`."""
        try:
            batch = _SUBMIT_BATCH_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("an edge sent an unreadable hand-off batch (an edge of another version?)")
            return
        for submit in batch.submits:
            if self._in_flight >= EDGE_REQUESTS_IN_FLIGHT_MAX:
                self._answer(msg.reply, submit.ref, _unavailable(503, "the rail is overloaded"))
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._submit(msg.reply, submit))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _submit(self, reply_to: str, request: EdgeSubmit) -> None:
        from rail.api.accept import Accepted

        service = self.service
        try:
            retry_s = service.rate_limit(request.bic)
            if retry_s:
                retry_after = {"Retry-After": str(max(1, int(retry_s + 0.999)))}
                text = "request rate limit reached"
                reply = service.replies.admi002(429, request.rendering, None, "AB10", text, headers=retry_after)
            else:
                decoder = self._decoders.get(request.msg_type)
                if decoder is None:  # an edge of another version: refuse rather than guess
                    text = f"{request.msg_type} is not accepted from an edge"
                    reply = service.replies.admi002(400, request.rendering, None, "FF01", text)
                else:
                    header = None if request.header is None else self._header_decoder.decode(request.header)
                    accepted = Accepted(
                        request.msg_type,
                        request.rendering,
                        decoder.decode(request.message),
                        request.raw_body,
                        header,
                    )
                    reply = await service.dispatch(request.bic, accepted, request.wait_s)
            answer = EdgeReply(reply.status, reply.content_type, reply.body, reply.headers)
        except Exception:
            log.exception("a submit from an edge failed")
            answer = _unavailable(500, "the rail could not process this request; it has been logged")
        finally:
            self._in_flight -= 1
        self._answer(reply_to, request.ref, answer)

    def _answer(self, reply_to: str, ref: int, reply: EdgeReply) -> None:
        """Queue an answer; every answer queued in this tick leaves in one message per edge."""
        self._answers.setdefault(reply_to, []).append((ref, reply))
        if not self._answers_flush_scheduled:
            self._answers_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_answers)

    def _flush_answers(self) -> None:
        self._answers_flush_scheduled = False
        answers, self._answers = self._answers, {}
        limit = self._nc.max_payload - REPLY_PART_OVERHEAD_BYTES
        messages = []
        for reply_to, items in answers.items():
            chunk: list = []
            size = 0
            for ref, reply in items:
                item_size = _answer_size(reply)
                if item_size > limit:  # never for a pacs.002 or admi.002: kept to a clear answer anyway
                    log.error("an answer of %d bytes does not fit a NATS message", item_size)
                    reply = _unavailable(500, "the answer is too large to relay")
                    item_size = _answer_size(reply)
                if chunk and size + item_size > limit:
                    messages.append((reply_to, _ENCODER.encode(EdgeAnswers(chunk))))
                    chunk, size = [], 0
                chunk.append((ref, reply))
                size += item_size
            messages.append((reply_to, _ENCODER.encode(EdgeAnswers(chunk))))
        task = asyncio.create_task(self._publish_answers(messages))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_answers(self, messages: list[tuple[str, bytes]]) -> None:
        for reply_to, payload in messages:
            try:
                await self._nc.publish(reply_to, payload)
            except Exception as error:  # noqa: BLE001 - the edge times out and answers 503
                log.warning("could not answer an edge on %s: %r", reply_to, error)

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
        participants = await service.core.query(lambda s: list(s.participants.values()))
        config = EdgeConfig(
            scheme=_ENCODER.encode(service.scheme),
            tokens={p.token_hash: p.bic for p in participants if p.token_hash},
            known_bics=list(service.participants),
        )
        await _respond_in_parts(self._nc, msg.reply, _ENCODER.encode(config))

    async def close(self) -> None:
        with contextlib.suppress(KeyError):
            self.service.metrics.registry.unregister(self.edge_metrics)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()


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
                        "rail.cluster.edge",
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


async def start_workers(service: Any, app: web.Application, nats_url: str, host: str, port: int, count: int):
    """`rail serve --workers N`: serve `app` privately on loopback for relayed requests, answer edges on NATS,
    start N local edge processes on host:port. Returns (public port, async cleanup)."""
    from rail.cluster.nats_local import free_port

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

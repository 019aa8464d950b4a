"""The core's side of the edge workers (rail/cluster/edge.py): `rail serve --workers N` starts N local edge processes on
the public port and answers every edge over NATS, from the core process.

CoreEndpoint serves three subjects: batches of validated submits (each run through the API layer's dispatch, the
state-machine half of a submit, with the per-participant rate limit, which must be global; the answers of one
tick leave as one message per edge), relayed requests (a RequestHead and body, answered by the core's API layer
with `respond`, as its own listener would: the same route table, authentication, limits and handlers, no HTTP
hop), and the participant config edges authenticate with. It also receives each edge's metrics and exposes them
on the core's /metrics (rail/cluster/edge_metrics.py).
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

from rail.api.accept import Accepted
from rail.api.handlers import reply_response
from rail.api.http_types import Response, respond
from rail.api.identity import retry_after
from rail.api.replies import Reply
from rail.api.routes import RailApi
from rail.cluster.edge_metrics import EdgeMetricsCollector, decode_snapshot
from rail.cluster.edge_wire import (
    ENCODER,
    REPLY_PART_OVERHEAD_BYTES,
    REQUEST_DECODER,
    SUBMIT_BATCH_DECODER,
    EdgeAnswers,
    EdgeConfig,
    EdgeSubmit,
    answer_size,
    connect,
    respond_in_parts,
    subjects,
    unavailable,
)

log = logging.getLogger(__name__)

#: Requests a core serves for edges at once; beyond it edges get 503 (the core's own queue is bounded too).
EDGE_REQUESTS_IN_FLIGHT_MAX = 8_192
EDGE_START_TIMEOUT_S = 20.0


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

    def __init__(self, api: RailApi, nats_url: str) -> None:
        from rail.cluster.nats_journal import parse_nats_url

        self.api = api
        self.service = api.rail
        self.nats_url = nats_url
        self.subjects = subjects(parse_nats_url(nats_url)[1])
        self._nc: Any = None
        self._in_flight = 0
        self._tasks: set[asyncio.Task] = set()
        self._decoders = _message_decoders()
        self._header_decoder = _header_decoder()
        self._answers: dict[str, list[tuple[int, Response]]] = {}
        self._answers_flush_scheduled = False
        self.edge_metrics = EdgeMetricsCollector()

    async def start(self) -> None:
        self._nc = await connect(self.nats_url, "rail serve --workers")
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
        await respond_in_parts(self._nc, msg.reply, ENCODER.encode(unavailable(status, text)))

    async def _on_submits(self, msg) -> None:
        """One edge's batch of submits: each runs as its own task (a `Prefer: wait` one must not hold up the
        others); their answers go back batched by `_answer`."""
        try:
            batch = SUBMIT_BATCH_DECODER.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("an edge sent an unreadable hand-off batch (an edge of another version?)")
            return
        for submit in batch.submits:
            if self._in_flight >= EDGE_REQUESTS_IN_FLIGHT_MAX:
                self._answer(msg.reply, submit.ref, unavailable(503, "the rail is overloaded"))
                continue
            self._in_flight += 1
            task = asyncio.create_task(self._submit(msg.reply, submit))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _submit(self, reply_to: str, request: EdgeSubmit) -> None:
        try:
            answer = reply_response(await self._dispatch(request))
        except Exception:
            log.exception("a submit from an edge failed")
            answer = unavailable(500, "the rail could not process this request; it has been logged")
        finally:
            self._in_flight -= 1
        self._answer(reply_to, request.ref, answer)

    async def _dispatch(self, request: EdgeSubmit) -> Reply:
        """The core half of a submit an edge accepted, under the participant's rate limit (global: here)."""
        service = self.service
        retry_s = service.rate_limit(request.bic)
        if retry_s:
            headers = {"Retry-After": retry_after(retry_s)}
            text = "request rate limit reached"
            return service.replies.admi002(429, request.rendering, None, "AB10", text, headers=headers)
        decoder = self._decoders.get(request.msg_type)
        if decoder is None:  # an edge of another version: refuse rather than guess
            text = f"{request.msg_type} is not accepted from an edge"
            return service.replies.admi002(400, request.rendering, None, "FF01", text)
        header = None if request.header is None else self._header_decoder.decode(request.header)
        message = decoder.decode(request.message)
        accepted = Accepted(request.msg_type, request.rendering, message, request.raw_body, header)
        return await service.dispatch(request.bic, accepted, request.wait_s)

    def _answer(self, reply_to: str, ref: int, reply: Response) -> None:
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
                item_size = answer_size(reply)
                if item_size > limit:  # never for a pacs.002 or admi.002: kept to a clear answer anyway
                    log.error("an answer of %d bytes does not fit a NATS message", item_size)
                    reply = unavailable(500, "the answer is too large to relay")
                    item_size = answer_size(reply)
                if chunk and size + item_size > limit:
                    messages.append((reply_to, ENCODER.encode(EdgeAnswers(chunk))))
                    chunk, size = [], 0
                chunk.append((ref, reply))
                size += item_size
            messages.append((reply_to, ENCODER.encode(EdgeAnswers(chunk))))
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
        """A relayed request, answered by the core's API layer as its own listener would answer it."""
        request = REQUEST_DECODER.decode(msg.data)
        response = await respond(self.api, request.head, request.body)
        await respond_in_parts(self._nc, msg.reply, ENCODER.encode(response))

    async def _on_config(self, msg) -> None:
        service = self.service
        participants = await service.core.query(lambda s: list(s.participants.values()))
        config = EdgeConfig(
            scheme=ENCODER.encode(service.scheme),
            tokens={p.token_hash: p.bic for p in participants if p.token_hash},
            known_bics=list(service.participants),
        )
        await respond_in_parts(self._nc, msg.reply, ENCODER.encode(config))

    async def close(self) -> None:
        with contextlib.suppress(KeyError):
            self.service.metrics.registry.unregister(self.edge_metrics)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None
        for task in list(self._tasks):
            task.cancel()


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


async def start_workers(api: RailApi, nats_url: str, host: str, port: int, count: int):
    """`rail serve --workers N`: answer edges on NATS from `api`, start N local edge processes on host:port.
    Returns (public port, async cleanup)."""
    from rail.cluster.nats_local import free_port

    endpoint = CoreEndpoint(api, nats_url)
    await endpoint.start()
    public_port = port or free_port()
    workers = EdgeWorkers(count, nats_url, host, public_port)
    try:
        await asyncio.get_running_loop().run_in_executor(None, workers.start)
    except BaseException:
        await endpoint.close()
        raise

    async def cleanup() -> None:
        await asyncio.get_running_loop().run_in_executor(None, workers.stop)
        await endpoint.close()

    return public_port, cleanup

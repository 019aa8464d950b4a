"""Decoding participants' messages in other processes: `rail serve --decode-workers N`.

Why: the settlement core is a single writer on one event-loop thread, and on that thread the hardened XML
decode (parse, the official XSD, the tree walk into a struct) is the largest cost of a payment: ~40% of the
thread at 1,500 payments/s (bench/RESULTS.md, "Decoding off the event loop"). Decoding needs nothing of the
rail's state, so N worker processes (rail/iso20022/decode_worker.py) do it on the other cores while the
loop thread does HTTP, the profile, the state machine and the replies.

How: the bodies submitted within GATHER_S (2 ms) leave as one frame to the least-loaded worker
(rail/iso20022/decode_wire.py); the worker answers one frame per frame, in order, with the message struct
(JSON: lossless) or the admi.002 fields of a refusal. The rail then goes on exactly as after an in-process
decode: the worker runs the same `rail.iso20022.decode`.

The pool is only ever a faster way to the same answer. `decode` returns None whenever the pool cannot take a
body (no worker ready yet, one restarting, or the bytes in flight at their bound), and a worker that dies
fails its pending bodies with `DecodeUnavailable`: in both cases the caller decodes in-process, as without a
pool. A dead worker is restarted after a pause that doubles up to RESTART_S_MAX.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys

import msgspec

from rail.iso20022 import _spec
from rail.iso20022.decode_wire import (
    OUTCOMES_DECODER,
    DecodedWire,
    Refused,
    Request,
    frame,
    take_frames,
)
from rail.iso20022.errors import MessageRejected
from rail.iso20022.structs import AppHdr, Decoded

log = logging.getLogger(__name__)

# Body bytes handed to one worker and not yet answered: beyond it the caller decodes in-process (memory stays
# bounded whatever participants send; the listener bounds each body to 1 MiB already).
IN_FLIGHT_BYTES_MAX = 32 << 20
WORKERS_MAX = 64
# Bodies gather this long (or up to FRAME_BODIES_MAX) before they leave as one frame. Handing a frame to another
# process costs far more than decoding one body when the receiver sleeps (a wake-up each way; on this 2-vCPU VM
# ~200 us of CPU a frame, measured): at 1,000 payments/s a frame a tick carried ~1 body. A millisecond or two of
# gathering is nothing against the scheme's seconds.
GATHER_S = 0.002
FRAME_BODIES_MAX = 64
RESTART_S_MIN = 0.5
RESTART_S_MAX = 30.0
_ENCODER = msgspec.msgpack.Encoder()
_HEADER_DECODER = msgspec.json.Decoder(AppHdr)
_MESSAGE_DECODERS = {t: msgspec.json.Decoder(spec.cls) for t, spec in _spec.SPEC_BY_TYPE.items()}


class DecodeUnavailable(Exception):
    """The worker holding this body died before answering: decode it in-process."""


def _decoded(answer: DecodedWire) -> Decoded:
    header = _HEADER_DECODER.decode(answer.header) if answer.header is not None else None
    message = _MESSAGE_DECODERS[answer.msg_type].decode(answer.message)
    return Decoded(message, answer.rendering, answer.msg_type, header)


class _Worker(asyncio.Protocol):
    """One worker process and its socket, seen from the rail's event loop."""

    def __init__(self, pool: DecodePool, index: int) -> None:
        self.pool, self.index = pool, index
        self.process: subprocess.Popen | None = None
        self.transport: asyncio.Transport | None = None
        self.ready = False
        self.pending: dict[int, tuple[asyncio.Future, int]] = {}
        self.bytes_in_flight = 0
        self.batch: list[Request] = []
        self._buffer = bytearray()

    # -- the socket's side ----------------------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            frames = take_frames(self._buffer)
        except ConnectionError as exc:  # out of step: start again with a new worker
            log.warning("decode worker %d: %s", self.index, exc)
            self.transport.abort()
            return
        for payload in frames:
            self._frame(payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.ready = False
        self.transport = None
        pending, self.pending, self.bytes_in_flight = self.pending, {}, 0
        self.pool.handed_back += len(pending)
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(DecodeUnavailable())
        self.pool._lost(self)

    def _frame(self, payload: bytes) -> None:
        if not payload:
            self.ready = True  # the worker's first frame: schemas loaded
            return
        for answer in OUTCOMES_DECODER.decode(payload):
            future, size = self.pending.pop(answer.request_id, (None, 0))
            self.bytes_in_flight -= size
            if future is None or future.done():
                continue
            if isinstance(answer, DecodedWire):
                future.set_result(_decoded(answer))
            elif isinstance(answer, Refused):
                future.set_exception(MessageRejected(
                    answer.reason_code, answer.description, answer.error_location, answer.related_ref
                ))  # fmt: skip
            else:
                self.pool.handed_back += 1
                future.set_exception(DecodeUnavailable(answer.error))

    # -- the rail's side ------------------------------------------------------------------------------------

    def take(self, request: Request, future: asyncio.Future) -> None:
        self.pending[request.request_id] = (future, len(request.body))
        self.bytes_in_flight += len(request.body)
        self.batch.append(request)

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if batch and self.transport is not None:
            self.transport.write(frame(_ENCODER.encode(batch)))


class DecodePool:
    """N decode worker processes for one event loop. `start()`, then `decode()` per body; `close()` at the end."""

    def __init__(self, workers: int) -> None:
        if not 1 <= workers <= WORKERS_MAX:
            raise ValueError(f"decode workers must be 1-{WORKERS_MAX}, not {workers}")
        self._workers = [_Worker(self, index) for index in range(workers)]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_id = 0
        self._flush_scheduled = False
        self._closed = False
        self._restart_s = [RESTART_S_MIN] * workers
        # What /metrics shows (rail/api/metrics.py): workers restarted; bodies a worker took, bodies declined
        # (none ready, or the bound reached) and bodies handed back unanswered (their worker died): the caller
        # decoded those two kinds in-process.
        self.restarts = 0
        self.taken = 0
        self.declined = 0
        self.handed_back = 0

    @property
    def ready_workers(self) -> int:
        return sum(1 for worker in self._workers if worker.ready)

    async def start(self) -> None:
        """Start every worker (they load the schemas meanwhile; bodies are decoded in-process until then)."""
        self._loop = asyncio.get_running_loop()
        for worker in self._workers:
            await self._spawn(worker)

    def decode(self, body: bytes, content_type: str) -> asyncio.Future[Decoded] | None:
        """A future of `body`'s Decoded (or MessageRejected, or DecodeUnavailable), or None: decode it here."""
        worker = min(self._workers, key=_load)
        if not worker.ready or worker.bytes_in_flight + len(body) > IN_FLIGHT_BYTES_MAX:
            self.declined += 1
            return None
        self.taken += 1
        self._next_id += 1
        future = self._loop.create_future()
        worker.take(Request(self._next_id, content_type, body), future)
        if len(worker.batch) >= FRAME_BODIES_MAX:
            worker.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_later(GATHER_S, self._flush)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        for worker in self._workers:
            worker.flush()

    async def close(self) -> None:
        self._closed = True
        for worker in self._workers:
            if worker.transport is not None:
                worker.transport.close()  # EOF: the worker exits
        for worker in self._workers:
            await _reap(worker.process)

    # -- workers' lives ------------------------------------------------------------------------------------

    async def _spawn(self, worker: _Worker) -> None:
        if self._closed:
            return
        ours, theirs = socket.socketpair()
        try:
            worker.process = subprocess.Popen(
                [sys.executable, "-m", "rail.iso20022.decode_worker", str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError as exc:
            ours.close()
            log.warning("decode worker %d could not start (%s): decoding in-process", worker.index, exc)
            return
        finally:
            theirs.close()
        await self._loop.create_unix_connection(lambda: worker, sock=ours)

    def _lost(self, worker: _Worker) -> None:
        if self._closed:
            return
        self.restarts += 1
        delay = self._restart_s[worker.index]
        self._restart_s[worker.index] = min(delay * 2, RESTART_S_MAX)
        log.warning("decode worker %d ended; restarting it in %.1f s (bodies are decoded in-process meanwhile)",
                    worker.index, delay)  # fmt: skip
        asyncio.ensure_future(_reap(worker.process))
        self._loop.call_later(delay, lambda: asyncio.ensure_future(self._spawn(worker)))


def _load(worker: _Worker) -> tuple[bool, int]:
    return (not worker.ready, worker.bytes_in_flight)


async def _reap(process: subprocess.Popen | None) -> None:
    """Wait (without blocking the loop) for a worker that was told to go; kill it if it lingers."""
    if process is None:
        return
    for _ in range(50):
        if process.poll() is not None:
            return
        await asyncio.sleep(0.02)
    process.kill()
    process.wait()

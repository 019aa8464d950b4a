"""The day's plan drawn on the machine's other core: a second process runs the load model and streams its
payments to the simulation in chunks.

Drawing a payment (participants/remittance.py: arrival, kind, banks, customers, amount, UETR) costs ~7 us; a
national day draws ~5.9M of them, ~40 s that the simulating process would otherwise spend between its own
events. The plan is a function of the scenario and seed alone, so where it is drawn changes nothing the run
computes: the same payments, in the same order, as `Day.plan` draws inline (tests/test_simulate.py compares
them, and the journals). The pipe bounds how far ahead the drawing runs (a chunk or two: memory stays flat).

A process that may not start children (a multiprocessing.Pool worker is daemonic) draws inline instead.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from participants.remittance import PlannedPayment

# Per message through the pipe: ~37 KB, so that a whole chunk waits in the pipe's buffer (64 KB on Linux) and the
# simulation never waits for this process to be scheduled to finish writing one (~90 ms of simulating at most).
CHUNK_PAYMENTS = 512
JOIN_S = 5.0

PlanSource = Callable[[], Iterator[PlannedPayment]]


def _draw(source: PlanSource, from_s: float, until_s: float, conn: Connection) -> None:
    """In the drawing process: the payments intended in [from_s, until_s), in chunks, then an empty chunk."""
    # Forked from the simulation: its signal handling is not ours. Ctrl-C is the simulation's to handle (it
    # closes the feed), and a signal here must not reach the simulation's event loop through the wakeup fd
    # this process inherited.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    encoder = msgspec.msgpack.Encoder()
    chunk: list[PlannedPayment] = []
    try:
        for p in source():
            if p.intended_s >= until_s:
                break
            if p.intended_s < from_s:
                continue
            chunk.append(p)
            if len(chunk) >= CHUNK_PAYMENTS:
                conn.send_bytes(encoder.encode(chunk))
                chunk.clear()
        if chunk:
            conn.send_bytes(encoder.encode(chunk))
        conn.send_bytes(encoder.encode([]))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the simulation stopped reading (its day ended early, or was interrupted)
    finally:
        conn.close()


class PlanFeed:
    """The payments of `source()` intended in [from_s, until_s), drawn in another process; iterate once, then
    `close()` (also when the iteration stopped early). `source` must be picklable (a bound method of a picklable
    object, or a module-level function); it runs in a forked child."""

    def __init__(self, source: PlanSource, from_s: float, until_s: float) -> None:
        self._source, self._from_s, self._until_s = source, from_s, until_s
        self._process: Any = None
        self._conn: Connection | None = None

    @staticmethod
    def possible() -> bool:
        return not multiprocessing.current_process().daemon

    def __iter__(self) -> Iterator[PlannedPayment]:
        # Forked, not spawned: a spawned child imports the caller's __main__ again (a script without the
        # __main__ guard would run its simulation twice); the child touches nothing of the parent but the plan.
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe(duplex=False)
        process = context.Process(target=_draw, args=(self._source, self._from_s, self._until_s, child),
                                  name="rail-simulate-plan", daemon=True)
        process.start()
        self._process = process
        child.close()
        decoder = msgspec.msgpack.Decoder(list[PlannedPayment])
        while True:
            try:
                chunk = decoder.decode(self._conn.recv_bytes())
            except EOFError:
                raise RuntimeError("the process drawing the day's plan ended before the plan did "
                                   f"(exit code {self._process.exitcode})") from None
            if not chunk:
                return
            yield from chunk

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(JOIN_S)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()

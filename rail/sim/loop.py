"""An asyncio event loop in simulated time: discrete-event simulation of the rail and its banks.

The loop's `time()` is a :class:`rail.clock.VirtualClock`. When nothing is ready to run, the loop does not wait:
it moves the clock to the next scheduled event (a bank's answer delay, a payment's intended time, the core's
next deadline, a long poll's timeout) and runs it at once. Time therefore advances event to event, and a
simulated day takes only the CPU its events need. Every `asyncio.sleep`, `call_later` and `wait_for` of the
real code (the settlement core, RailService, the simulated banks) runs unchanged, in simulated time.

Time moves in ticks (`tick_ns`): every event due within one tick runs at the tick's end, together. This is the
settlement core's batch period in the simulation (a real core batches whatever arrived while its previous batch
was being synced, a few milliseconds), and it groups the day's events into batches of realistic size.

Determinism: one thread, callbacks in the order they became ready, timers in (time, scheduling) order; nothing
reads the wall clock and no other thread can wake the loop (run_in_executor is refused, the journal writes
inline). The same inputs give the same sequence of events, hence the same journal, byte for byte.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Coroutine
from typing import Any

from rail.clock import NS_PER_S, VirtualClock


class SimulationStalled(RuntimeError):
    """Nothing is ready and nothing is scheduled: every task waits for something that can never happen."""


class _VirtualSelector(selectors.DefaultSelector):
    """Polls the real file descriptors (the loop's self-pipe: signals, Ctrl-C) without ever blocking; where
    the loop would wait for `timeout` seconds, simulated time moves on by that much instead."""

    def __init__(self, clock: VirtualClock, tick_ns: int) -> None:
        super().__init__()
        self.clock = clock
        self.tick_ns = tick_ns

    def select(self, timeout: float | None = None) -> list:
        if timeout == 0:
            return []  # callbacks are ready: the descriptors are polled when time next moves (no syscall each turn)
        events = super().select(0)
        if events:
            return events
        if timeout is None:
            raise SimulationStalled("no event is scheduled and nothing is ready: the simulation cannot go on")
        clock = self.clock
        target = clock.now_ns() + math.ceil(timeout * NS_PER_S)
        ticks = -(-(target - clock.start_ns) // self.tick_ns)  # up to the end of the tick it falls in
        clock.advance_to(clock.start_ns + ticks * self.tick_ns)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose time is `clock` (seconds since the clock's start)."""

    def __init__(self, clock: VirtualClock, tick_ns: int) -> None:
        if tick_ns <= 0:
            raise ValueError("tick_ns must be positive")
        super().__init__(_VirtualSelector(clock, tick_ns))
        self.clock = clock
        self.tick_ns = tick_ns

    def time(self) -> float:
        return self.clock.monotonic()

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future:
        # A thread finishing would wake the loop at a moment no simulated event decides: refused outright.
        raise RuntimeError(f"no threads in simulated time ({getattr(func, '__name__', func)!r} asked for one)")


def run_simulated(main: Coroutine, clock: VirtualClock, tick_ns: int) -> Any:
    """Run `main` to completion on a fresh virtual-time loop (what asyncio.run does for the real one)."""
    loop = VirtualTimeLoop(clock, tick_ns)
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

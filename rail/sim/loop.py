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

Lean: a simulated day runs a few callbacks per payment through this loop, ~40M in a day, so its bookkeeping is
the pure-Python SelectorEventLoop's, trimmed. Handles are asyncio's own, created without an __init__ frame or
the debug checks (this loop never runs in debug mode), a handle runs inline in `_run_once` (no method call
each), and timers sit in a heap of (when, scheduling seq, handle) tuples compared in C, not through
TimerHandle.__lt__ (equal times run in scheduling order, as stated above, not in whatever order the heap left
them). Measured on a 10-minute peak slice: 12-20% less CPU than asyncio's loop (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
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


# As asyncio's own loop: drop cancelled timers from the heap once they are this many and this share of it.
_CANCELLED_TIMERS_MIN = 100
_CANCELLED_TIMERS_SHARE = 0.5
_SELECT_TIMEOUT_MAX_S = 24 * 3600.0  # as asyncio's MAXIMUM_SELECT_TIMEOUT


_new = object.__new__
_copy_context = contextvars.copy_context


def _handle(kind: type, callback, args, loop, context):
    """A `kind` (Handle or TimerHandle) as asyncio would create it outside debug mode, filled in place: no
    __init__ frame (measured: creating handles this way took 7-10% off a simulated slice's CPU, both orders of
    an in-process A/B), and none of the debug checks (this loop's debug mode is always off)."""
    handle = _new(kind)
    handle._context = _copy_context() if context is None else context
    handle._loop, handle._callback, handle._args = loop, callback, args
    handle._cancelled, handle._repr, handle._source_traceback = False, None, None
    return handle


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose time is `clock` (seconds since the clock's start)."""

    def __init__(self, clock: VirtualClock, tick_ns: int) -> None:
        if tick_ns <= 0:
            raise ValueError("tick_ns must be positive")
        super().__init__(_VirtualSelector(clock, tick_ns))
        self.clock = clock
        self.tick_ns = tick_ns
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._timer_seq = itertools.count()

    def time(self) -> float:
        return self.clock.monotonic()

    def set_debug(self, enabled: bool) -> None:
        # Always off (PYTHONASYNCIODEBUG included): its handles skip the debug checks, and its slow-callback
        # warnings would time simulated callbacks by the wall clock.
        super().set_debug(False)

    def call_soon(self, callback, *args, context=None) -> asyncio.Handle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        handle = _handle(asyncio.Handle, callback, args, self, context)
        self._ready.append(handle)
        return handle

    def call_at(self, when, callback, *args, context=None) -> asyncio.TimerHandle:
        if self._closed:
            raise RuntimeError("Event loop is closed")
        timer = _handle(asyncio.TimerHandle, callback, args, self, context)
        timer._when, timer._scheduled = when, True
        # Ordered by (when, seq) compared in C, not by TimerHandle.__lt__ (a Python call per comparison)
        heapq.heappush(self._timers, (when, next(self._timer_seq), timer))
        return timer

    def call_later(self, delay, callback, *args, context=None) -> asyncio.TimerHandle:
        return self.call_at(self.clock.monotonic() + delay, callback, *args, context=context)

    def close(self) -> None:
        super().close()
        self._timers.clear()

    def _run_once(self) -> None:
        """asyncio's _run_once over the (when, seq, timer) heap, running each handle inline."""
        if (len(self._timers) > _CANCELLED_TIMERS_MIN
                and self._timer_cancelled_count > _CANCELLED_TIMERS_SHARE * len(self._timers)):
            self._drop_cancelled_timers()
        timers, ready = self._timers, self._ready
        while timers and timers[0][2]._cancelled:
            self._timer_cancelled_count -= 1
            heapq.heappop(timers)[2]._scheduled = False
        if not (ready or self._stopping):  # else: the descriptors are polled when time next moves
            timeout = None
            if timers:
                timeout = min(max(0.0, timers[0][0] - self.clock.monotonic()), _SELECT_TIMEOUT_MAX_S)
            self._process_events(self._selector.select(timeout))
        end_time = self.clock.monotonic() + self._clock_resolution
        while timers and timers[0][0] < end_time:
            timer = heapq.heappop(timers)[2]
            timer._scheduled = False
            ready.append(timer)
        popleft = ready.popleft
        for _ in range(len(ready)):
            handle = popleft()
            if handle._cancelled:
                continue
            try:
                handle._context.run(handle._callback, *handle._args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - what Handle._run does with it
                self.call_exception_handler({
                    "message": f"Exception in callback {handle._callback!r}", "exception": exc, "handle": handle,
                })
        handle = None  # breaks a cycle when an exception occurred (as asyncio does)

    def _drop_cancelled_timers(self) -> None:
        kept = []
        for entry in self._timers:
            if entry[2]._cancelled:
                entry[2]._scheduled = False
            else:
                kept.append(entry)
        heapq.heapify(kept)
        self._timers = kept
        self._timer_cancelled_count = 0

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

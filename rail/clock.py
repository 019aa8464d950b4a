"""The clock the rail and its simulated banks read: real time in `rail serve`, simulated time in `rail simulate`.

Everything that stamps or times something reads a :class:`Clock` instead of the `time` module: the settlement
core (batch timestamps, payment deadlines, snapshot timing), the payment state machine through the core (it
never reads a clock: every `apply_*` takes the batch's `now_ns`), and the simulated banks (message timestamps,
their run clock). Timeouts fire by comparing deadlines with `now_ns()`, never by having slept long enough.

Sleeping and scheduling go through the asyncio event loop, whose `time()` must agree with the clock's
`monotonic()`: the standard loop with :data:`REAL_CLOCK`, or rail/sim/loop.py's virtual-time loop with a
:class:`VirtualClock`, which jumps from one scheduled event to the next (discrete-event simulation), so a
simulated day runs as fast as the CPU allows and every run with the same inputs sees the same times.
"""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_S = 1_000_000_000


class Clock(Protocol):
    """What reads time in the rail: the wall clock for timestamps, a monotonic one for intervals."""

    def now_ns(self) -> int:
        """Wall-clock time in nanoseconds since the Unix epoch (batch timestamps, deadlines, AccptncDtTm)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back (intervals: snapshot timing, a bank's run clock)."""
        ...


class RealClock:
    """The machine's clocks (what `rail serve` runs on)."""

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


REAL_CLOCK: Clock = RealClock()


class VirtualClock:
    """Simulated time: starts at `start_ns` (ns since the epoch) and moves only when told (by the simulator's
    event loop, from one event to the next). `monotonic()` is seconds since the start."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def monotonic(self) -> float:
        return (self._now_ns - self.start_ns) / NS_PER_S

    def advance_to(self, ns: int) -> None:
        if ns < self._now_ns:
            raise ValueError(f"simulated time cannot go back ({ns} < {self._now_ns})")
        self._now_ns = ns

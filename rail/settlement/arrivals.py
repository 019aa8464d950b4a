"""Payments in the order the rail accepted them, for everyone and per agent: what `GET /v1/payments` pages
through, newest first, without scanning the payment book (up to millions of payments).

Each payment gets an arrival number (0, 1, 2, ... in the core's order) when it enters the book. The index keeps,
in flat arrays, each arrival's time (the batch time, never decreasing: a wall clock stepping back is clamped)
and UETR, and per agent BIC the arrival numbers of its payments, ascending. A page is a walk down one of those
arrays from a cursor (an arrival number) or a time bound (a binary search), a bounded number of steps.

About 16 bytes a payment plus 8 per agent list (24 in all, against ~700 the book keeps per payment). Payments
that leave the book (its retention window) leave the front of the index, lazily: the arrays are compacted once
their dead front is half of them, so the core's cost per batch stays O(1) amortised. It is state of the state
machine (changed only with the book, in the core's order, so replay rebuilds it) and is in the core's snapshot.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator

import msgspec

#: Dead entries at the front of the arrays before they are compacted (and at least half of them).
COMPACT_AT_LEAST = 4_096


class ArrivalState(msgspec.Struct, array_like=True):
    """The index in a snapshot: arrays as their machine bytes (little-endian int64)."""

    base: int
    last_ns: int
    ns: bytes
    uetrs: list[str]
    by_agent: list[tuple[str, bytes]]


def _int64s(data: bytes = b"") -> array:
    values = array("q")
    values.frombytes(data)
    if sys.byteorder == "big":  # snapshots hold little-endian, whichever machine wrote them
        values.byteswap()
    return values


def _bytes(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array("q", values)
        values.byteswap()
    return values.tobytes()


class ArrivalIndex:
    """Arrival number -> (time, UETR); agent -> its arrival numbers."""

    def __init__(self) -> None:
        self.base = 0  # arrival number of the arrays' first entry
        self.first = 0  # arrival number of the first entry still in the book (the ones before it are dead)
        self.last_ns = 0
        self.ns = _int64s()
        self.uetrs: list[str] = []
        self.by_agent: dict[str, array] = {}

    @property
    def end(self) -> int:
        """The next arrival number."""
        return self.base + len(self.uetrs)

    def add(self, uetr: str, at_ns: int, debtor_agent: str, creditor_agent: str) -> None:
        """On the core's path, once per payment: a few appends."""
        uetrs = self.uetrs
        number = self.base + len(uetrs)
        self.last_ns = at_ns = max(at_ns, self.last_ns)
        self.ns.append(at_ns)
        uetrs.append(uetr)
        by_agent = self.by_agent
        numbers = by_agent.get(debtor_agent)
        if numbers is None:
            numbers = by_agent[debtor_agent] = _int64s()
        numbers.append(number)
        if creditor_agent != debtor_agent:
            numbers = by_agent.get(creditor_agent)
            if numbers is None:
                numbers = by_agent[creditor_agent] = _int64s()
            numbers.append(number)

    def at(self, number: int) -> tuple[int, str]:
        """(time, UETR) of an arrival number in [first, end)."""
        index = number - self.base
        return self.ns[index], self.uetrs[index]

    def forget_front(self, retained: Callable[[str], bool], budget: int) -> None:
        """Move `first` past arrivals whose payment the book no longer has (at most `budget` steps), and
        compact the arrays when their dead front is large enough."""
        uetrs, base, first, end = self.uetrs, self.base, self.first, self.end
        while first < end and budget and not retained(uetrs[first - base]):
            first += 1
            budget -= 1
        self.first = first
        dead = first - base
        if dead >= COMPACT_AT_LEAST and dead * 2 >= len(uetrs):
            del self.ns[:dead]
            del self.uetrs[:dead]
            self.base = first
            for agent, numbers in list(self.by_agent.items()):
                cut = bisect_left(numbers, first)
                if cut == len(numbers):
                    del self.by_agent[agent]
                elif cut:
                    del numbers[:cut]

    # ---- reading: a walk newest first

    def number_at_or_after(self, at_ns: int) -> int:
        """The first arrival number accepted at or after `at_ns`."""
        return self.base + bisect_left(self.ns, at_ns)

    def walk(self, agent: str | None, below: int, lowest: int) -> Iterator[int]:
        """Arrival numbers newest first, from just below `below` down to `lowest` (inclusive): every payment's,
        or `agent`'s (debtor or creditor agent)."""
        lowest = max(lowest, self.first)
        if agent is None:
            return iter(range(min(below, self.end) - 1, lowest - 1, -1))
        numbers = self.by_agent.get(agent)
        if numbers is None:
            return iter(())
        high = bisect_left(numbers, below)
        low = bisect_left(numbers, lowest)
        return (numbers[i] for i in range(high - 1, low - 1, -1))

    # ---- snapshots

    def to_state(self) -> ArrivalState:
        dead = self.first - self.base
        return ArrivalState(
            base=self.first,
            last_ns=self.last_ns,
            ns=_bytes(self.ns[dead:]),
            uetrs=self.uetrs[dead:],
            by_agent=[
                (agent, _bytes(numbers[bisect_left(numbers, self.first) :]))
                for agent, numbers in self.by_agent.items()
            ],
        )

    @classmethod
    def from_state(cls, state: ArrivalState) -> ArrivalIndex:
        index = cls()
        index.base = index.first = state.base
        index.last_ns = state.last_ns
        index.ns = _int64s(state.ns)
        index.uetrs = state.uetrs
        index.by_agent = {agent: _int64s(data) for agent, data in state.by_agent}
        return index

"""Per-participant ordered, durable inboxes: sequence numbers, long-poll, acknowledgement.

An inbox entry is a *reference* (`InboxRef`: a forwarded pacs.008, a status report's uetr and status, a relayed
message), not a rendered message: the settlement core appends references while it applies a batch, and the
message is built lazily, in the recipient's rendering, only when the participant fetches it (rail/api/outbox.py). That keeps the core's per-payment
work tiny and lets one inbox entry be rendered as XML or JSON.

Durability comes from the journal, not from this module: inbox entries are produced deterministically by the
state machine, so replaying the journal after a restart rebuilds every unacknowledged entry with the same
sequence number; acknowledgements are journaled commands too. An entry only becomes *visible* once the batch that
produced it is durable (`publish`), so a participant can never see a message the rail could forget; likewise an
acknowledged entry leaves the inbox only once the acknowledgement is durable, so no reader sees it gone before.

Delivery is at-least-once and in order: a participant acknowledges `upto` a sequence number, and until then a
long-poll (or a webhook retry, rail/api/webhooks.py) returns the same entries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import ClassVar

import msgspec

from rail.settlement.payment_records import MessageFormat, PaymentStatus

log = logging.getLogger(__name__)

INBOX_FETCH_MAX = 1_000  # messages returned by one long-poll or one webhook POST


# ---- inbox references: what the state machine puts in an inbox (journaled in snapshots: tagged, compact) -------
# Each carries what its message needs that may not outlive it elsewhere: a forwarded message carries the sender's
# bytes (the payment may be packed away before it is read), a status report the status of the batch that made it.


class ForwardedPayment(msgspec.Struct, tag="p8", array_like=True, frozen=True, gc=False):
    """The debtor agent's pacs.008, for its creditor agent."""

    msg_type: ClassVar[str] = "pacs.008"
    uetr: str
    message: bytes
    message_format: MessageFormat
    at_ns: int


class StatusReport(msgspec.Struct, tag="p2", array_like=True, frozen=True, gc=False):
    """A payment's final pacs.002 for one of its agents, with the status its batch gave it."""

    msg_type: ClassVar[str] = "pacs.002"
    uetr: str
    status: PaymentStatus
    reason: str | None
    text: str | None


class RelayedMessage(msgspec.Struct, tag="fw", array_like=True, frozen=True, gc=False):
    """A participant's message the rail relays to another: pacs.004, camt.056 or camt.029 (key: the payment's
    UETR), pain.013 or pain.014 (key: the request to pay's MsgId)."""

    msg_type: str
    key: str
    message: bytes
    message_format: MessageFormat
    at_ns: int

    @property
    def uetr(self) -> str:
        """The payment it is about; "" for a request to pay (known by its MsgId)."""
        return self.key if self.msg_type[:4] != "pain" else ""


InboxRef = ForwardedPayment | StatusReport | RelayedMessage


class InboxState(msgspec.Struct, array_like=True):
    """An inbox in a snapshot: its counters and the entries not yet acknowledged."""

    next_seq: int
    acked_upto: int
    entries: list[tuple[int, InboxRef]]


def _end_wait(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Inbox:
    """One participant's ordered inbox. Owned by the core (the single writer); readers only read."""

    __slots__ = ("_waiters", "acked_upto", "bic", "durable_acked_upto", "entries", "next_seq", "visible_upto")

    def __init__(self, bic: str) -> None:
        self.bic = bic
        # Entries not yet acknowledged durably (those up to acked_upto leave at the publish that makes it so).
        self.entries: deque[tuple[int, InboxRef]] = deque()
        self.next_seq = 1
        self.acked_upto = 0  # as applied by the state machine
        self.durable_acked_upto = 0  # as the journal knows it; what readers see
        self.visible_upto = 0  # highest seq whose batch is durable; not persisted (everything replayed is)
        self._waiters: list[asyncio.Future] = []

    def __len__(self) -> int:
        """Entries not acknowledged (as applied): what the state machine's limits count."""
        return self.next_seq - 1 - self.acked_upto

    def push(self, ref: InboxRef) -> int:
        seq = self.next_seq
        self.next_seq = seq + 1
        self.entries.append((seq, ref))
        return seq

    def ack(self, upto: int) -> None:
        """Acknowledge entries up to `upto` (clamped to what exists); they leave at the durable `publish`."""
        self.acked_upto = max(self.acked_upto, min(upto, self.next_seq - 1))

    def publish(self, upto: int | None = None, acked_upto: int | None = None) -> None:
        """Entries up to `upto` (default: everything pushed so far) are durable, and so are acknowledgements up
        to `acked_upto` (default: all applied): make the first visible, drop the second, wake long-polls. With
        the core's pipeline, later entries and acknowledgements may exist, from a batch still syncing."""
        acked = self.acked_upto if acked_upto is None else acked_upto
        if acked > self.durable_acked_upto:
            self.durable_acked_upto = acked
            entries = self.entries
            while entries and entries[0][0] <= acked:
                entries.popleft()
        self.visible_upto = max(self.visible_upto, self.next_seq - 1 if upto is None else upto)
        if self._waiters and self.has_visible():
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def visible(self, max_n: int) -> list[tuple[int, InboxRef]]:
        out = []
        for seq, ref in self.entries:
            if seq > self.visible_upto or len(out) >= max_n:
                break
            out.append((seq, ref))
        return out

    def has_visible(self) -> bool:
        return bool(self.entries) and self.entries[0][0] <= self.visible_upto

    async def wait(self, timeout_s: float) -> None:
        """Long-poll: return when a visible entry exists or `timeout_s` has passed."""
        if self.has_visible() or timeout_s <= 0:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append(waiter)
        # A timer that ends the wait, not asyncio.wait_for: a long poll is the hot path of every in-process bank,
        # and wait_for's extra task hand-offs cost more than the rest of the wait.
        timer = loop.call_later(timeout_s, _end_wait, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def to_state(self) -> InboxState:
        """As applied (a snapshot is taken of durable state only: every acknowledgement is published)."""
        entries = [(seq, ref) for seq, ref in self.entries if seq > self.acked_upto]
        return InboxState(self.next_seq, self.acked_upto, entries)

    @classmethod
    def from_state(cls, bic: str, state: InboxState) -> Inbox:
        inbox = cls(bic)
        inbox.next_seq, inbox.acked_upto = state.next_seq, state.acked_upto
        inbox.durable_acked_upto = inbox.acked_upto
        inbox.entries = deque(state.entries)
        return inbox

"""Every payment the rail remembers, for the whole retention window, in bounded memory.

The duplicate check must answer a resend with the original answer for as long as the scheme promises
(`SchemeParams.retention_days`), whatever the volume: a count-based cache that forgets the oldest payments pays
a late resend twice. So the book keeps two tiers:

- live: in-flight payments and those final for less than COMPACT_AFTER_S, as full `Payment` structs (the hot
  path reads them: the creditor's answer, both agents' status reports);
- final: older final payments, each packed into one bytes object (msgpack of the Payment without its messages,
  which the inboxes hold until delivered), about 0.4 KB; with its two index entries about 0.7 KB a payment.

A final payment leaves the book when it is older than the retention window (by its final time), never before.
The book refuses new payments (`full()`) rather than forget one inside the window: at most
`payments_retained_max` payments, whose memory the operator sizes (docs/operations.md). A final payment that
changes again (a return, a recall) is unpacked back into the live tier and packed again later.

All of it is state of the settlement core's state machine: changed only by `begin_batch` and the `apply_*`
methods, with the journaled batch time, so replay rebuilds exactly the same book; it is in the core's snapshot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import msgspec

from rail.settlement.arrivals import ArrivalIndex, ArrivalState
from rail.settlement.payment_records import IN_FLIGHT, Payment

NS_PER_S = 1_000_000_000
#: A final payment stays whole this long (its status reports are read in the next seconds), then is packed.
COMPACT_AFTER_S = 10.0
#: Work of one batch start (packing, forgetting) is bounded, so a long-idle rail does not stall on its first
#: batch; what is left is done by the next batches (the same ones on replay: it is deterministic).
BOOK_WORK_PER_BATCH_MAX = 20_000

_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(Payment).decode
_FINAL_NS_BYTES = 8


def tx_key(agent: str, tx_id: str) -> str:
    """The duplicate-check key of a TxId: unique per instructing agent (a BIC has no \\x1f)."""
    return f"{agent}\x1f{tx_id}"


def _packed(payment: Payment) -> bytes:
    """The final-ns prefix (read without unpacking, to age records out) and the payment minus its messages."""
    slim = msgspec.structs.replace(
        payment,
        message=b"",
        returns=[msgspec.structs.replace(r, message=b"") for r in payment.returns],
        recalls=[msgspec.structs.replace(r, message=b"", resolution=b"") for r in payment.recalls],
    )
    return payment.final_ns.to_bytes(_FINAL_NS_BYTES, "little") + _pack(slim)


def unpack(packed: bytes) -> Payment:
    """A packed payment (a value of `PaymentBook.final`), as a Payment without its messages."""
    return _unpack(memoryview(packed)[_FINAL_NS_BYTES:])


class BookState(msgspec.Struct, array_like=True):
    """The book in a snapshot (insertion order of `final` is its aging order)."""

    live: list[Payment]
    final: dict[str, bytes]
    by_tx: dict[str, str]
    returns_by_id: list[tuple[str, str, str]]
    arrivals: ArrivalState | None = None  # None in a snapshot from before the index: rebuilt on load


class PaymentBook:
    """UETR -> payment, TxId -> UETR, for every payment inside the retention window."""

    def __init__(self, retention_s: float, retained_max: int) -> None:
        self.configure(retention_s, retained_max)
        self.live: dict[str, Payment] = {}
        self.final: dict[str, bytes] = {}
        self.by_tx: dict[str, str] = {}
        self.returns_by_id: dict[tuple[str, str], str] = {}  # (sender, RtrId) -> UETR
        self._aging: deque[str] = deque()  # packed UETRs in packing order (oldest first)
        self._to_pack: deque[Payment] = deque()  # live final payments, in the order they became final
        self.forgotten = 0  # payments that left the window (a metric)
        self.arrivals = ArrivalIndex()  # the book in the order payments arrived (GET /v1/payments)

    def configure(self, retention_s: float, retained_max: int) -> None:
        self.retention_ns = int(retention_s * NS_PER_S)
        self.retained_max = retained_max

    # ---- reading

    def __len__(self) -> int:
        return len(self.live) + len(self.final)

    def __contains__(self, uetr: str) -> bool:
        return uetr in self.live or uetr in self.final

    def get(self, uetr: str) -> Payment | None:
        """The payment (a packed one unpacked: a copy without its messages, for reading)."""
        payment = self.live.get(uetr)
        if payment is not None:
            return payment
        packed = self.final.get(uetr)
        return None if packed is None else _unpack(memoryview(packed)[_FINAL_NS_BYTES:])

    def __getitem__(self, uetr: str) -> Payment:
        payment = self.get(uetr)
        if payment is None:
            raise KeyError(uetr)
        return payment

    def uetr_of(self, agent: str, tx_id: str) -> str | None:
        return self.by_tx.get(tx_key(agent, tx_id))

    def in_flight(self, uetr: str) -> Payment | None:
        """The payment if it is still in flight (always live: no unpacking)."""
        payment = self.live.get(uetr)
        return payment if payment is not None and payment.status == IN_FLIGHT else None

    def live_payments(self) -> Iterator[Payment]:
        return iter(self.live.values())

    def full(self) -> bool:
        return len(self.live) + len(self.final) >= self.retained_max

    # ---- changing (the state machine only)

    def add(self, payment: Payment) -> None:
        self.live[payment.uetr] = payment
        self.by_tx[tx_key(payment.instructing_agent, payment.tx_id)] = payment.uetr
        self.arrivals.add(payment.uetr, payment.received_ns, payment.debtor_agent, payment.creditor_agent)

    def finalised(self, payment: Payment) -> None:
        self._to_pack.append(payment)

    def for_update(self, uetr: str) -> Payment | None:
        """The payment, live, to be changed (a packed one moves back to the live tier, packed again later)."""
        payment = self.live.get(uetr)
        if payment is not None:
            return payment
        packed = self.final.pop(uetr, None)
        if packed is None:
            return None
        payment = _unpack(memoryview(packed)[_FINAL_NS_BYTES:])
        self.live[uetr] = payment
        self._to_pack.append(payment)  # its aging entry stays; `_forget_old` skips it while it is live
        return payment

    def begin_batch(self, now_ns: int) -> None:
        """At the start of every journaled batch, with its time: pack what has been final long enough and
        forget what has left the retention window."""
        budget = BOOK_WORK_PER_BATCH_MAX
        pack_before_ns = now_ns - int(COMPACT_AFTER_S * NS_PER_S)
        to_pack = self._to_pack
        while to_pack and budget and to_pack[0].final_ns <= pack_before_ns:
            payment = to_pack.popleft()
            budget -= 1
            if self.live.get(payment.uetr) is payment and payment.status != IN_FLIGHT:
                del self.live[payment.uetr]
                self.final[payment.uetr] = _packed(payment)
                self._aging.append(payment.uetr)
        budget = self._forget_old(now_ns - self.retention_ns, budget)
        self.arrivals.forget_front(self.__contains__, budget)

    def _forget_old(self, before_ns: int, budget: int) -> int:
        """Forget final payments older than `before_ns`; returns what is left of the budget."""
        aging, final = self._aging, self.final
        while aging and budget:
            packed = final.get(aging[0])
            budget -= 1
            if packed is None:  # unpacked again (live) since: it has a newer aging entry, or will have
                aging.popleft()
                continue
            if int.from_bytes(packed[:_FINAL_NS_BYTES], "little") >= before_ns:
                return budget
            uetr = aging.popleft()
            payment = _unpack(memoryview(final.pop(uetr))[_FINAL_NS_BYTES:])
            if self.by_tx.get(tx_key(payment.instructing_agent, payment.tx_id)) == uetr:
                del self.by_tx[tx_key(payment.instructing_agent, payment.tx_id)]
            for record in payment.returns:
                self.returns_by_id.pop((record.sender, record.return_id), None)
            self.forgotten += 1
        return budget

    # ---- snapshots

    def to_state(self) -> BookState:
        return BookState(
            live=list(self.live.values()),
            final=self.final,
            by_tx=self.by_tx,
            returns_by_id=[(a, b, u) for (a, b), u in self.returns_by_id.items()],
            arrivals=self.arrivals.to_state(),
        )

    def load(self, state: BookState) -> None:
        self.live = {p.uetr: p for p in state.live}
        self.final = state.final
        self.by_tx = state.by_tx
        self.returns_by_id = {(a, b): u for a, b, u in state.returns_by_id}
        self._aging = deque(state.final)
        finals = sorted((p for p in state.live if p.status != IN_FLIGHT), key=lambda p: p.final_ns)
        self._to_pack = deque(finals)
        if state.arrivals is not None:
            self.arrivals = ArrivalIndex.from_state(state.arrivals)
        else:  # a snapshot from before the index: every payment once, in the order it arrived
            self.arrivals = ArrivalIndex()
            payments = [*state.live, *(self.get(uetr) for uetr in self.final)]
            for p in sorted(payments, key=lambda p: p.received_ns):
                self.arrivals.add(p.uetr, p.received_ns, p.debtor_agent, p.creditor_agent)

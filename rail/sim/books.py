"""What the simulator reads of the settlement core's books, after every journaled batch: the one place it does.

The intraday balance curve and the lowest balance of each bank must be measured batch by batch, at the exact
point the journal records (so that `rail replay` can check each sample after the same batch). Nothing else in
the simulator reads the books: payments, answers and balances otherwise go through RailService like any bank's.
`BankBooks` is that reading: the core's books are private to it (the API layer reads them by `query`), so the
simulator hands the core its books at opening (RailService.open's `takeover`) and reads them only here, from
inside the journal append of the core's own batch, when nothing else can change them.

Each sample also carries what the central bank has funded the bank with so far (opening balance plus
top-ups, read from the batch's Liquidity commands): the report's "liquidity drawn" is that minus available.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from rail.clock import NS_PER_S
from rail.scheme import Scheme
from rail.settlement.commands import COMMAND_DECODER, Liquidity
from rail.settlement.payments import Settlement


def fresh_books(scheme: Scheme) -> Settlement:
    """Empty books for `scheme`: handed to the core (RailService.open's `takeover`), which applies the genesis."""
    return Settlement(scheme)


class BankBooks:
    """Each bank's settlement account: posted balance and what is reserved (pending debits) for payments in
    flight. Read-only."""

    def __init__(self, settlement: Settlement, bics: list[str]) -> None:
        self._settlement = settlement
        self.bics = list(bics)

    def balances(self) -> list[tuple[int, int]]:
        """(posted, reserved) paisa per bank, in `bics` order."""
        ledger = self._settlement.ledger
        participants = self._settlement.participants
        out = []
        for bic in self.bics:
            account = ledger.account(participants[bic].account_id)
            out.append((account.credits_posted - account.debits_posted, account.debits_pending))
        return out


LIQUIDITY_TAG = b"\xa3liq"  # how a Liquidity command's encoding starts, after its array header


class BalanceSample(msgspec.Struct, array_like=True, frozen=True):
    """One bank's settlement account after journal batch `batch_seq` (the first batch at or after the sampling
    instant `t_s`, seconds since midnight), with the extremes it reached since the previous sample."""

    t_s: int
    batch_seq: int
    bic: str
    posted_paisa: int
    available_paisa: int  # posted minus reserved
    min_available_paisa: int  # lowest after any batch since the previous sample
    max_reserved_paisa: int  # highest reservation (payments in flight) since the previous sample
    funded_paisa: int  # opening balance + top-ups - withdrawals by the central bank, up to this batch


class BookWatch:
    """Called after each journaled batch (rail/sim/journal.py): tracks each bank's lowest available balance and
    highest reservation, and emits a `BalanceSample` per bank every `sample_every_s` of simulated time."""

    def __init__(self, books: BankBooks, day_start_ns: int, sample_every_s: int,
                 on_sample: Callable[[BalanceSample], None], opening_paisa: list[int]) -> None:
        self.books = books
        self.funded = list(opening_paisa)  # per bank, in `books.bics` order
        self._index = {bic: i for i, bic in enumerate(books.bics)}
        self.day_start_ns = day_start_ns
        self.every_ns = sample_every_s * NS_PER_S
        self.on_sample = on_sample
        self.next_sample_ns = day_start_ns
        n = len(books.bics)
        self._min_available: list[int | None] = [None] * n
        self._max_reserved = [0] * n
        self.lowest_available: list[int | None] = [None] * n  # over the whole run
        self.highest_reserved = [0] * n

    def after_batch(self, seq: int, records: list) -> None:
        """`records`: the batch as journaled, [batch ns, encoded command, ...]."""
        batch_ns = records[0]
        for raw in records[1:]:
            if raw[1:5] == LIQUIDITY_TAG:  # msgpack [tag, ...]: only the central bank's transfers are decoded
                self._fund(COMMAND_DECODER.decode(raw))
        lows, highs = self._min_available, self._max_reserved
        for i, (posted, reserved) in enumerate(self.books.balances()):
            available = posted - reserved
            low = lows[i]
            if low is None or available < low:
                lows[i] = available
            highs[i] = max(highs[i], reserved)
        if batch_ns >= self.next_sample_ns:
            self.sample(seq, batch_ns)

    def _fund(self, command: Liquidity) -> None:
        i = self._index.get(command.bic)
        if i is not None:
            self.funded[i] += command.amount_paisa if command.direction == "in" else -command.amount_paisa

    def sample(self, seq: int, batch_ns: int) -> None:
        """Emit the current balances (after batch `seq`) and start the next sampling interval."""
        t_s = (min(batch_ns, self.next_sample_ns) - self.day_start_ns) // NS_PER_S
        for i, (posted, reserved) in enumerate(self.books.balances()):
            available = posted - reserved
            low = self._min_available[i]
            low = available if low is None else min(low, available)
            self.lowest_available[i] = low if self.lowest_available[i] is None else min(self.lowest_available[i], low)
            self.highest_reserved[i] = max(self.highest_reserved[i], self._max_reserved[i], reserved)
            self.on_sample(BalanceSample(t_s, seq, self.books.bics[i], posted, available, low,
                                         max(self._max_reserved[i], reserved), self.funded[i]))
            self._min_available[i] = None
            self._max_reserved[i] = 0
        while self.next_sample_ns <= batch_ns:
            self.next_sample_ns += self.every_ns

"""What a simulated day records as it runs: every payment's outcome and the banks' balance curves, streamed to
the run directory (a day of millions of payments is never held in memory), and the running counts.

payments.csv is rail/rundir.py's format, one row per payment in the order of the day's plan (intended time):
a payment's row waits until every payment planned before it has its final status, so the file can be read in
one pass in time order (the liquidity bounds need that order; analytics/liquidity.py). The rows waiting are those
of the last minute or so, more during an outage (its held payments). balances.csv holds rail/sim/books.py's
samples. Both are what the run report reads and what `rail replay` checks the journal against.
"""

from __future__ import annotations

import csv
from collections import Counter, deque
from pathlib import Path
from typing import IO

from participants.remittance import PlannedPayment
from rail import rundir
from rail.sim.books import BalanceSample

NS_PER_MS = 1_000_000
ROWS_PER_FLUSH = 4_096


class BankCounts:
    """One bank's side of the day (paisa for money)."""

    __slots__ = ("am04", "offered", "received_settled_paisa", "rejected", "sent_settled_paisa", "settled_in",
                 "settled_out", "timeouts_as_creditor", "topups", "topups_paisa")

    def __init__(self) -> None:
        self.offered = self.settled_out = self.settled_in = self.rejected = self.am04 = 0
        self.timeouts_as_creditor = self.topups = 0
        self.sent_settled_paisa = self.received_settled_paisa = self.topups_paisa = 0


class Recorder:
    """Streams payments.csv and balances.csv; counts outcomes. `now_ns` is the simulated clock."""

    def __init__(self, out_dir: Path, bics: list[str], day_start_ns: int, now_ns, delayed_after_s: float) -> None:
        self.bics = bics
        self.day_start_ns = day_start_ns
        self.now_ns = now_ns
        self.delayed_after_ms = delayed_after_s * 1000.0
        self.in_flight: dict[str, PlannedPayment] = {}
        self.by_status: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.banks = {bic: BankCounts() for bic in bics}
        self._counts = [self.banks[bic] for bic in bics]  # by bank index, as a payment names its banks
        self.offered = self.final = self.delayed = self.held = 0
        self._payments_file: IO[str] = (Path(out_dir) / rundir.PAYMENTS_CSV).open("w", newline="", encoding="utf-8")
        self._payments = csv.writer(self._payments_file)
        self._payments.writerow(rundir.PAYMENT_COLUMNS)
        self._balances_file: IO[str] = (Path(out_dir) / rundir.BALANCES_CSV).open("w", newline="", encoding="utf-8")
        self._balances = csv.writer(self._balances_file)
        self._balances.writerow(rundir.BALANCE_COLUMNS)
        self._rows: list[tuple] = []
        self._order: deque[int] = deque()  # plan seq of every payment the day handled, in plan order
        self._waiting: dict[int, tuple] = {}  # plan seq -> its row, until the rows before it are written

    # ---- payments

    def planned(self, p: PlannedPayment) -> None:
        """The day reached `p` in its plan (offered now, held or dropped): its row takes this place in the file."""
        self._order.append(p.seq)

    def offered_payment(self, p: PlannedPayment) -> None:
        self.offered += 1
        self.in_flight[p.uetr] = p
        self._counts[p.debtor_bank].offered += 1

    def final_payment(self, uetr: str, status: str, reason: str) -> None:
        """The debtor agent learnt the payment's final status (SimulatedBank's on_final)."""
        p = self.in_flight.pop(uetr, None)
        if p is None:
            return
        intended_ms = p.intended_s * 1000
        latency_ms = (self.now_ns() - self.day_start_ns) / NS_PER_MS - intended_ms
        self._count(p, status, reason, latency_ms)
        self._row(p, status, reason, int(intended_ms), f"{latency_ms:.3f}")

    def unsent_payment(self, p: PlannedPayment) -> None:
        """Never offered to the rail (its bank was down and its customers' payments were dropped)."""
        self.offered += 1
        self.banks[self.bics[p.debtor_bank]].offered += 1
        self.by_status[rundir.UNSENT] += 1
        self._row(p, rundir.UNSENT, "", int(p.intended_s * 1000), "")

    def _count(self, p: PlannedPayment, status: str, reason: str, latency_ms: float) -> None:
        self.final += 1
        self.by_status[status] += 1
        debtor, creditor = self._counts[p.debtor_bank], self._counts[p.creditor_bank]
        if status == "ACSC":
            debtor.settled_out += 1
            creditor.settled_in += 1
            debtor.sent_settled_paisa += p.amount_paisa
            creditor.received_settled_paisa += p.amount_paisa
        else:
            self.by_reason[reason or "none"] += 1
            debtor.rejected += 1
            if reason == "AM04":
                debtor.am04 += 1
            elif reason == "AB05":
                creditor.timeouts_as_creditor += 1
        if latency_ms > self.delayed_after_ms:
            self.delayed += 1

    def _row(self, p: PlannedPayment, status: str, reason: str, intended_ms: int, latency: str) -> None:
        self._waiting[p.seq] = (p.uetr, p.kind, p.corridor, self.bics[p.debtor_bank], self.bics[p.creditor_bank],
                                p.amount_paisa, intended_ms, status, reason, latency)
        order, waiting, rows = self._order, self._waiting, self._rows
        while order and order[0] in waiting:
            rows.append(waiting.pop(order.popleft()))
        if len(rows) >= ROWS_PER_FLUSH:
            self._payments.writerows(rows)
            rows.clear()

    # ---- liquidity

    def top_up(self, bic: str, amount_paisa: int) -> None:
        counts = self.banks[bic]
        counts.topups += 1
        counts.topups_paisa += amount_paisa

    def balance(self, sample: BalanceSample) -> None:
        self._balances.writerow((sample.t_s, sample.batch_seq, sample.bic, sample.posted_paisa,
                                 sample.available_paisa, sample.min_available_paisa, sample.max_reserved_paisa,
                                 sample.funded_paisa))

    def close(self) -> None:
        # After a complete day nothing waits; after a failure, what has a row is kept (in plan order).
        self._rows.extend(self._waiting.pop(seq) for seq in sorted(self._waiting))
        self._payments.writerows(self._rows)
        self._rows.clear()
        self._payments_file.close()
        self._balances_file.close()

"""Deferred net settlement (DNS) against real-time gross settlement (RTGS), from one day's payments.

RAAST settles each payment gross, at once: a bank needs, at worst, its upper bound of liquidity (UB,
analytics/liquidity.py). A deferred net settlement system (ACH-style; NPCI's UPI settles in cycles, UK Faster
Payments three times a day) lets the creditor bank credit its customer at once but settles between banks only
at the end of each cycle, each bank paying or receiving its multilateral net position. With N cycles a day:

* **Liquidity needed** by a bank: its largest cumulative net debit at a cycle's end (what it must hold when a
  cycle settles), ``max(0, -min_k cumulative_net(end of cycle k))``. One cycle a day gives the lower bound
  (LB); ever more cycles tend to the upper bound (UB).
* **Liquidity saved**: UB - that, summed over banks.
* **Settlement risk**, what the saving costs: between two settlements the creditor banks have paid out money
  they have not yet received. *Largest exposure*: the largest net debit any one bank ran up within a cycle
  (what the others stand to lose if it fails just before settlement; under RTGS it is 0: every payment is
  settled before the creditor is told). *Peak pending value*: the most gross value waiting for settlement at
  any time. *Mean settlement delay*: value-weighted time from payment to its settlement (minutes).

Payments must arrive in time order (one pass; only running positions are kept). Money is integer paisa.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

DAY_MS = 86_400_000


class CycleResult(msgspec.Struct, frozen=True):
    cycles_per_day: int
    liquidity_needed_paisa: int  # summed over banks
    liquidity_saved_paisa: int  # UB (summed over banks) - liquidity needed
    largest_exposure_paisa: int
    largest_exposure_bic: str
    peak_pending_paisa: int
    mean_delay_min: float
    per_bank_needed_paisa: dict[str, int]


class NettingTracker:
    """One DNS cycle length over a day; feed it the settled payments in time order (`add`), then `result`."""

    def __init__(self, cycles_per_day: int, banks: Iterable[str] = (), day_ms: int = DAY_MS) -> None:
        if not 1 <= cycles_per_day <= day_ms:
            raise ValueError(f"cycles per day must be between 1 and {day_ms}")
        self.cycles = cycles_per_day
        self.day_ms = day_ms
        self.cycle_end_ms = self._end_of(0)
        self.net: dict[str, int] = dict.fromkeys(banks, 0)  # since the start of the day
        self.in_cycle: dict[str, int] = dict.fromkeys(banks, 0)  # since the last settlement
        self.lowest_settled: dict[str, int] = dict.fromkeys(banks, 0)
        self.exposure, self.exposure_bic = 0, ""
        self.pending = self.peak_pending = 0
        self.value = 0
        self._waited_ms_value = 0  # sum of amount * ms waited

    def _end_of(self, at_ms: int) -> int:
        """The end of the cycle holding `at_ms` (cycles split the day evenly; the last ends at midnight)."""
        k = at_ms * self.cycles // self.day_ms
        return (k + 1) * self.day_ms // self.cycles

    def add(self, debtor_bic: str, creditor_bic: str, amount_paisa: int, at_ms: int) -> None:
        if debtor_bic == creditor_bic:
            return
        if at_ms >= self.cycle_end_ms:
            self._settle()
            self.cycle_end_ms = self._end_of(at_ms)
        debtor = self.in_cycle.get(debtor_bic, 0) - amount_paisa
        self.in_cycle[debtor_bic] = debtor
        self.in_cycle[creditor_bic] = self.in_cycle.get(creditor_bic, 0) + amount_paisa
        if -debtor > self.exposure:
            self.exposure, self.exposure_bic = -debtor, debtor_bic
        self.pending += amount_paisa
        self.peak_pending = max(self.peak_pending, self.pending)
        self.value += amount_paisa
        self._waited_ms_value += amount_paisa * (self.cycle_end_ms - at_ms)

    def _settle(self) -> None:
        for bic, delta in self.in_cycle.items():
            net = self.net.get(bic, 0) + delta
            self.net[bic] = net
            self.lowest_settled[bic] = min(net, self.lowest_settled.get(bic, 0))
            self.in_cycle[bic] = 0
        self.pending = 0

    def result(self, upper_bound_paisa: int) -> CycleResult:
        """`upper_bound_paisa`: the same payments' UB summed over banks (what RTGS needs)."""
        self._settle()
        needed = {bic: -low for bic, low in sorted(self.lowest_settled.items())}
        total = sum(needed.values())
        return CycleResult(
            cycles_per_day=self.cycles, liquidity_needed_paisa=total, liquidity_saved_paisa=upper_bound_paisa - total,
            largest_exposure_paisa=self.exposure, largest_exposure_bic=self.exposure_bic,
            peak_pending_paisa=self.peak_pending,
            mean_delay_min=round(self._waited_ms_value / self.value / 60_000, 2) if self.value else 0.0,
            per_bank_needed_paisa=needed,
        )

"""The figures of a simulated day (`rail simulate`), from its run directory, in one pass over payments.csv.

* **Liquidity bounds** (BoF-PSS2's UB and LB, analytics/liquidity.py) of the day's *demand*: the payments that
  settled plus those refused AM04 (insufficient funds: with more liquidity they would have settled). Payments
  the creditor refused or never answered would not have moved money at any liquidity level, so they are left
  out. rail/sim/ writes payments.csv in intended-time order, which is the order the bounds need.
* **Deferred net settlement** at the scenario's cycle counts (analytics/netting.py), over the same demand.
* **Outcomes**: per bank (as debtor agent) and per hour of the day: settled, AM04, AB05 (the creditor agent's
  silence past the scheme's timeout), other refusals, payments delayed (final later than the scenario's
  `delayed_after_s` after their intended time) and never sent (their bank was down).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgspec

from analytics.liquidity import BoundsTracker, SystemLiquidity
from analytics.netting import CycleResult, NettingTracker
from rail import rundir

SETTLED = "ACSC"
INSUFFICIENT_FUNDS = "AM04"
CREDITOR_TIMEOUT = "AB05"
HOURS = 24


class Outcomes(msgspec.Struct):
    """Counts for one bank (as debtor agent) or one hour of the day."""

    planned: int = 0
    settled: int = 0
    settled_paisa: int = 0
    am04: int = 0
    am04_paisa: int = 0
    ab05: int = 0
    other_rejected: int = 0
    unsent: int = 0
    delayed: int = 0

    def add(self, status: str, reason: str, amount_paisa: int, delayed: bool) -> None:
        self.planned += 1
        if status == SETTLED:
            self.settled += 1
            self.settled_paisa += amount_paisa
        elif reason == INSUFFICIENT_FUNDS:
            self.am04 += 1
            self.am04_paisa += amount_paisa
        elif reason == CREDITOR_TIMEOUT:
            self.ab05 += 1
        elif status == rundir.UNSENT:
            self.unsent += 1
        else:
            self.other_rejected += 1
        if delayed:
            self.delayed += 1


class SimAnalysis(msgspec.Struct):
    demand: SystemLiquidity  # UB and LB of the settled + AM04 payments
    netting: list[CycleResult]
    banks: dict[str, Outcomes]  # as debtor agent
    hours: list[Outcomes]  # by intended hour (PKT)
    reasons: dict[str, int]  # every refusal reason, with its count
    total: Outcomes


def is_demand(status: str, reason: str) -> bool:
    """Would this payment have moved money given enough liquidity?"""
    return status == SETTLED or reason == INSUFFICIENT_FUNDS


def analyse(run_dir: Path, summary: rundir.SimSummary | None = None) -> SimAnalysis:
    run_dir = Path(run_dir)
    summary = summary or rundir.read_sim_summary(run_dir)
    bics = [b.bic for b in summary.banks]
    bounds = BoundsTracker(bics)
    netting = [NettingTracker(n, bics) for n in summary.dns_cycles_per_day]
    banks = {bic: Outcomes() for bic in bics}
    hours = [Outcomes() for _ in range(HOURS)]
    total = Outcomes()
    reasons: Counter[str] = Counter()
    delayed_after_ms = summary.delayed_after_s * 1000.0
    for p in rundir.read_payments(run_dir):
        status, reason = p.final_status, p.reason
        delayed = p.latency_ms is not None and p.latency_ms > delayed_after_ms
        for outcomes in (banks[p.debtor_bic], hours[min(p.intended_at_ms // 3_600_000, HOURS - 1)], total):
            outcomes.add(status, reason, p.amount_paisa, delayed)
        if reason:
            reasons[reason] += 1
        if is_demand(status, reason):
            bounds.add(p.debtor_bic, p.creditor_bic, p.amount_paisa, p.intended_at_ms)
            for tracker in netting:
                tracker.add(p.debtor_bic, p.creditor_bic, p.amount_paisa, p.intended_at_ms)
    demand = bounds.result()
    return SimAnalysis(
        demand=demand, netting=[t.result(demand.upper_bound_paisa) for t in netting], banks=banks, hours=hours,
        reasons=dict(reasons.most_common()), total=total,
    )

"""Payment-system simulator liquidity indicators, computed from a run's settled payments.

Definitions (ANCHORS.md s.3.1, the BoF-PSS2 literature: Leinonen & Soramaki 2003; Arjani 2006):

* **Upper bound (UB)**: the liquidity a bank needs to settle every one of its payments immediately, with
  no queuing: its maximum intraday cumulative net debit, i.e. ``max(0, -min_t net(t))`` where
  ``net(t)`` = value received - value sent by time ``t``.
* **Lower bound (LB)**: the liquidity it needs to settle everything by the end of the day with
  multilateral netting: its end-of-day net debit position, ``max(0, -net(end))``.
* Gross outflow (value sent) is shown beside them: the liquidity needed if no incoming payment could ever
  be reused (``LB <= UB <= gross sent`` always holds).

Only payments that settled (final status ACSC) moved money. They are taken in order of their intended
send time (immediate settlement means no queue between intention and settlement); within the same
millisecond a bank's outflows are counted before its inflows, which can only raise UB (conservative).
All money is integer paisa.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

SETTLED_STATUS = "ACSC"
USAGE_QUANTUM = Decimal("0.001")


class PaymentEvent(msgspec.Struct, frozen=True):
    """The fields of a run's payment row this module needs (rail.rundir.PaymentRow has them)."""

    debtor_bic: str
    creditor_bic: str
    amount_paisa: int
    intended_at_ms: int
    final_status: str


class BankLiquidity(msgspec.Struct, frozen=True):
    bic: str
    settled_sent: int
    settled_received: int
    gross_sent_paisa: int
    gross_received_paisa: int
    net_position_paisa: int  # received - sent at the end of the run
    upper_bound_paisa: int
    lower_bound_paisa: int


class SystemLiquidity(msgspec.Struct, frozen=True):
    banks: tuple[BankLiquidity, ...]
    settled_payments: int
    settled_value_paisa: int
    upper_bound_paisa: int  # sum over banks
    lower_bound_paisa: int  # sum over banks
    gross_sent_paisa: int  # sum over banks


class BoundsTracker:
    """UB, LB and gross flows per bank, from settled payments fed in time order (one pass, a bank's running
    position only: a simulated day of millions of payments is never held). `indicators` sorts, then feeds it.

    Within one millisecond a bank's outflows count before its inflows: outflows apply at once, inflows when the
    next millisecond starts (or at the end)."""

    def __init__(self, banks: Iterable[str] = ()) -> None:
        self.net: dict[str, int] = dict.fromkeys(banks, 0)
        self.lowest: dict[str, int] = dict.fromkeys(banks, 0)
        self.sent: dict[str, int] = defaultdict(int)
        self.received: dict[str, int] = defaultdict(int)
        self.sent_count: dict[str, int] = defaultdict(int)
        self.received_count: dict[str, int] = defaultdict(int)
        self.settled = 0
        self.value = 0
        self._ms: int | None = None
        self._inflows: list[tuple[str, int]] = []  # this millisecond's, applied when it is over

    def add(self, debtor_bic: str, creditor_bic: str, amount_paisa: int, at_ms: int) -> None:
        """One settled payment; `at_ms` never before the previous one's."""
        if amount_paisa <= 0:
            raise ValueError(f"settled payment with non-positive amount {amount_paisa} paisa")
        if debtor_bic == creditor_bic:
            return  # an on-us transfer moves no settlement money
        if at_ms != self._ms:
            if self._ms is not None and at_ms < self._ms:
                raise ValueError(f"payments out of time order ({at_ms} ms after {self._ms} ms)")
            self._apply_inflows()
            self._ms = at_ms
        net = self.net.get(debtor_bic, 0) - amount_paisa
        self.net[debtor_bic] = net
        self.lowest[debtor_bic] = min(net, self.lowest.get(debtor_bic, 0))
        self.lowest.setdefault(creditor_bic, 0)
        self._inflows.append((creditor_bic, amount_paisa))
        self.sent[debtor_bic] += amount_paisa
        self.received[creditor_bic] += amount_paisa
        self.sent_count[debtor_bic] += 1
        self.received_count[creditor_bic] += 1
        self.settled += 1
        self.value += amount_paisa

    def _apply_inflows(self) -> None:
        for bic, amount in self._inflows:
            self.net[bic] = self.net.get(bic, 0) + amount
        self._inflows.clear()

    def result(self) -> SystemLiquidity:
        self._apply_inflows()
        result = []
        for bic in sorted(self.lowest):
            net, sent = self.net.get(bic, 0), self.sent[bic]
            upper, lower = -self.lowest[bic], max(0, -net)
            assert 0 <= lower <= upper <= sent, (bic, lower, upper, sent)
            result.append(BankLiquidity(
                bic=bic, settled_sent=self.sent_count[bic], settled_received=self.received_count[bic],
                gross_sent_paisa=sent, gross_received_paisa=self.received[bic], net_position_paisa=net,
                upper_bound_paisa=upper, lower_bound_paisa=lower,
            ))
        # Conservation: settlement moves money between banks, it never creates or destroys it.
        assert sum(b.net_position_paisa for b in result) == 0
        assert sum(b.gross_sent_paisa for b in result) == self.value == sum(b.gross_received_paisa for b in result)
        return SystemLiquidity(
            banks=tuple(result),
            settled_payments=self.settled,
            settled_value_paisa=self.value,
            upper_bound_paisa=sum(b.upper_bound_paisa for b in result),
            lower_bound_paisa=sum(b.lower_bound_paisa for b in result),
            gross_sent_paisa=self.value,
        )


def indicators(payments: Iterable[PaymentEvent], banks: Iterable[str] = ()) -> SystemLiquidity:
    """UB, LB and gross flows per bank from the settled payments (any object with PaymentEvent's fields)."""
    settled = sorted((p for p in payments if p.final_status == SETTLED_STATUS), key=lambda p: p.intended_at_ms)
    tracker = BoundsTracker(banks)
    for p in settled:
        tracker.add(p.debtor_bic, p.creditor_bic, p.amount_paisa, p.intended_at_ms)
    return tracker.result()


class UsageLine(msgspec.Struct, frozen=True):
    """A bank's observed liquidity use set against the indicators."""

    bic: str
    lower_bound_paisa: int
    upper_bound_paisa: int
    used_paisa: int | None  # opening balance - minimum balance (from the run's treasury record)
    topups_paisa: int | None
    usage_position: Decimal | None  # (used - LB) / (UB - LB): 0 = at LB, 1 = at UB; None when UB == LB


def usage(system: SystemLiquidity, observed: Mapping[str, object]) -> list[UsageLine]:
    """Join the indicators with each bank's record (rail.rundir.LiquidityRecord fields:
    ``opening_balance_paisa``, ``min_balance_paisa``, ``topups_paisa``)."""
    lines = []
    for bank in system.banks:
        record = observed.get(bank.bic)
        used = topups = None
        position = None
        if record is not None:
            used = max(0, record.opening_balance_paisa - record.min_balance_paisa)
            topups = record.topups_paisa
            span = bank.upper_bound_paisa - bank.lower_bound_paisa
            if span > 0:
                position = (Decimal(used - bank.lower_bound_paisa) / Decimal(span)).quantize(USAGE_QUANTUM)
        lines.append(
            UsageLine(bank.bic, bank.lower_bound_paisa, bank.upper_bound_paisa, used, topups, position)
        )
    return lines

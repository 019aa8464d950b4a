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


def indicators(payments: Iterable[PaymentEvent], banks: Iterable[str] = ()) -> SystemLiquidity:
    """UB, LB and gross flows per bank from the settled payments (any object with PaymentEvent's fields)."""
    events: dict[str, list[tuple[int, int]]] = defaultdict(list)  # bic -> (time_ms, signed paisa)
    sent_count: dict[str, int] = defaultdict(int)
    received_count: dict[str, int] = defaultdict(int)
    settled = 0
    value = 0
    for p in payments:
        if p.final_status != SETTLED_STATUS:
            continue
        if p.amount_paisa <= 0:
            raise ValueError(f"settled payment with non-positive amount {p.amount_paisa} paisa")
        if p.debtor_bic == p.creditor_bic:
            continue  # an on-us transfer moves no settlement money
        events[p.debtor_bic].append((p.intended_at_ms, -p.amount_paisa))
        events[p.creditor_bic].append((p.intended_at_ms, p.amount_paisa))
        sent_count[p.debtor_bic] += 1
        received_count[p.creditor_bic] += 1
        settled += 1
        value += p.amount_paisa
    result = []
    for bic in sorted(set(events) | set(banks)):
        net = 0
        lowest = 0
        sent = received = 0
        # Sorting by (time, signed amount) puts a millisecond's outflows before its inflows.
        for _, delta in sorted(events.get(bic, ())):
            net += delta
            lowest = min(lowest, net)
            if delta < 0:
                sent -= delta
            else:
                received += delta
        upper = -lowest
        lower = max(0, -net)
        assert 0 <= lower <= upper <= sent, (bic, lower, upper, sent)
        result.append(
            BankLiquidity(
                bic=bic,
                settled_sent=sent_count[bic],
                settled_received=received_count[bic],
                gross_sent_paisa=sent,
                gross_received_paisa=received,
                net_position_paisa=net,
                upper_bound_paisa=upper,
                lower_bound_paisa=lower,
            )
        )
    # Conservation: settlement moves money between banks, it never creates or destroys it.
    assert sum(b.net_position_paisa for b in result) == 0
    assert sum(b.gross_sent_paisa for b in result) == value == sum(b.gross_received_paisa for b in result)
    return SystemLiquidity(
        banks=tuple(result),
        settled_payments=settled,
        settled_value_paisa=value,
        upper_bound_paisa=sum(b.upper_bound_paisa for b in result),
        lower_bound_paisa=sum(b.lower_bound_paisa for b in result),
        gross_sent_paisa=value,
    )


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

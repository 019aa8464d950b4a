"""Formal channels priced from RPW corridor averages (corridors.csv), at any amount, and the RAAST leg.

RPW prices USD 200 and USD 500 only. A pricer reproduces both baskets exactly, interpolates the USD fee
linearly between them and the FX margin (%) likewise; outside them a rising fee keeps its slope (floored
at zero) and a falling one is held flat (a fee that kept falling past USD 500 would soon go negative).

The PRI rebate follows the rule of the period the quotes belong to: the 2025 Q3 quotes are FY2026
(from 2025-07-01), when SAR 20 is paid per transaction of USD 200 or more *on which no fee is charged*.
So a channel's expected rebate is SAR 20 times the share of its corridor's services that charge no fee
(rpw_services.csv, at the nearest basket).
"""

from __future__ import annotations

from decimal import Decimal

from analytics.datasets import FLOWS_CSV, RPW_BASKETS_USD, CorridorRow, Datasets
from analytics.pricing import services
from analytics.pricing.core import FAMILY_RPW, Channel, Pricer, zero_components
from analytics.pricing.provenance import (
    HUNDRED,
    InputRef,
    corridor_ref,
    param_ref,
    param_value,
    pri_row,
    raast_row,
    usd,
)

BASKET_LOW_USD = Decimal(RPW_BASKETS_USD[0])
BASKET_HIGH_USD = Decimal(RPW_BASKETS_USD[1])

RPW_CHANNEL_CLASSES = {"rpw_average": "all", "bank": "bank", "mto": "mto"}
RPW_CHANNEL_LABELS = {
    "rpw_average": "RPW corridor average (all services)",
    "bank": "Banks (RPW bank subset, name-based)",
    "mto": "Money transfer operators (RPW MTO subset, name-based)",
}

# Corridors with no RPW series of their own, modelled as an equal-weight mean of member corridors: SBP's
# FY2025 per-country split of "other GCC" is not in the data (flows_pakistan.csv has one figure).
COMPOSITE_CORRIDORS = {"GCC->PAK": ("KWT->PAK", "QAT->PAK", "OMN->PAK", "BHR->PAK")}


def rebate_usd(data: Datasets) -> tuple[Decimal, Decimal, tuple[InputRef, ...]]:
    """FY2026 rule: (rebate per eligible transaction in USD, minimum eligible amount in USD, provenance)."""
    rebate = data.parameter("pri_rebate_sar")
    peg = data.parameter("sar_per_usd")
    minimum = data.parameter("pri_min_amount_usd")
    refs = tuple(param_ref(p) for p in (rebate, peg, minimum))
    return rebate.value / peg.value, minimum.value, refs


def rpw_corridors(data: Datasets) -> list[str]:
    return sorted({row.corridor for row in data.corridors if row.firm_class == "all"})


def rpw_rows(data: Datasets, corridor: str, firm_class: str, period: str | None) -> dict[int, CorridorRow]:
    """The basket rows of the chosen period: the latest period whose rows carry the fee/FX split (RPW
    reports those separately; a total alone cannot be decomposed), preferring periods with both baskets."""
    by_period: dict[str, dict[int, CorridorRow]] = {}
    for row in data.corridors:
        if row.corridor == corridor and row.firm_class == firm_class and row.fee_pct is not None:
            assert row.basket_usd is not None
            by_period.setdefault(row.period, {})[row.basket_usd] = row
    if period is not None:
        return by_period.get(period, {})
    if not by_period:
        return {}
    # "2025_3Q" sorts after "2025_1Q": the period labels order chronologically as strings.
    return max(by_period.items(), key=lambda item: (len(item[1]), item[0]))[1]


def fee_usd(points: dict[int, CorridorRow], amount: Decimal) -> Decimal:
    """Sending fee in USD at ``amount`` from the basket fee percentages (see the module docstring)."""
    low = points.get(RPW_BASKETS_USD[0])
    high = points.get(RPW_BASKETS_USD[1])
    if low is None or high is None:
        only = low or high
        assert only is not None and only.fee_pct is not None and only.basket_usd is not None
        return only.fee_pct * Decimal(only.basket_usd) / HUNDRED  # one basket: a flat USD fee
    assert low.fee_pct is not None and high.fee_pct is not None
    return basket_fee_usd(low.fee_pct * BASKET_LOW_USD / HUNDRED, high.fee_pct * BASKET_HIGH_USD / HUNDRED, amount)


def basket_fee_usd(fee_low_usd: Decimal, fee_high_usd: Decimal, amount: Decimal) -> Decimal:
    """The fee at ``amount`` from the USD fees at the two baskets: linear between them; outside them a rising
    fee keeps its slope (floored at zero), a falling one is held flat. Corridor averages and single services
    (the corridor lab's RPW service lines) are priced by this one rule."""
    slope = (fee_high_usd - fee_low_usd) / (BASKET_HIGH_USD - BASKET_LOW_USD)
    if amount < BASKET_LOW_USD:
        return max(fee_low_usd - max(slope, Decimal(0)) * (BASKET_LOW_USD - amount), Decimal(0))
    if amount > BASKET_HIGH_USD:
        return fee_high_usd + max(slope, Decimal(0)) * (amount - BASKET_HIGH_USD)
    return fee_low_usd + slope * (amount - BASKET_LOW_USD)


def fx_pct(points: dict[int, CorridorRow], amount: Decimal) -> Decimal:
    """FX margin in percent: linear between the baskets, held constant outside them."""
    low = points.get(RPW_BASKETS_USD[0])
    high = points.get(RPW_BASKETS_USD[1])
    if low is None or high is None:
        only = low or high
        assert only is not None and only.fx_margin_pct is not None
        return only.fx_margin_pct
    assert low.fx_margin_pct is not None and high.fx_margin_pct is not None
    return basket_fx_pct(low.fx_margin_pct, high.fx_margin_pct, amount)


def basket_fx_pct(fx_low_pct: Decimal, fx_high_pct: Decimal, amount: Decimal) -> Decimal:
    """The FX margin (%) at ``amount`` from its values at the two baskets: linear between, held outside."""
    clamped = min(max(amount, BASKET_LOW_USD), BASKET_HIGH_USD)
    share = (clamped - BASKET_LOW_USD) / (BASKET_HIGH_USD - BASKET_LOW_USD)
    return fx_low_pct + (fx_high_pct - fx_low_pct) * share


class RpwPricer(Pricer):
    def __init__(self, data: Datasets, corridor: str, channel: Channel, period: str | None) -> None:
        firm_class = RPW_CHANNEL_CLASSES[channel.key]
        points = rpw_rows(data, corridor, firm_class, period)
        if not points:
            raise KeyError(f"no RPW {firm_class} data for {corridor}")
        rows = list(points.values())
        chosen = rows[0].period
        notes = ["RPW measures fee + FX margin only; receiver-side fees are not captured (PRI mandates them zero)."]
        if len(points) == 1:
            notes.append("Only one RPW basket: fee held flat in USD and FX margin in percent.")
        newer = [r for r in data.corridors if r.corridor == corridor and r.firm_class == firm_class and r.period > chosen]
        if newer:
            notes.append(
                f"Newer RPW total without fee/FX split: {newer[0].period} {newer[0].total_cost_pct}% at "
                f"${newer[0].send_amount_usd}; model uses {chosen}."
            )
        super().__init__(
            corridor,
            channel,
            chosen,
            [corridor_ref(r, "fee and FX margin") for r in rows],
            notes,
            None,
            "not in the cited data (the RPW per-quote export omits RPW's speed column)",
            True,
        )
        self.points = points
        self.rebate, self.rebate_min, rebate_refs = rebate_usd(data)
        self.fee_free = {b: _fee_free_share(data, corridor, b) for b in RPW_BASKETS_USD}
        self.subsidy_inputs = (*rebate_refs, corridor_ref(pri_row(data), "PRI TT-charges rebate, fee-free only"))

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        raw = zero_components()
        raw["sending_fee"] = fee_usd(self.points, amount)
        raw["fx_margin"] = fx_pct(self.points, amount) * amount / HUNDRED
        return raw, Decimal(0)

    def subsidy(self, amount: Decimal) -> Decimal:
        if amount < self.rebate_min:
            return Decimal(0)
        return self.rebate * self.fee_free[services.nearest_basket(amount)]


def _fee_free_share(data: Datasets, corridor: str, basket: int) -> Decimal:
    found = services.tier(data, corridor, basket)
    return found.fee_free_share if found else Decimal(0)


class CompositePricer(Pricer):
    """Equal-weight mean of member corridors (each member's components rounded first, as reported)."""

    def __init__(self, corridor: str, members: list[Pricer]) -> None:
        names = ", ".join(m.corridor for m in members)
        inputs = [ref for m in members for ref in m.inputs]
        inputs.append(
            InputRef(
                FLOWS_CSV,
                f"{corridor}: equal weights over {names}",
                "SBP's FY2025 per-country split is not in the data",
                "DERIVED",
                "flows_pakistan.csv reports other GCC as one figure",
                "FY2025",
            )
        )
        first = members[0]
        super().__init__(
            corridor,
            first.channel,
            "/".join(sorted({m.period for m in members})),
            inputs,
            [f"Equal-weight mean of {names} (SBP's per-country split is not in the data)."]
            + [n for m in members for n in m.notes],
            first.time_range,
            first.time_basis,
            first.pri_eligible,
        )
        self.members = members
        self.subsidy_inputs = tuple(dict.fromkeys(ref for m in members for ref in m.subsidy_inputs))

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        n = Decimal(len(self.members))
        parts = [m.components(amount) for m in self.members]
        return {name: sum((p[name] for p in parts), Decimal(0)) / n for name in parts[0]}, Decimal(0)

    def subsidy(self, amount: Decimal) -> Decimal:
        return sum((usd(m.subsidy(amount)) for m in self.members), Decimal(0)) / Decimal(len(self.members))


class RaastPricer(Pricer):
    """The domestic PKR leg alone: free to individuals, credited within 20 s of Raast's credit advice."""

    def __init__(self, data: Datasets, corridor: str, channel: Channel) -> None:
        row = raast_row(data)
        seconds, seconds_ref = param_value(data, "raast_credit_seconds")
        super().__init__(
            corridor,
            channel,
            row.period,
            [corridor_ref(row, "RAAST P2P fee"), seconds_ref],
            ["Domestic PKR leg only: add a cross-border leg to compare with the other channels."],
            (seconds, seconds),
            "credit within 20 s of Raast's credit advice (SBP rule)",
            False,
        )
        self.fee_pct = row.fee_pct or Decimal(0)

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        raw = zero_components()
        raw["receiving_fee"] = self.fee_pct * amount / HUNDRED
        return raw, Decimal(0)


def rpw_channels(data: Datasets, corridor: str) -> list[Channel]:
    members = COMPOSITE_CORRIDORS.get(corridor, (corridor,))
    return [
        Channel(key, RPW_CHANNEL_LABELS[key], FAMILY_RPW)
        for key, firm_class in RPW_CHANNEL_CLASSES.items()
        if all(rpw_rows(data, m, firm_class, None) for m in members)
    ]


def rpw_pricer(data: Datasets, corridor: str, channel: Channel, period: str | None) -> Pricer:
    members = COMPOSITE_CORRIDORS.get(corridor)
    if members is None:
        return RpwPricer(data, corridor, channel, period)
    return CompositePricer(corridor, [RpwPricer(data, m, channel, period) for m in members])


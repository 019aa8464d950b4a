"""Sensitivity: cost against ticket size, and each chain's fee range (tables written as CSV files)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from analytics.datasets import Datasets
from analytics.pricing import routes
from analytics.pricing.channels import channels_for, cost
from analytics.pricing.core import DEFAULT_ASSUMPTIONS, Assumptions, Channel
from analytics.pricing.provenance import HUNDRED, pct, ramp, ramp_value

SWEEP_AMOUNTS_USD = (50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000)
# The channels the ticket sweep follows: the RPW reference points and the routes that span the range
# (the dominant USDT chain, the cheapest exchange withdrawal, the dearest chain, BNB Chain).
SWEEP_CHANNEL_KEYS = (
    "rpw_average",
    "bank",
    "mto",
    "stablecoin:Tron:bank",
    "stablecoin:Polygon PoS:bank",
    "stablecoin:Ethereum L1:bank",
    "stablecoin:BNB Smart Chain:bank",
)


class SweepPoint(msgspec.Struct, frozen=True):
    corridor: str
    channel_key: str
    channel_label: str
    x: Decimal  # the swept input: the amount in USD
    total_usd: Decimal
    total_pct: Decimal


def sweep_channels(data: Datasets, corridor: str, keys: Sequence[str] = SWEEP_CHANNEL_KEYS) -> list[Channel]:
    available = {ch.key: ch for ch in channels_for(data, corridor)}
    return [available[k] for k in keys if k in available]


def ticket_sweep(
    data: Datasets,
    corridor: str,
    amounts: Sequence[int | Decimal] = SWEEP_AMOUNTS_USD,
    keys: Sequence[str] = SWEEP_CHANNEL_KEYS,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
) -> list[SweepPoint]:
    points = []
    for channel in sweep_channels(data, corridor, keys):
        for amount in amounts:
            r = cost(data, corridor, channel, amount, assume)
            points.append(SweepPoint(corridor, channel.key, channel.label, r.amount_usd, r.total_usd, r.total_pct))
    return points


class ChainFeeLine(msgspec.Struct, frozen=True):
    corridor: str
    chain: str
    asset: str
    network_fee_usd_low: Decimal
    network_fee_usd_typical: Decimal
    network_fee_usd_high: Decimal
    network_fee_pct_typical: Decimal  # of the amount
    finality_seconds: Decimal
    withdrawal_venue: str
    withdrawal_fee_usd_low: Decimal | None
    withdrawal_fee_usd_high: Decimal | None
    route_pct_low: Decimal | None  # the corridor's route on this chain, every fee at its low end
    route_pct_high: Decimal | None
    status: str
    date: str


def chain_fee_range(data: Datasets, corridor: str, amount_usd: Decimal | int) -> list[ChainFeeLine]:
    """Every chain row (variants included) at its low and high fee, and the corridor's route on it."""
    amount = Decimal(str(amount_usd))
    priced = {ch.chain: ch for ch in routes.route_channels(data, corridor)}
    lines = []
    for row in data.chains:
        venue = routes.WITHDRAWAL_VENUE.get(row.chain)
        w_low = w_high = low = high = None
        if venue is not None:
            withdrawal = ramp(data, "CEX withdrawal fee USDT", venue[0])
            w_low, w_high = ramp_value(withdrawal, "low"), ramp_value(withdrawal, "high")
        channel = priced.get(row.chain)
        if channel is not None:
            low = cost(data, corridor, channel, amount, Assumptions.at("low")).total_pct
            high = cost(data, corridor, channel, amount, Assumptions.at("high")).total_pct
        lines.append(
            ChainFeeLine(
                corridor=corridor,
                chain=row.chain,
                asset=row.asset,
                network_fee_usd_low=row.network_fee_usd_low,
                network_fee_usd_typical=row.network_fee_usd_typical,
                network_fee_usd_high=row.network_fee_usd_high,
                network_fee_pct_typical=pct(row.network_fee_usd_typical / amount * HUNDRED),
                finality_seconds=row.finality_seconds,
                withdrawal_venue=(venue[0] + (" (PROXY)" if venue[1] else "")) if venue else "no row",
                withdrawal_fee_usd_low=w_low,
                withdrawal_fee_usd_high=w_high,
                route_pct_low=low,
                route_pct_high=high,
                status=row.status,
                date=row.date,
            )
        )
    return lines

"""Which channels the data can price for a corridor, and the one entry point that prices any of them."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from analytics.datasets import Datasets
from analytics.pricing import routes, rpw
from analytics.pricing.core import (
    DEFAULT_ASSUMPTIONS,
    FAMILY_RAAST,
    FAMILY_STABLECOIN,
    Assumptions,
    Channel,
    CostBreakdown,
    Pricer,
    check_amount,
)

RAAST_CHANNEL = Channel("raast_domestic", "RAAST domestic leg only (not cross-border)", FAMILY_RAAST)


def available_corridors(data: Datasets) -> list[str]:
    """Corridors the model can price over RPW channels (RPW series plus composites of them)."""
    direct = rpw.rpw_corridors(data)
    composites = [c for c, members in rpw.COMPOSITE_CORRIDORS.items() if all(m in direct for m in members)]
    return direct + composites


def channels_for(data: Datasets, corridor: str) -> list[Channel]:
    """Every channel the data can price for ``corridor``: RPW ones, the RAAST leg, then stablecoin routes
    (only where a licensed on-ramp is documented). An unknown corridor has the RAAST leg only."""
    return [*rpw.rpw_channels(data, corridor), RAAST_CHANNEL, *routes.route_channels(data, corridor)]


def channel_by_key(data: Datasets, corridor: str, key: str) -> Channel:
    for channel in channels_for(data, corridor):
        if channel.key == key:
            return channel
    raise KeyError(f"channel {key!r} is not available for {corridor}")


def pricer(
    data: Datasets,
    corridor: str,
    channel: Channel | str,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
    period: str | None = None,
) -> Pricer:
    """Resolve the data for one corridor and channel. Raises KeyError when the data has no figure for it."""
    if isinstance(channel, str):
        channel = channel_by_key(data, corridor, channel)
    if channel.family == FAMILY_STABLECOIN:
        return routes.StablecoinPricer(data, corridor, channel, assume)
    if channel.family == FAMILY_RAAST:
        return rpw.RaastPricer(data, corridor, channel)
    return rpw.rpw_pricer(data, corridor, channel, period)


def cost(
    data: Datasets,
    corridor: str,
    channel: Channel | str,
    amount_usd: Decimal | int | str,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
    period: str | None = None,
) -> CostBreakdown:
    """The cost of sending ``amount_usd`` over ``channel`` in ``corridor``. Raises KeyError when the data
    has no figure for that corridor and channel, ValueError for an amount outside the model's range."""
    amount = check_amount(amount_usd)
    return pricer(data, corridor, channel, assume, period).breakdown(amount)


def compare(
    data: Datasets, corridor: str, amount_usd: Decimal | int | str, assume: Assumptions = DEFAULT_ASSUMPTIONS
) -> list[CostBreakdown]:
    """Every available channel for the corridor at one amount."""
    return [cost(data, corridor, ch, amount_usd, assume) for ch in channels_for(data, corridor)]


def cheapest(results: Iterable[CostBreakdown], family: str | None = None) -> CostBreakdown | None:
    pool = [
        r for r in results if r.channel.family != FAMILY_RAAST and (family is None or r.channel.family == family)
    ]
    return min(pool, key=lambda r: r.total_usd) if pool else None

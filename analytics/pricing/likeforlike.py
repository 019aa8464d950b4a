"""Like for like: for one corridor and amount, the best formal service against the best stablecoin route,
and the typical (median) against the typical, with the number of services or routes behind each figure.

Fairness rules (docs/analytics.md):

* same sending side: the like-for-like formal pool is RPW's digital services (paid from an account, a
  card or a wallet, started online), the sending side of a stablecoin route funded by a bank transfer; a
  corridor without a digital service falls back to all services and says so. The cheapest of all
  services (agents and cash included) is shown beside it;
* best vs best: the cheapest digital service against the cheapest route with every fee at the low end
  of its range; typical vs typical: the median service against the median route at mid-range fees;
* no P2P premium (a named scenario, ``analytics.pricing.premium``);
* a published total below zero (a provider's rate better than the World Bank's reference rate) is shown
  as 0 with its rate advantage beside it: a remittance does not pay its sender; averages and medians use
  the published values unchanged.

RPW prices only its two baskets, so the formal tiers exist at USD 200 and USD 500 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from analytics.datasets import RPW_BASKETS_USD, Datasets
from analytics.pricing import routes, services
from analytics.pricing.channels import cost
from analytics.pricing.core import Assumptions, CostBreakdown
from analytics.pricing.provenance import flags_of, median, pct


class RouteTier(msgspec.Struct, frozen=True):
    """The stablecoin routes of one corridor at one amount."""

    n_routes: int
    best_pct: Decimal  # cheapest route, every fee at the low end of its range
    best_chain: str
    typical_pct: Decimal  # median route at mid-range fees
    time_low_s: Decimal  # fastest step-by-step time over the routes
    time_high_s: Decimal  # slowest
    venue: str
    flags: tuple[str, ...]


class FormalTier(msgspec.Struct, frozen=True):
    """A pool of formal services at one basket, as the comparison shows it."""

    pool: str
    n_services: int
    best_pct: Decimal  # the cheapest service, shown never below 0
    best_rate_advantage_pct: Decimal  # how far its published total was below 0 (its rate beat the reference)
    best_service: str
    typical_pct: Decimal  # the median service, as published
    mean_pct: Decimal  # the pool's simple mean (for pool 'all': RPW's corridor average)


def formal_tier(found: services.Tier | None) -> FormalTier | None:
    if found is None:
        return None
    return FormalTier(
        pool=found.pool,
        n_services=found.n_services,
        best_pct=max(found.min_pct, Decimal(0)),
        best_rate_advantage_pct=max(-found.min_pct, Decimal(0)),
        best_service=found.cheapest_service,
        typical_pct=found.median_pct,
        mean_pct=found.mean_pct,
    )


class Comparison(msgspec.Struct, frozen=True):
    corridor: str
    amount_usd: Decimal
    digital: FormalTier | None  # None off the baskets, or where RPW has no digital service (Oman)
    every: FormalTier | None  # all services (None off the baskets)
    route: RouteTier | None
    no_route_reason: str  # why no stablecoin route is priced, from onramps.csv

    @property
    def formal(self) -> FormalTier | None:
        """The like-for-like pool: digital services where RPW has them, else all services."""
        return self.digital or self.every

    @property
    def best_gap_pp(self) -> Decimal | None:
        """Stablecoin best minus formal best, in percentage points (positive: the formal service is cheaper)."""
        if self.route is None or self.formal is None:
            return None
        return self.route.best_pct - self.formal.best_pct

    @property
    def typical_gap_pp(self) -> Decimal | None:
        if self.route is None or self.formal is None:
            return None
        return self.route.typical_pct - self.formal.typical_pct


def route_results(data: Datasets, corridor: str, amount: Decimal, level: str) -> list[CostBreakdown]:
    assume = Assumptions.at(level)
    return [cost(data, corridor, ch, amount, assume) for ch in routes.route_channels(data, corridor)]


def route_tier(data: Datasets, corridor: str, amount: Decimal) -> RouteTier | None:
    best = route_results(data, corridor, amount, "low")
    typical = route_results(data, corridor, amount, "typical")
    if not best:
        return None
    cheapest = min(best, key=lambda r: r.total_usd)
    ramp_row = routes.onramp_for(data, corridor)
    assert ramp_row is not None
    lows = [r.time_low_s for r in typical if r.time_low_s is not None]
    highs = [r.time_high_s for r in typical if r.time_high_s is not None]
    return RouteTier(
        n_routes=len(best),
        best_pct=cheapest.total_pct,
        best_chain=cheapest.channel.chain or "",
        typical_pct=pct(median([r.total_pct for r in typical])),
        time_low_s=min(lows),
        time_high_s=max(highs),
        venue=ramp_row.venue,
        flags=flags_of(ref for r in best + typical for ref in r.inputs),
    )


def no_route_reason(data: Datasets, corridor: str) -> str:
    row = routes.onramp_for(data, corridor)
    if row is None:
        return "no on-ramp row in onramps.csv"
    if row.is_licensed:
        return ""
    return row.licence or row.notes


def compare_like_for_like(data: Datasets, corridor: str, amount_usd: Decimal | int) -> Comparison:
    amount = Decimal(str(amount_usd))
    basket = int(amount) if amount in {Decimal(b) for b in RPW_BASKETS_USD} else None
    return Comparison(
        corridor=corridor,
        amount_usd=amount,
        digital=formal_tier(services.tier(data, corridor, basket, "digital")) if basket else None,
        every=formal_tier(services.tier(data, corridor, basket, "all")) if basket else None,
        route=route_tier(data, corridor, amount),
        no_route_reason=no_route_reason(data, corridor),
    )


def compare_all(data: Datasets, corridors: Sequence[str], amounts: Sequence[Decimal]) -> list[Comparison]:
    return [compare_like_for_like(data, c, a) for c in corridors for a in amounts]

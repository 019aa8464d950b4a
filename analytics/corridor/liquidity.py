"""The liquidity an instant route needs: a desk that pays out before it is paid.

The instant link's FX provider pays rupees through RAAST seconds after the sender's payment, but converts the
foreign currency it received into rupees only in the inter-bank market; the stablecoin on-ramp sells USDT
before it buys more; the exchange off-ramp pays rupees before it sells the USDT it received. Each refills once
per working day of its country (corridor_lab.csv desk_rebalance_hour, an ASSUMPTION), buying back what it paid
out since the last refill. Its prefunding (or inventory) is the peak of cumulative outflow minus refills over
the run, in simulated time; a weekend, with no refill, is what sets it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from analytics.corridor.clock import BusinessCalendar
from analytics.corridor.model import LiquidityUse, RouteResult
from analytics.corridor.params import LabData
from analytics.datasets import FLOWS_CSV
from analytics.pricing.flows import fy2025_flow_groups
from analytics.pricing.provenance import InputRef
from analytics.pricing.rpw import COMPOSITE_CORRIDORS

DAY_S = 86_400.0
DAYS_A_YEAR = Decimal(365)
# Prefunding scales with volume: shown for a link carrying this share of its corridors' FY2025 flows.
ILLUSTRATIVE_SHARE = Decimal("0.10")


class DeskFigure(msgspec.Struct, frozen=True):
    desk: str
    currency: str
    routes: list[str]
    payments: int
    paid_out: Decimal
    peak: Decimal  # the prefunding (PKR) or inventory (USDT) the run needed
    peak_at: str  # when, in simulated time (ISO 8601)
    refills: int
    mean_daily_outflow: Decimal
    days_of_outflow: Decimal  # peak / mean daily outflow: what scales with volume
    corridors: list[str]
    fy2025_flow_usd: Decimal | None  # SBP FY2025 flows of the corridors it served (DERIVED for GCC members)
    need_at_share_usd: Decimal | None  # days_of_outflow x daily flow x ILLUSTRATIVE_SHARE (DERIVED)


def refill_moments(calendar: BusinessCalendar, hour: float, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every working day's refill moment between start and end."""
    out = []
    day = calendar.at_hour(start, 0)
    while day <= end:
        if calendar.is_working_day(day):
            moment = day + dt.timedelta(hours=hour)
            if start <= moment <= end:
                out.append(moment)
        day = calendar.at_hour(day + dt.timedelta(hours=36), 0)  # next local day, whatever the offset
    return out


def peak_need(uses: list[LiquidityUse], refills: list[dt.datetime]) -> tuple[Decimal, dt.datetime | None]:
    """The peak of cumulative outflow minus refills; a refill buys back everything paid out before it."""
    events = sorted([(u.at, 1, u.amount) for u in uses] + [(r, 0, Decimal(0)) for r in refills])
    position = peak = Decimal(0)
    peak_at = None
    for _at, kind, amount in events:
        if kind == 0:
            position = Decimal(0)
            continue
        position += amount
        if position > peak:
            peak, peak_at = position, _at
    return peak, peak_at


def annual_flow_usd(lab: LabData, corridors: Iterable[str]) -> Decimal | None:
    """SBP's FY2025 flows from these corridors; a member of "other GCC" gets an equal share of it (SBP's split
    is not in the data). None when a corridor has no SBP figure (the hypothetical Uzbekistan corridor)."""
    groups = {g.corridor: g for g in fy2025_flow_groups(lab.data) if g.corridor}
    total = Decimal(0)
    for corridor in corridors:
        composite = next((c for c, members in COMPOSITE_CORRIDORS.items() if corridor in members), None)
        group = groups.get(corridor) or groups.get(composite or "")
        if group is None:
            return None
        lab.note(InputRef(FLOWS_CSV, f"FY2025: {group.series}", f"USD {group.flow_usd / 10**9} bn", group.status,
                          group.source, group.date))
        share = len(COMPOSITE_CORRIDORS[composite]) if group.corridor == composite else 1
        total += group.flow_usd / share
    return total


def desk_figures(lab: LabData, results: Iterable[RouteResult], start: dt.datetime, days: float) -> list[DeskFigure]:
    by_desk: dict[str, list[LiquidityUse]] = defaultdict(list)
    routes: dict[str, set[str]] = defaultdict(set)
    corridors: dict[str, set[str]] = defaultdict(set)
    for result in results:
        for use in result.liquidity:
            by_desk[use.desk].append(use)
            routes[use.desk].add(result.route)
            corridors[use.desk].add(result.corridor)
    hour = lab.param("desk_rebalance_hour").value
    end = max((u.at for uses in by_desk.values() for u in uses), default=start)
    run_days = Decimal(str(max(days, (end - start).total_seconds() / DAY_S)))
    return [
        _figure(lab, desk, uses, refill_moments(lab.calendar(uses[0].calendar), hour, start, end), run_days,
                sorted(routes[desk]), sorted(corridors[desk]))
        for desk, uses in sorted(by_desk.items())
    ]


def _figure(lab: LabData, desk: str, uses: list[LiquidityUse], refills: list[dt.datetime], run_days: Decimal,
            routes: list[str], corridors: list[str]) -> DeskFigure:
    cent = Decimal("0.01")
    peak, peak_at = peak_need(uses, refills)
    paid = sum((u.amount for u in uses), Decimal(0))
    daily = paid / run_days
    days_out = peak / daily if daily else Decimal(0)
    flow = annual_flow_usd(lab, corridors)
    at_share = None if flow is None else (days_out * flow / DAYS_A_YEAR * ILLUSTRATIVE_SHARE).quantize(Decimal(1))
    return DeskFigure(
        desk, uses[0].currency, routes, len(uses), paid.quantize(cent), peak.quantize(cent),
        peak_at.isoformat() if peak_at else "", len(refills), daily.quantize(cent), days_out.quantize(cent),
        corridors, flow, at_share,
    )

"""The P2P premium, as a named scenario: never in the headline or the default charts.

A recipient who sells USDT on a P2P market in Pakistan may get more rupees than the inter-bank rate. The
scenario answers three questions from cited data:

* **How big is the gap?** The dated inter-bank vs open-market rates and the IMF's 1.25% cap on their gap
  (fx_pakistan.csv), and the one USDT/PKR P2P figure in the data (a single low-quality blog, UNVERIFIED).
* **How big would it have to be?** The break-even premium per corridor: the premium at which the best
  (and the typical) stablecoin route costs as much as the best (typical) formal digital service.
* **How far does it go?** The premium is paid by whoever buys the USDT for rupees (importers, savers,
  people moving money out): a transfer from them to the recipient, not a saving in the cost of moving
  money. It exists only while buyers outbid the inter-bank rate, so the volume that can earn it is capped
  by the depth of that informal market (the >USD 6bn a year of hawala/hundi flows stands in for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from analytics.datasets import FX_CSV, DataError, Datasets
from analytics.pricing import routes
from analytics.pricing.flows import fy2025_flow_groups
from analytics.pricing.likeforlike import Comparison
from analytics.pricing.provenance import HUNDRED, InputRef, param_value, pct

WHO_BEARS_IT = (
    "Who bears it: the premium is paid by the rupee holders who buy the USDT (importers, savers, people "
    "moving money abroad), so it is a transfer from them to the recipient, not a lower cost of moving "
    "money; the dollars bypass the inter-bank market and SBP's reserves; the recipient carries the legal "
    "risk (banks may not process virtual-asset transactions, SBP BPRD Circular 03 of 2018) and the risk of "
    "a frozen account; and flows leaving formal channels stop earning the PRI rebate."
)


class EvidencePoint(msgspec.Struct, frozen=True):
    label: str
    premium_pct: Decimal  # over inter-bank
    date: str
    status: str
    source: str


def _fx(data: Datasets, series: str) -> InputRef:
    for row in data.fx_points:
        if row.series == series:
            return InputRef(FX_CSV, series, f"{row.value} {row.unit}", row.status, row.source, row.date)
    raise DataError(f"{FX_CSV}: no row for series {series!r}")


def _gap(high: InputRef, low: InputRef) -> Decimal:
    value = lambda ref: Decimal(ref.value.split()[0])  # noqa: E731 - "282.60 PKR per USD" -> 282.60
    return pct((value(high) / value(low) - 1) * HUNDRED)


def evidence(data: Datasets) -> list[EvidencePoint]:
    """What the data says about the premium, most reliable first."""
    interbank = _fx(data, "interbank_usd_pkr")
    open_market = _fx(data, "open_market_usd_pkr")
    cap = _fx(data, "imf_premium_cap_pct")
    official = _fx(data, "official_usd_pkr_per_blog")
    p2p_low, p2p_high = _fx(data, "usdt_p2p_pkr_low"), _fx(data, "usdt_p2p_pkr_high")
    return [
        EvidencePoint(
            "Open market (ECAP) over inter-bank (SBP)", _gap(open_market, interbank), open_market.date,
            open_market.status, open_market.source,
        ),
        EvidencePoint("IMF programme cap on that gap", Decimal(cap.value.split()[0]), cap.date, cap.status, cap.source),
        EvidencePoint("USDT/PKR on P2P, low end of a blog's range", _gap(p2p_low, official), p2p_low.date, p2p_low.status, p2p_low.source),
        EvidencePoint("USDT/PKR on P2P, high end", _gap(p2p_high, official), p2p_high.date, p2p_high.status, p2p_high.source),
    ]


class BreakEven(msgspec.Struct, frozen=True):
    corridor: str
    amount_usd: Decimal
    best_pp: Decimal  # premium at which the best route matches the best formal digital service
    typical_pp: Decimal
    formal_best_pct: Decimal
    route_best_pct: Decimal
    formal_typical_pct: Decimal
    route_typical_pct: Decimal
    n_services: int
    n_routes: int


def break_even(comparisons: Sequence[Comparison]) -> list[BreakEven]:
    """Per corridor with both a formal pool and a licensed route. A premium is a percentage of the amount,
    so matching costs means premium = route cost - formal cost, in percentage points."""
    out = []
    for c in comparisons:
        formal = c.formal
        if c.route is None or formal is None:
            continue
        out.append(
            BreakEven(
                corridor=c.corridor,
                amount_usd=c.amount_usd,
                best_pp=pct(c.route.best_pct - formal.best_pct),
                typical_pp=pct(c.route.typical_pct - formal.typical_pct),
                formal_best_pct=formal.best_pct,
                route_best_pct=c.route.best_pct,
                formal_typical_pct=formal.typical_pct,
                route_typical_pct=c.route.typical_pct,
                n_services=formal.n_services,
                n_routes=c.route.n_routes,
            )
        )
    return out


class DepthLine(msgspec.Struct, frozen=True):
    """What recipients would gain at one premium if ``shift_share`` of the flows with a route moved to P2P."""

    label: str
    premium_pct: Decimal
    status: str
    shifted_usd: Decimal
    earning_usd: Decimal  # the part of the shifted flow the informal market can absorb at that premium
    transfer_usd: Decimal  # premium x earning: paid by the USDT buyers, received by the recipients


def depth_cap(
    data: Datasets, points: Sequence[EvidencePoint], shift_share: Decimal
) -> tuple[list[DepthLine], Decimal, Decimal, InputRef]:
    """(lines, flows of corridors with a licensed route, the depth cap in USD, its source)."""
    if not Decimal(0) <= shift_share <= Decimal(1):
        raise ValueError(f"shift share {shift_share} is outside 0..1")
    depth_bn, depth_ref = param_value(data, "informal_flows_usd_bn")
    depth = depth_bn * Decimal(1_000_000_000)
    with_route = sum(
        (g.flow_usd for g in fy2025_flow_groups(data) if g.corridor and routes.route_channels(data, g.corridor)),
        Decimal(0),
    )
    shifted = with_route * shift_share
    earning = min(shifted, depth)
    lines = [
        DepthLine(p.label, p.premium_pct, p.status, shifted, earning, earning * p.premium_pct / HUNDRED)
        for p in points
    ]
    return lines, with_route, depth, depth_ref

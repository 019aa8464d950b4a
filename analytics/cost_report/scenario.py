"""Section: the P2P premium scenario, set apart from the default figures."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from analytics.cost_report.common import ROUTE_COLOUR, ROUTE_TYPICAL_COLOUR, bn, columns, money_m, short_corridor
from analytics.datasets import Datasets
from analytics.htmlkit import Figure, Section, Table, charts
from analytics.pricing import premium
from analytics.pricing.likeforlike import Comparison
from analytics.pricing.provenance import status_flags

SCENARIO_STATUS = "SCENARIO INPUT (--p2p-premium)"


def scenario_section(
    data: Datasets, comparisons: Sequence[Comparison], shift_share: Decimal, premium_pct: Decimal | None
) -> Section:
    points = premium.evidence(data)
    if premium_pct is not None:
        points.append(premium.EvidencePoint("Premium asked for on the command line", premium_pct, "", SCENARIO_STATUS, "user"))
    breaks = premium.break_even(comparisons)
    lines, with_route, depth, depth_ref = premium.depth_cap(data, points, shift_share)
    section = Section(
        "Scenario: a P2P USDT/PKR premium",
        [
            "A named scenario, kept out of every figure above: selling USDT on a P2P market in Pakistan may pay "
            "more rupees than the inter-bank rate. The evidence in the data is thin: the gap between the open "
            "market and inter-bank was 0.56% on 2025-10-24, Pakistan committed to the IMF to keep it under 1.25%, "
            "and the one P2P figure (2.2-5.7% over an official 279) comes from a single blog (UNVERIFIED).",
            "Break-even: the premium, in percentage points of the amount, at which a stablecoin route costs as much "
            "as the formal digital service of the same tier. Zero or below: the route is already cheaper without "
            "any premium, so the premium is not what makes it attractive.",
            f"Depth: moving {shift_share * 100}% of the USD {bn(with_route)} bn of FY2025 flows from corridors with "
            f"a licensed on-ramp would put USD {bn(with_route * shift_share)} bn through the P2P market. The premium "
            f"exists only while rupee holders outbid the inter-bank rate; the informal market's size (USD "
            f"{bn(depth)} bn a year, {depth_ref.status}) caps the volume that can earn it. Other GCC flows are "
            "left out: only Bahrain has a licensed on-ramp and SBP's per-country split is not in the data.",
            premium.WHO_BEARS_IT,
        ],
        id="scenario-p2p-premium",
        scenario=True,
    )
    section.tables += scenario_tables(points, breaks, lines, shift_share, depth_ref.source)
    section.figures.append(break_even_figure(points, breaks))
    return section


def scenario_tables(
    points: Sequence[premium.EvidencePoint],
    breaks: Sequence[premium.BreakEven],
    lines: Sequence[premium.DepthLine],
    shift_share: Decimal,
    depth_source: str,
) -> list[Table]:
    return [
        Table(
            "premium_evidence",
            "The premium: what the data says",
            columns(("label", "What"), ("premium_pct", "Over inter-bank (%)"), ("date", "Date"), ("status", "Status"), ("source", "Source")),
            [msgspec.structs.asdict(p) for p in points],
            "fx_pakistan.csv (dated rates and the IMF cap, cited per row)",
        ),
        Table(
            "premium_break_even",
            "Break-even premium per corridor (percentage points)",
            columns(
                ("corridor", "Corridor"), ("amount_usd", "USD"), ("formal_best_pct", "Formal best %"),
                ("route_best_pct", "Route best %"), ("best_pp", "Break-even, best (pp)"),
                ("formal_typical_pct", "Formal typical %"), ("route_typical_pct", "Route typical %"),
                ("typical_pp", "Break-even, typical (pp)"), ("n_services", "n services"), ("n_routes", "n routes"),
            ),
            [msgspec.structs.asdict(b) for b in breaks],
            "the like-for-like table above",
        ),
        Table(
            "premium_depth",
            f"What recipients would gain if {shift_share * 100}% of those flows moved to P2P, capped by market depth",
            columns(("label", "Premium"), ("premium_pct", "%"), ("status", "Status"), ("shifted_usd_bn", "Shifted (USD bn)"),
                    ("earning_usd_bn", "Can earn it (USD bn)"), ("transfer_usd_m", "Transfer from rupee buyers (USD m)")),
            [
                {
                    "label": ln.label, "premium_pct": ln.premium_pct, "status": ln.status, "shifted_usd_bn": bn(ln.shifted_usd),
                    "earning_usd_bn": bn(ln.earning_usd), "transfer_usd_m": money_m(ln.transfer_usd),
                }
                for ln in lines
            ],
            f"flows_pakistan.csv; onramps.csv; parameters.csv informal_flows_usd_bn ({depth_source})",
        ),
    ]


def break_even_figure(points: Sequence[premium.EvidencePoint], breaks: Sequence[premium.BreakEven]) -> Figure:
    amount = min((b.amount_usd for b in breaks), default=Decimal(200))
    groups = [
        charts.Group(short_corridor(b.corridor), [float(b.best_pp), float(b.typical_pp)], [f"n={b.n_services}/{b.n_routes}", ""])
        for b in breaks
        if b.amount_usd == amount
    ]
    short = ("open-market gap", "IMF cap", "P2P blog, low end")
    evidence_lines = [(float(p.premium_pct), f"{name} {p.premium_pct}%") for name, p in zip(short, points)]
    return Figure(
        f"Break-even P2P premium per corridor at USD {amount}, against the evidence (pp of the amount)",
        charts.grouped_bar_chart(
            f"Premium needed for a stablecoin route to match the formal service, USD {amount} (pp)",
            groups,
            [charts.Segment("Best vs best", ROUTE_COLOUR), charts.Segment("Typical vs typical", ROUTE_TYPICAL_COLOUR)],
            " pp",
            reference_lines=evidence_lines,
        ),
        "like-for-like figures above; fx_pakistan.csv (2023-07 to 2025-10)",
        status_flags(p.status for p in points),
    )
